"""The generate step: claim a routed request, call its engine, store the result or the failure.

Plain functions over a session; ``workers/tasks.py`` wraps them in a Celery task and turns a
``Retry`` into a delayed redelivery.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from coachline.cooldown import CooldownStore
from coachline.db.models import Attempt, Request, Result, RoutingDecision
from coachline.db.types import utcnow
from coachline.domain import RequestStatus, Tier
from coachline.pools import PoolsConfig
from coachline.settings import Settings
from coachline.telemetry import metrics
from workers.engines import Completion, EngineTarget, complete
from workers.errors import EngineError
from workers.fallback import Next, Route, Tried, WaitFor, chain, next_target

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Job:
    request_id: str
    attempt_number: int
    target: EngineTarget
    tier: str
    messages: list[dict[str, Any]]
    max_tokens: int
    temperature: float | None
    created_at: dt.datetime
    claimed_at: dt.datetime
    routing_ms: float


@dataclass(frozen=True)
class Retry:
    """Try again after ``countdown_s``; ``attempt_failed`` is False when nothing was attempted."""

    countdown_s: float
    attempt_failed: bool


@dataclass(frozen=True)
class Finished:
    status: RequestStatus
    processing_mode: str


Outcome = Retry | Finished | None


class _InFlight:
    """Sequences in flight per engine in this process: the share of the GPU a request is billed for."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def enter(self, url: str) -> int:
        with self._lock:
            self._counts[url] += 1
            return self._counts[url]

    def leave(self, url: str) -> None:
        with self._lock:
            self._counts[url] -= 1

    def count(self, url: str) -> int:
        with self._lock:
            return self._counts[url]


IN_FLIGHT = _InFlight()


def route_of(decision: RoutingDecision) -> Route:
    return Route(tier=Tier(decision.tier), pool=decision.pool, cloud_allowed=decision.cloud_allowed)


def tried_so_far(session: Session, request_id: str) -> list[Tried]:
    rows = session.execute(
        select(Attempt.engine_url, Attempt.processing_mode, Attempt.error_code)
        .where(Attempt.request_id == request_id)
        .order_by(Attempt.number)
    ).all()
    return [Tried(url, mode, code) for url, mode, code in rows]


def choose(
    pools: PoolsConfig, decision: RoutingDecision, tried: list[Tried], cooldowns: CooldownStore
) -> Next | WaitFor | None:
    route = route_of(decision)
    urls = [t.base_url for t in chain(route, pools)]
    inflight = {url: IN_FLIGHT.count(url) for url in urls}
    return next_target(route, pools, tried, cooldowns.cooling(urls), inflight)


def claim(
    session: Session, request_id: str, *, settings: Settings, cooldowns: CooldownStore
) -> Job | Retry | Finished | None:
    """Take the request for one attempt; the lease keeps a duplicate message from running it twice."""
    now = utcnow()
    lease_until = now + dt.timedelta(seconds=settings.engine_timeout_s + 30)
    claimed = session.execute(
        update(Request)
        .where(
            Request.id == request_id,
            or_(
                Request.status == RequestStatus.ROUTING.value,
                (Request.status == RequestStatus.RUNNING.value)
                & or_(Request.lease_until.is_(None), Request.lease_until < now),
            ),
        )
        .values(status=RequestStatus.RUNNING.value, lease_until=lease_until, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]  # an UPDATE returns a CursorResult
    request = session.get(Request, request_id)
    if request is None:
        log.warning("workers.unknown_request", request_id=request_id)
        return None
    if not claimed:
        if request.status == RequestStatus.RUNNING.value and request.lease_until is not None:
            # Another delivery holds it (a duplicate, or a worker that may still be alive).
            return Retry(
                countdown_s=max(1.0, (request.lease_until - now).total_seconds()), attempt_failed=False
            )
        return None
    if request.deadline_at < now:
        request.finish(
            RequestStatus.EXPIRED.value,
            code="deadline_exceeded",
            message="the request passed its deadline before an engine could serve it",
            now=now,
        )
        return Finished(RequestStatus.EXPIRED, "none")
    decision = session.get(RoutingDecision, request_id)
    if decision is None:
        log.error("workers.no_decision", request_id=request_id)
        return None
    structlog.contextvars.bind_contextvars(tenant=request.tenant)
    if request.started_at is None:
        request.started_at = now
    tried = tried_so_far(session, request_id)
    number = len(tried) + 1
    try:
        picked = choose(settings.pools, decision, tried, cooldowns)
    except (KeyError, EngineError) as e:
        code, message = (
            (e.code, e.message) if isinstance(e, EngineError) else ("unknown_pool", f"no pool {e}")
        )
        request.finish(RequestStatus.FAILED.value, code=code, message=message, now=now)
        return Finished(RequestStatus.FAILED, decision.processing_mode)
    if picked is None:
        request.finish(
            RequestStatus.FAILED.value, code="no_engine", message="no engine may serve it", now=now
        )
        return Finished(RequestStatus.FAILED, decision.processing_mode)
    if isinstance(picked, WaitFor):
        # Every allowed engine is cooling down; a sensitive request waits for a local one.
        request.lease_until = now
        return Retry(countdown_s=max(0.05, picked.seconds), attempt_failed=False)
    target = picked.target
    if target.processing_mode == "cloud" and not decision.cloud_allowed:
        # The chain cannot produce this; refusing here keeps the invariant even if it ever did.
        raise AssertionError("a cloud target for a decision that forbids the cloud")
    messages = list(request.messages)
    if target.processing_mode == "cloud" and decision.redact_for_cloud:
        if decision.redacted_messages is None:
            raise AssertionError("a private request allowed to the cloud has no redacted copy")
        messages = list(decision.redacted_messages)
    session.add(
        Attempt(
            request_id=request_id,
            number=number,
            pool=target.pool,
            processing_mode=target.processing_mode,
            engine_url=target.base_url,
            model=target.model,
            reason=picked.reason,
            outcome="running",
            started_at=now,
        )
    )
    return Job(
        request_id=request_id,
        attempt_number=number,
        target=target,
        tier=decision.tier,
        messages=messages,
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        created_at=request.created_at,
        claimed_at=now,
        routing_ms=decision.decision_ms,
    )


def run_engine(job: Job, *, settings: Settings) -> tuple[Completion, float]:
    """Call the engine; returns the completion and the share of the engine it had (for cost)."""
    concurrency = IN_FLIGHT.enter(job.target.base_url)
    try:
        completion = complete(
            job.target,
            job.messages,
            max_tokens=job.max_tokens,
            temperature=job.temperature,
            timeout_s=settings.engine_timeout_s,
            connect_timeout_s=settings.engine_connect_timeout_s,
        )
    finally:
        IN_FLIGHT.leave(job.target.base_url)
    return completion, 1.0 / max(1, concurrency)


def cost_usd(job: Job, completion: Completion, engine_share: float, pools: PoolsConfig) -> float:
    """Cloud: token prices. Local: the GPU-hour price for the engine time, split among the
    sequences that shared the engine when this one started (continuous batching)."""
    if job.target.pool is None:
        assert pools.cloud is not None
        return pools.cloud.cost_usd(completion.tokens_in, completion.tokens_out)
    pool = pools.pool(job.target.pool)
    return pool.gpu_hour_usd / 3600 * (completion.engine_ms / 1000) * engine_share


def store_success(session: Session, job: Job, completion: Completion, cost: float) -> Finished | None:
    """Store the result once: a duplicate that finishes second changes nothing."""
    now = utcnow()
    won = session.execute(
        update(Request)
        .where(Request.id == job.request_id, Request.status == RequestStatus.RUNNING.value)
        .values(status=RequestStatus.SUCCEEDED.value, finished_at=now, updated_at=now, lease_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]  # an UPDATE returns a CursorResult
    _close_attempt(session, job, "succeeded", None, None, now)
    if not won:
        return None
    total_ms = (now - job.created_at).total_seconds() * 1000
    queue_ms = max(0.0, (job.claimed_at - job.created_at).total_seconds() * 1000 - job.routing_ms)
    session.add(
        Result(
            request_id=job.request_id,
            content=completion.content,
            model=completion.model,
            pool=job.target.pool,
            processing_mode=job.target.processing_mode,
            tokens_in=completion.tokens_in,
            tokens_out=completion.tokens_out,
            cost_usd=cost,
            queue_ms=queue_ms,
            routing_ms=job.routing_ms,
            ttft_ms=completion.ttft_ms,
            engine_ms=completion.engine_ms,
            latency_ms=total_ms,
            created_at=now,
        )
    )
    return Finished(RequestStatus.SUCCEEDED, job.target.processing_mode)


def record_success_metrics(job: Job, completion: Completion, cost: float) -> None:
    mode = job.target.processing_mode
    if job.target.pool is not None:
        metrics.LOCAL_INFERENCE_LATENCY.labels(pool=job.target.pool, model=job.target.model).observe(
            completion.engine_ms / 1000
        )
    else:
        metrics.CLOUD_INFERENCE_LATENCY.labels(model=job.target.model).observe(completion.engine_ms / 1000)
    metrics.REQUEST_LATENCY.labels(tier=job.tier, processing_mode=mode).observe(
        (utcnow() - job.created_at).total_seconds()
    )
    metrics.TIME_TO_FIRST_TOKEN.labels(
        processing_mode=mode, pool=job.target.pool or "cloud", model=job.target.model
    ).observe(completion.ttft_ms / 1000)
    metrics.TOKENS.labels(direction="in", processing_mode=mode).inc(completion.tokens_in)
    metrics.TOKENS.labels(direction="out", processing_mode=mode).inc(completion.tokens_out)
    metrics.COST_USD.labels(processing_mode=mode).inc(cost)


def store_failure(
    session: Session, job: Job, error: EngineError, *, settings: Settings, cooldowns: CooldownStore
) -> Retry | Finished | None:
    """Store a failed attempt; try the next engine of the chain while attempts remain (backing off
    when it is the same engine), else end the request failed."""
    now = utcnow()
    if error.transient:
        cooled = cooldowns.record_failure(job.target.base_url, cool_for_s=error.retry_after_s)
        if cooled:
            metrics.ENGINE_COOLDOWNS.labels(processing_mode=job.target.processing_mode).inc()
    _close_attempt(session, job, "error", error.code, error.message, now)
    metrics.ENGINE_ERRORS.labels(
        processing_mode=job.target.processing_mode, pool=job.target.pool or "cloud", code=error.code
    ).inc()
    request = session.get(Request, job.request_id)
    if request is None or request.status != RequestStatus.RUNNING.value:
        return None
    if error.transient and job.attempt_number < settings.generate_max_attempts:
        request.lease_until = now  # the retry message may claim it at once
        request.updated_at = now
        decision = session.get(RoutingDecision, job.request_id)
        assert decision is not None
        upcoming = choose(settings.pools, decision, tried_so_far(session, job.request_id), cooldowns)
        if isinstance(upcoming, Next) and upcoming.target.base_url != job.target.base_url:
            metrics.FALLBACKS.labels(
                from_mode=job.target.processing_mode, to_mode=upcoming.target.processing_mode
            ).inc()
            return Retry(countdown_s=0.0, attempt_failed=True)
        backoff = min(settings.retry_backoff_max_s, settings.retry_backoff_s * 2 ** (job.attempt_number - 1))
        return Retry(countdown_s=max(backoff, error.retry_after_s or 0.0), attempt_failed=True)
    message = (
        error.message
        if not error.transient
        else f"{error.message}; gave up after {job.attempt_number} attempts"
    )
    request.finish(RequestStatus.FAILED.value, code=error.code, message=message, now=now)
    return Finished(RequestStatus.FAILED, job.target.processing_mode)


def _close_attempt(
    session: Session, job: Job, outcome: str, code: str | None, message: str | None, now: dt.datetime
) -> None:
    session.execute(
        update(Attempt)
        .where(Attempt.request_id == job.request_id, Attempt.number == job.attempt_number)
        .values(outcome=outcome, error_code=code, error_message=message, finished_at=now)
        .execution_options(synchronize_session=False)
    )
