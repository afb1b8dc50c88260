"""The route and generate steps through real Celery workers (threads in this process) on Redis and
PostgreSQL, against simulated engines with failure injection."""

from __future__ import annotations

import datetime as dt
import json
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
from coachline.db.models import Attempt, Request, Result, RoutingDecision, UserPreference
from coachline.db.session import session_scope
from coachline.db.types import utcnow
from coachline.domain import RequestStatus
from coachline.settings import Settings
from tests.support import write_pools_file
from workers.sim.config import SimConfig
from workers.sim.server import start_in_thread

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
            assert self._cond.wait_for(lambda: request_id in self.done, timeout_s), (
                f"{request_id} never finished"
            )
            return self.done[request_id]


@dataclass
class Stack:
    runtime: Runtime
    events: Events
    settings: Settings

    def submit(
        self,
        messages: list[dict[str, str]],
        *,
        hints: dict[str, object] | None = None,
        publish_route: bool = True,
        deadline_s: float = 300.0,
        tenant: str = "t",
        user_id: str | None = None,
    ) -> str:
        now = utcnow()
        with session_scope(self.settings.database_url) as session:
            request = Request(
                tenant=tenant,
                user_id=user_id,
                body_sha256="0" * 64,
                messages=messages,
                routing_hints=hints or {},
                max_tokens=16,
                temperature=None,
                request_metadata={},
                status=RequestStatus.QUEUED.value,
                created_at=now,
                updated_at=now,
                deadline_at=now + dt.timedelta(seconds=deadline_s),
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


def fast(**overrides: object) -> SimConfig:
    return SimConfig.from_profile("fast", model="mistralai/Mistral-7B-Instruct-v0.3", **overrides)


def standard(**overrides: object) -> SimConfig:
    return SimConfig.from_profile("fast", model="meta-llama/Llama-3.1-8B-Instruct", **overrides)


def cloud(**overrides: object) -> SimConfig:
    return SimConfig.from_profile("fast", model="gpt-4o-mini", **overrides)


FAILING = {"failure_rate": 1.0, "failure_kinds": ("500",)}
TENANTS = {"open": {"private_to_cloud": True}, "onprem": {"local_only": True}}


@pytest.fixture
def make_stack(tmp_path: Path, pg_url: str, redis_url: str) -> Iterator[object]:
    with ExitStack() as stack:

        def make(
            *,
            fast_engines: list[SimConfig] | None = None,
            standard_engine: SimConfig | None = None,
            cloud_engine: SimConfig | None = None,
            **overrides: object,
        ) -> Stack:
            fasts = [stack.enter_context(start_in_thread(c)) for c in fast_engines or [fast()]]
            std = stack.enter_context(start_in_thread(standard_engine or standard()))
            cld = stack.enter_context(start_in_thread(cloud_engine or cloud()))
            pools = write_pools_file(
                tmp_path / "pools.yaml",
                fast_ports=[h.port for h in fasts],
                standard_ports=[std.port],
                cloud_port=cld.port,
                tenants=TENANTS,
            )
            settings = Settings(
                database_url=pg_url,
                broker_url=redis_url,
                pools_file=pools,
                retry_backoff_s=0.05,
                **overrides,  # type: ignore[arg-type]
            )
            events = Events()
            runtime = build(settings, events=events)
            worker = start_worker_thread(
                runtime.app,
                queues=all_queues(settings.pools),
                concurrency=8,
                hostname=f"test-{id(runtime)}@local",
            )
            stack.callback(worker.stop)
            return Stack(runtime, events, settings)

        yield make


def _trail(stack: Stack, request_id: str) -> list[tuple[str, str | None]]:
    """(processing mode or pool, error code) of every attempt."""
    return [(a.pool or "cloud", a.error_code) for a in stack.attempts(request_id)]


def test_success_stores_result_decision_and_one_attempt(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack()
    request_id = stack.submit(SIMPLE)
    assert stack.events.wait(request_id) == "succeeded"
    request, result = stack.request(request_id)
    assert request.status == "succeeded" and request.finished_at is not None
    assert result is not None and result.content and result.tokens_out > 0 and result.tokens_in > 0
    assert result.processing_mode == "local" and result.pool == "fast"
    assert result.cost_usd > 0
    assert result.latency_ms >= result.ttft_ms
    assert [(a.outcome, a.reason) for a in stack.attempts(request_id)] == [("succeeded", "initial")]


def test_transient_errors_retry_on_the_next_engine(make_stack) -> None:  # type: ignore[no-untyped-def]
    # The pool's first engine fails every call; its second engine serves the retry.
    stack = make_stack(fast_engines=[fast(**FAILING), fast()])
    request_id = stack.submit(SIMPLE)
    assert stack.events.wait(request_id) == "succeeded"
    attempts = stack.attempts(request_id)
    assert [(a.outcome, a.error_code) for a in attempts] == [("error", "engine_error"), ("succeeded", None)]
    assert attempts[0].engine_url != attempts[1].engine_url
    assert attempts[1].reason == "next engine after engine_error"


def test_rate_limit_cools_the_engine_for_its_retry_after(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(fast_engines=[fast(fail_first_n=1, fail_first_kind="429", retry_after_s=5)])
    request_id = stack.submit(SIMPLE)
    assert stack.events.wait(request_id) == "succeeded"
    assert _trail(stack, request_id) == [("fast", "engine_rate_limited"), ("standard", None)]
    fast_url = stack.attempts(request_id)[0].engine_url
    left = stack.runtime.cooldowns.cooling([fast_url])
    assert 3.0 < left[fast_url] <= 5.0
    # While it cools, a new fast-tier request goes straight to another engine.
    second = stack.submit(SIMPLE)
    assert stack.events.wait(second) == "succeeded"
    assert _trail(stack, second) == [("standard", None)]


def test_single_engine_pool_is_cooled_down_then_used_again(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(
        fast_engines=[fast(fail_first_n=3, fail_first_kind="500")],
        engine_cooldown_failures=3,
        engine_cooldown_s=0.5,
    )
    for _ in range(3):
        request_id = stack.submit(SIMPLE)
        assert stack.events.wait(request_id) == "succeeded"
        assert _trail(stack, request_id) == [("fast", "engine_error"), ("standard", None)]
    cooled = stack.submit(SIMPLE)
    assert stack.events.wait(cooled) == "succeeded"
    assert _trail(stack, cooled) == [("standard", None)]
    threading.Event().wait(0.6)
    recovered = stack.submit(SIMPLE)
    assert stack.events.wait(recovered) == "succeeded"
    assert _trail(stack, recovered) == [("fast", None)]


def test_gives_up_after_max_attempts(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(
        fast_engines=[fast(**FAILING)],
        standard_engine=standard(**FAILING),
        cloud_engine=cloud(**FAILING),
        generate_max_attempts=3,
        engine_cooldown_failures=100,
    )
    request_id = stack.submit(SIMPLE)
    assert stack.events.wait(request_id) == "failed"
    request, result = stack.request(request_id)
    assert request.error_code == "engine_error" and "3 attempts" in (request.error_message or "")
    assert result is None
    # Local pool, the other local pool, then the cloud (a public request may use it).
    assert _trail(stack, request_id) == [
        ("fast", "engine_error"),
        ("standard", "engine_error"),
        ("cloud", "engine_error"),
    ]
    assert stack.attempts(request_id)[2].reason == "fallback local -> cloud after engine_error"


def test_sensitive_requests_never_fall_back_to_the_cloud(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(
        fast_engines=[fast(**FAILING)],
        standard_engine=standard(**FAILING),
        generate_max_attempts=5,
        engine_cooldown_failures=100,
    )
    sensitive = stack.submit(SIMPLE, hints={"privacy_level": "sensitive"})
    disclosed = stack.submit(
        [{"role": "system", "content": "The client takes lithium for bipolar disorder."}, *SIMPLE]
    )
    public = stack.submit(SIMPLE)
    assert stack.events.wait(sensitive) == "failed"
    assert stack.events.wait(disclosed) == "failed"
    assert stack.events.wait(public) == "succeeded"
    for request_id in (sensitive, disclosed):
        trail = _trail(stack, request_id)
        assert len(trail) == 5 and {pool for pool, _ in trail} == {"fast", "standard"}
    assert _trail(stack, public)[-1] == ("cloud", None)


def test_cloud_failure_falls_back_to_local(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(cloud_engine=cloud(**FAILING))
    request_id = stack.submit(COMPLEX)
    assert stack.events.wait(request_id) == "succeeded"
    assert _trail(stack, request_id) == [("cloud", "engine_error"), ("standard", None)]


def test_complex_requests_go_local_when_privacy_or_policy_says_so(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack()
    public = stack.submit(COMPLEX)
    hinted = stack.submit(COMPLEX, hints={"privacy_level": "sensitive"})
    disclosed = stack.submit(
        [*COMPLEX, {"role": "user", "content": "I was diagnosed with bipolar disorder."}]
    )
    onprem = stack.submit(COMPLEX, tenant="onprem")
    preferred = stack.submit(COMPLEX, hints={"prefer_local": True})
    for request_id in (public, hinted, disclosed, onprem, preferred):
        assert stack.events.wait(request_id) == "succeeded"
    assert _trail(stack, public) == [("cloud", None)]
    for request_id in (hinted, disclosed, onprem, preferred):
        assert [pool for pool, _ in _trail(stack, request_id)] != ["cloud"]
        assert stack.request(request_id)[1].processing_mode == "local"  # type: ignore[union-attr]


def test_a_user_preference_keeps_complex_requests_local(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack()
    with session_scope(stack.settings.database_url) as session:
        session.add(UserPreference(tenant="t", user_id="careful", local_only=True, updated_at=utcnow()))
    careful = stack.submit(COMPLEX, user_id="careful")
    other = stack.submit(COMPLEX, user_id="someone-else")
    for request_id in (careful, other):
        assert stack.events.wait(request_id) == "succeeded"
    assert stack.request(careful)[1].processing_mode == "local"  # type: ignore[union-attr]
    assert stack.request(other)[1].processing_mode == "cloud"  # type: ignore[union-attr]


def test_private_requests_reach_the_cloud_only_redacted_and_only_where_allowed(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack()
    email_turn = {"role": "user", "content": "You can email me the plan at jane.roe@example.org tonight."}
    allowed = stack.submit([*COMPLEX, email_turn], tenant="open")
    default = stack.submit([*COMPLEX, email_turn])
    for request_id in (allowed, default):
        assert stack.events.wait(request_id) == "succeeded"
    assert _trail(stack, allowed) == [("cloud", None)]
    assert stack.request(default)[1].processing_mode == "local"  # type: ignore[union-attr]
    with session_scope(stack.settings.database_url) as session:
        decision = session.get(RoutingDecision, allowed)
        assert decision is not None and decision.privacy_level == "private" and decision.redact_for_cloud
        sent = json.dumps(decision.redacted_messages)
        kept_local = session.get(RoutingDecision, default)
        assert kept_local is not None and kept_local.redacted_messages is None
    assert "jane.roe@example.org" not in sent and "example.org" not in sent
    assert "quarterly strategy review" in sent


def test_a_duplicated_generate_message_stores_one_result(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(fast_engines=[fast(ttft_base_ms=200)])
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
        results = session.scalar(
            sa.select(sa.func.count()).select_from(Result).where(Result.request_id == request_id)
        )
    assert results == 1
    assert [a.outcome for a in stack.attempts(request_id)].count("succeeded") == 1


def test_reaper_republishes_a_lost_message_and_expires_overdue_requests(make_stack) -> None:  # type: ignore[no-untyped-def]
    from scheduler.reaper import reap

    stack = make_stack(requeue_after_s=1.0)
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
