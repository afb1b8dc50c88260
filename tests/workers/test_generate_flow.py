"""The route and generate steps through real Celery workers (threads in this process) on Redis and
PostgreSQL, against simulated engines with failure injection."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from broker.publish import publish
from broker.queues import GENERATE_TASK, ROUTE_TASK, ROUTER_QUEUE, all_queues
from broker.runtime import Runtime
from broker.worker import start_worker_thread
from coachline.cli.runtime import build
from coachline.db.models import Attempt, Request, Result
from coachline.db.session import session_scope
from coachline.db.types import utcnow
from coachline.domain import RequestStatus
from coachline.settings import Settings
from workers.sim.config import SimConfig
from workers.sim.server import start_in_thread
from tests.support import write_pools_file

SIMPLE = [{"role": "user", "content": "Give me one tip for a calmer morning."}]
COMPLEX = [
    {
        "role": "user",
        "content": (
            "Compare three frameworks for structuring a quarterly strategy review, explain step by step how "
            "to evaluate the trade-offs between them, and why each would or would not fit a 40-person "
            "startup that is scaling its engineering organisation across two time zones? Then outline a "
            "plan, first for the leadership offsite, second for the team leads, and finally for rollout."
        ),
    }
]


class Events:
    """Records completion events, so tests wait on them instead of sleeping."""

    def __init__(self) -> None:
        self.done: dict[str, str] = {}
        self._cond = threading.Condition()

    def publish_done(self, request_id: str, status: str) -> None:
        with self._cond:
            self.done[request_id] = status
            self._cond.notify_all()

    def wait(self, request_id: str, timeout_s: float = 30.0) -> str:
        with self._cond:
            assert self._cond.wait_for(lambda: request_id in self.done, timeout_s), f"{request_id} never finished"
            return self.done[request_id]


@dataclass
class Stack:
    runtime: Runtime
    events: Events
    settings: Settings

    def submit(self, messages: list[dict[str, str]], *, hints: dict[str, object] | None = None,
               publish_route: bool = True, deadline_s: float = 300.0) -> str:
        now = utcnow()
        with session_scope(self.settings.database_url) as session:
            request = Request(
                tenant="t", body_sha256="0" * 64, messages=messages, routing_hints=hints or {},
                max_tokens=16, temperature=None, request_metadata={}, status=RequestStatus.QUEUED.value,
                created_at=now, updated_at=now, deadline_at=now + dt.timedelta(seconds=deadline_s),
            )
            session.add(request)
            session.flush()
            request_id = request.id
        if publish_route:
            publish(self.runtime.app, ROUTE_TASK, [request_id], queue=ROUTER_QUEUE)
        return request_id

    def attempts(self, request_id: str) -> list[Attempt]:
        with Session(sa.create_engine(self.settings.database_url)) as session:
            rows = session.scalars(select_attempts(request_id)).all()
            session.expunge_all()
            return list(rows)

    def request(self, request_id: str) -> tuple[Request, Result | None]:
        with session_scope(self.settings.database_url) as session:
            request = session.get(Request, request_id)
            result = session.get(Result, request_id)
            assert request is not None
            session.expunge_all()
            return request, result


def select_attempts(request_id: str) -> sa.Select[tuple[Attempt]]:
    return sa.select(Attempt).where(Attempt.request_id == request_id).order_by(Attempt.number)


@pytest.fixture
def make_stack(tmp_path: Path, pg_url: str, redis_url: str) -> Iterator[object]:
    with ExitStack() as stack:

        def make(*, fast: list[SimConfig], cloud: SimConfig | None = None, **overrides: object) -> Stack:
            handles = [stack.enter_context(start_in_thread(c)) for c in fast]
            standard = stack.enter_context(start_in_thread(SimConfig.from_profile(
                "fast", model="meta-llama/Llama-3.1-8B-Instruct")))
            cloud_handle = stack.enter_context(start_in_thread(cloud or SimConfig.from_profile(
                "fast", model="gpt-4o-mini")))
            pools = write_pools_file(tmp_path / "pools.yaml", fast_ports=[h.port for h in handles],
                                     standard_ports=[standard.port], cloud_port=cloud_handle.port)
            settings = Settings(
                database_url=pg_url, broker_url=redis_url, pools_file=pools, retry_backoff_s=0.05,
                **overrides,  # type: ignore[arg-type]
            )
            events = Events()
            runtime = build(settings, events=events)
            worker = start_worker_thread(runtime.app, queues=all_queues(settings.pools), concurrency=8,
                                         hostname=f"test-{id(runtime)}@local")
            stack.callback(worker.stop)
            return Stack(runtime, events, settings)

        yield make


def fast(**overrides: object) -> SimConfig:
    return SimConfig.from_profile("fast", model="mistralai/Mistral-7B-Instruct-v0.3", **overrides)


def test_success_stores_result_decision_and_one_attempt(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(fast=[fast()])
    request_id = stack.submit(SIMPLE)
    assert stack.events.wait(request_id) == "succeeded"
    request, result = stack.request(request_id)
    assert request.status == "succeeded" and request.finished_at is not None
    assert result is not None and result.content and result.tokens_out > 0 and result.tokens_in > 0
    assert result.processing_mode == "local" and result.pool == "fast"
    assert result.cost_usd > 0
    assert result.latency_ms >= result.ttft_ms
    assert [a.outcome for a in stack.attempts(request_id)] == ["succeeded"]


def test_transient_errors_retry_on_the_next_engine(make_stack) -> None:  # type: ignore[no-untyped-def]
    # The first engine fails every call; the pool's second engine serves the retry.
    stack = make_stack(fast=[fast(fail_first_n=100, fail_first_kind="500"), fast()])
    request_id = stack.submit(SIMPLE)
    assert stack.events.wait(request_id) == "succeeded"
    attempts = stack.attempts(request_id)
    assert [(a.outcome, a.error_code) for a in attempts] == [("error", "engine_error"), ("succeeded", None)]
    assert attempts[0].engine_url != attempts[1].engine_url


def test_rate_limit_is_retried(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(fast=[fast(fail_first_n=1, fail_first_kind="429", retry_after_s=0.2)])
    request_id = stack.submit(SIMPLE)
    assert stack.events.wait(request_id) == "succeeded"
    attempts = stack.attempts(request_id)
    assert [a.error_code for a in attempts] == ["engine_rate_limited", None]
    # Retry-After was honoured: the second attempt started no sooner than it asked.
    gap_s = (attempts[1].started_at - attempts[0].finished_at).total_seconds()  # type: ignore[operator]
    assert gap_s >= 0.19


def test_gives_up_after_max_attempts(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(fast=[fast(failure_rate=1.0, failure_kinds=("500",))], generate_max_attempts=3)
    request_id = stack.submit(SIMPLE)
    assert stack.events.wait(request_id) == "failed"
    request, result = stack.request(request_id)
    assert request.error_code == "engine_error" and "3 attempts" in (request.error_message or "")
    assert result is None
    assert [a.outcome for a in stack.attempts(request_id)] == ["error"] * 3


def test_permanent_error_fails_at_once(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(fast=[fast(fail_first_n=1, fail_first_kind="context_length")])
    request_id = stack.submit(SIMPLE)
    assert stack.events.wait(request_id) == "failed"
    request, _ = stack.request(request_id)
    assert request.error_code == "context_length_exceeded"
    assert len(stack.attempts(request_id)) == 1


def test_sensitive_requests_stay_local_even_when_complex(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(fast=[fast()])
    public = stack.submit(COMPLEX)
    hinted = stack.submit(COMPLEX, hints={"privacy_level": "sensitive"})
    disclosed = stack.submit([*COMPLEX, {"role": "user", "content": "I was diagnosed with bipolar disorder."}])
    for request_id in (public, hinted, disclosed):
        assert stack.events.wait(request_id) == "succeeded"
    assert stack.request(public)[1].processing_mode == "cloud"  # type: ignore[union-attr]
    for request_id in (hinted, disclosed):
        _, result = stack.request(request_id)
        assert result is not None and result.processing_mode == "local"
        assert {a.processing_mode for a in stack.attempts(request_id)} == {"local"}


def test_a_duplicated_generate_message_stores_one_result(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(fast=[fast(ttft_base_ms=200)])
    request_id = stack.submit(SIMPLE)
    # Wait for routing, then deliver the generate message a second time, as a redelivery would.
    for _ in range(200):
        request, _ = stack.request(request_id)
        if request.status in ("routing", "running"):
            break
        threading.Event().wait(0.02)
    publish(stack.runtime.app, GENERATE_TASK, [request_id], queue="pool.fast")
    assert stack.events.wait(request_id) == "succeeded"
    threading.Event().wait(0.5)
    with session_scope(stack.settings.database_url) as session:
        results = session.scalar(sa.select(sa.func.count()).select_from(Result).where(Result.request_id == request_id))
    assert results == 1
    assert [a.outcome for a in stack.attempts(request_id)].count("succeeded") == 1


def test_reaper_republishes_a_lost_message_and_expires_overdue_requests(make_stack) -> None:  # type: ignore[no-untyped-def]
    from scheduler.reaper import reap

    stack = make_stack(fast=[fast()], requeue_after_s=1.0)
    lost = stack.submit(SIMPLE, publish_route=False)
    overdue = stack.submit(SIMPLE, publish_route=False, deadline_s=0.5)
    later = utcnow() + dt.timedelta(seconds=2)
    with session_scope(stack.settings.database_url) as session:
        result = reap(session, now=later, requeue_after_s=1.0)
    assert result.expired == [overdue]
    assert [(r.request_id, r.task) for r in result.republish] == [(lost, ROUTE_TASK)]
    for item in result.republish:
        publish(stack.runtime.app, item.task, [item.request_id], queue=item.queue)
    assert stack.events.wait(lost) == "succeeded"
    request, _ = stack.request(overdue)
    assert request.status == "expired" and request.error_code == "deadline_exceeded"
