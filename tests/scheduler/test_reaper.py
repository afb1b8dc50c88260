"""The reaper on PostgreSQL, one case per hole: nothing accepted stays queued, routing or running
forever; overdue requests end expired with a reason; lost ones are published again, once."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import select

from broker.queues import CLOUD_QUEUE, GENERATE_TASK, ROUTE_TASK, ROUTER_QUEUE
from coachline.db.models import Attempt, Request, RoutingDecision
from coachline.db.session import session_scope
from coachline.settings import Settings
from scheduler.reaper import ReapResult, reap
from tests.scheduler.conftest import monitor_settings
from workers.engines import Completion, EngineTarget
from workers.generate import Job, store_success

NOW = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
REQUEUE_S = 120.0
GRACE_S = 300.0


def _request(
    url: str,
    *,
    status: str,
    updated_s_ago: float = 600,
    deadline_in_s: float = 300,
    lease_in_s: float | None = None,
    pool: str | None = "fast",
    decided: bool = True,
    running_attempt_s_ago: float | None = None,
) -> str:
    """A request as the API, the router and a generate task would have left it."""
    updated = NOW - dt.timedelta(seconds=updated_s_ago)
    with session_scope(url) as session:
        request = Request(
            tenant="acme",
            body_sha256="0" * 64,
            messages=[{"role": "user", "content": "One tip for a calmer morning?"}],
            routing_hints={},
            max_tokens=64,
            temperature=None,
            request_metadata={},
            status=status,
            created_at=updated - dt.timedelta(seconds=5),
            updated_at=updated,
            deadline_at=NOW + dt.timedelta(seconds=deadline_in_s),
            lease_until=None if lease_in_s is None else NOW + dt.timedelta(seconds=lease_in_s),
        )
        session.add(request)
        session.flush()
        if decided:
            session.add(
                RoutingDecision(
                    request_id=request.id,
                    tier="LOCAL_FAST" if pool else "CLOUD_ENHANCED",
                    pool=pool,
                    processing_mode="local" if pool else "cloud",
                    privacy_level="public",
                    privacy_categories=[],
                    complexity_score=0.1,
                    signals={},
                    reasons=[],
                    decision_ms=0.2,
                    cloud_allowed=True,
                    redact_for_cloud=False,
                    redacted_messages=None,
                    created_at=updated,
                )
            )
        if running_attempt_s_ago is not None:
            session.add(
                Attempt(
                    request_id=request.id,
                    number=1,
                    pool=pool,
                    processing_mode="local",
                    engine_url="http://engine.test/v1",
                    model="mistralai/Mistral-7B-Instruct-v0.3",
                    reason="initial",
                    outcome="running",
                    started_at=NOW - dt.timedelta(seconds=running_attempt_s_ago),
                )
            )
        return request.id


def _settings(tmp_path: Path, url: str) -> Settings:
    return monitor_settings(tmp_path, url, "memory://")  # pools "fast" and "standard", and a cloud


def _reap(url: str, settings: Settings, *, now: dt.datetime = NOW, batch: int = 500) -> ReapResult:
    with session_scope(url) as session:
        return reap(
            session,
            now=now,
            requeue_after_s=REQUEUE_S,
            batch=batch,
            attempt_grace_s=GRACE_S,
            pools=settings.pools,
        )


def _load(url: str, request_id: str) -> tuple[Request, list[Attempt]]:
    with session_scope(url) as session:
        request = session.get(Request, request_id)
        attempts = list(session.scalars(select(Attempt).where(Attempt.request_id == request_id)))
        assert request is not None
        session.expunge_all()
        return request, attempts


def test_lost_route_and_generate_messages_are_published_again_once(tmp_path: Path, pg_url: str) -> None:
    settings = _settings(tmp_path, pg_url)
    queued = _request(pg_url, status="queued", decided=False)
    routed_local = _request(pg_url, status="routing", pool="fast")
    routed_cloud = _request(pg_url, status="routing", pool=None)
    recent = _request(pg_url, status="queued", decided=False, updated_s_ago=30)  # may still be in its queue
    result = _reap(pg_url, settings)
    assert {(r.request_id, r.task, r.queue) for r in result.republish} == {
        (queued, ROUTE_TASK, ROUTER_QUEUE),
        (routed_local, GENERATE_TASK, "pool.fast"),
        (routed_cloud, GENERATE_TASK, CLOUD_QUEUE),
    }
    assert result.expired == [] and result.failed == []
    assert _load(pg_url, recent)[0].status == "queued"
    # Published again means touched: the next run leaves them alone for requeue_after_s.
    assert _reap(pg_url, settings, now=NOW + dt.timedelta(seconds=30)).republish == []
    again = _reap(pg_url, settings, now=NOW + dt.timedelta(seconds=REQUEUE_S + 1))
    assert {r.request_id for r in again.republish} == {queued, routed_local, routed_cloud, recent}


def test_a_running_request_whose_worker_died_is_published_again_and_its_attempt_closed(
    tmp_path: Path, pg_url: str
) -> None:
    settings = _settings(tmp_path, pg_url)
    dead = _request(pg_url, status="running", lease_in_s=-10, running_attempt_s_ago=200)
    result = _reap(pg_url, settings)
    assert [(r.request_id, r.task, r.queue, r.stage) for r in result.republish] == [
        (dead, GENERATE_TASK, "pool.fast", "generate")
    ]
    request, (attempt,) = _load(pg_url, dead)
    assert request.status == "running" and request.updated_at == NOW
    # The next attempt is a new row; this one would otherwise stay "running" forever.
    assert (attempt.outcome, attempt.error_code, attempt.finished_at) == ("error", "worker_lost", NOW)
    assert result.closed_attempts == 1


def test_a_running_request_under_a_live_lease_is_left_to_its_worker(tmp_path: Path, pg_url: str) -> None:
    settings = _settings(tmp_path, pg_url)
    # Its last update is old (the claim), but its worker holds a lease: nothing is lost.
    alive = _request(pg_url, status="running", lease_in_s=60, running_attempt_s_ago=100)
    result = _reap(pg_url, settings)
    assert result.republish == [] and result.expired == [] and result.closed_attempts == 0
    request, (attempt,) = _load(pg_url, alive)
    assert (request.status, attempt.outcome) == ("running", "running")


def test_past_its_deadline_a_request_expires_whatever_holds_it(tmp_path: Path, pg_url: str) -> None:
    settings = _settings(tmp_path, pg_url)
    queued = _request(pg_url, status="queued", decided=False, updated_s_ago=5, deadline_in_s=-1)
    leased = _request(pg_url, status="running", lease_in_s=60, deadline_in_s=-1, running_attempt_s_ago=30)
    dead = _request(pg_url, status="running", lease_in_s=-60, deadline_in_s=-1, running_attempt_s_ago=200)
    result = _reap(pg_url, settings)
    assert set(result.expired) == {queued, leased, dead} and result.republish == []
    for request_id in (queued, dead):
        request, _ = _load(pg_url, request_id)
        assert (request.status, request.error_code) == ("expired", "deadline_exceeded")
        assert request.error_message == "the request passed its deadline before it could be served"
        assert request.finished_at == NOW and request.lease_until is None
    request, (attempt,) = _load(pg_url, leased)
    assert request.status == "expired" and "while an engine was still generating" in (
        request.error_message or ""
    )
    assert attempt.outcome == "running"  # its worker is alive and closes it
    assert _load(pg_url, dead)[1][0].error_code == "worker_lost"  # its worker is not


def test_the_late_answer_of_an_expired_request_is_discarded(tmp_path: Path, pg_url: str) -> None:
    settings = _settings(tmp_path, pg_url)
    request_id = _request(pg_url, status="running", lease_in_s=60, deadline_in_s=-1, running_attempt_s_ago=30)
    assert _reap(pg_url, settings).expired == [request_id]
    job = Job(
        request_id=request_id,
        attempt_number=1,
        target=EngineTarget(
            "http://engine.test/v1", "mistralai/Mistral-7B-Instruct-v0.3", "EMPTY", "fast", "local"
        ),
        tier="LOCAL_FAST",
        messages=[],
        max_tokens=64,
        temperature=None,
        created_at=NOW - dt.timedelta(minutes=5),
        claimed_at=NOW - dt.timedelta(seconds=30),
        routing_ms=0.2,
    )
    completion = Completion(
        content="late", model=job.target.model, tokens_in=5, tokens_out=5, ttft_ms=10, engine_ms=40_000
    )
    with session_scope(pg_url) as session:
        assert store_success(session, job, completion, 0.0) is None
    request, (attempt,) = _load(pg_url, request_id)
    assert (
        request.status == "expired" and attempt.outcome == "succeeded"
    )  # the attempt's truth, not the request's


def test_a_request_that_can_no_longer_be_served_fails_with_the_reason(tmp_path: Path, pg_url: str) -> None:
    settings = _settings(tmp_path, pg_url)
    gone = _request(pg_url, status="routing", pool="retired")
    undecided = _request(pg_url, status="routing", decided=False)
    result = _reap(pg_url, settings)
    assert set(result.failed) == {gone, undecided} and result.republish == []
    request, _ = _load(pg_url, gone)
    assert (request.status, request.error_code) == ("failed", "unknown_pool")
    assert "'retired'" in (request.error_message or "")
    assert _load(pg_url, undecided)[0].error_code == "no_decision"


def test_live_leases_do_not_starve_lost_requests(tmp_path: Path, pg_url: str) -> None:
    settings = _settings(tmp_path, pg_url)
    for _ in range(3):  # older, leased: a batch read in Python would be full of these
        _request(pg_url, status="running", lease_in_s=60, updated_s_ago=900)
    lost = _request(pg_url, status="routing", updated_s_ago=600)
    result = _reap(pg_url, settings, batch=2)
    assert [r.request_id for r in result.republish] == [lost]


def test_abandoned_attempts_of_finished_requests_are_closed(tmp_path: Path, pg_url: str) -> None:
    settings = _settings(tmp_path, pg_url)
    finished = _request(pg_url, status="succeeded", running_attempt_s_ago=GRACE_S + 60)
    young = _request(pg_url, status="succeeded", running_attempt_s_ago=GRACE_S - 60)
    held = _request(
        pg_url, status="running", lease_in_s=60, updated_s_ago=10, running_attempt_s_ago=GRACE_S + 60
    )
    result = _reap(pg_url, settings)
    assert result.closed_attempts == 1
    assert _load(pg_url, finished)[1][0].error_code == "worker_lost"
    assert _load(pg_url, young)[1][0].outcome == "running"
    assert _load(pg_url, held)[1][0].outcome == "running"  # its request's lease is live: a worker has it


def test_terminal_requests_are_never_touched(tmp_path: Path, pg_url: str) -> None:
    settings = _settings(tmp_path, pg_url)
    ids = [
        _request(pg_url, status=s, deadline_in_s=-100)
        for s in ("succeeded", "failed", "cancelled", "expired")
    ]
    result = _reap(pg_url, settings)
    assert result.expired == [] and result.republish == [] and result.failed == []
    assert [_load(pg_url, i)[0].status for i in ids] == ["succeeded", "failed", "cancelled", "expired"]


def test_two_reapers_at_once_republish_each_lost_request_once(tmp_path: Path, pg_url: str) -> None:
    settings = _settings(tmp_path, pg_url)
    lost = {_request(pg_url, status="routing") for _ in range(20)}
    barrier = threading.Barrier(2)

    def run(_: int) -> ReapResult:
        barrier.wait(timeout=30)
        return _reap(pg_url, settings)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, range(2)))
    published = [r.request_id for result in results for r in result.republish]
    assert sorted(published) == sorted(lost)  # SKIP LOCKED and the touched updated_at: never twice
