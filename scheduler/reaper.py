"""The reaper: nothing accepted stays queued, routing or running forever.

Every run, for the requests it can lock (``SKIP LOCKED``: two beats never reap one request twice):

- **past its deadline**, whatever its state, the request ends ``expired``. A request still running
  under a live lease is expired too: its client's deadline has passed, and the worker's late result
  is discarded (``store_success`` only finishes a ``running`` request);
- **lost** -- no progress for ``requeue_after_s`` and no live lease -- it is published again: a
  queued one to the router, a routed one to its pool's queue (or the cloud queue), a running one
  whose lease lapsed (its worker died) to its pool's queue, after its attempt is closed
  ``worker_lost``. A request that can no longer be served -- routed to a pool that left the pools
  file, or past routing without a stored decision -- ends ``failed`` with that reason;
- leased rows are filtered in SQL, so a batch full of live leases never starves the lost ones.

Separately, an attempt still ``running`` long after any live worker would have closed it
(``attempt_grace_s``) while nobody holds its request is closed ``worker_lost``.

Every step downstream is idempotent, so a message published twice does no harm.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from broker.queues import CLOUD_QUEUE, GENERATE_TASK, ROUTE_TASK, ROUTER_QUEUE, pool_queue
from coachline.db.models import Attempt, Request, RoutingDecision
from coachline.domain import RequestStatus
from coachline.pools import PoolsConfig


@dataclass(frozen=True)
class Republish:
    task: str
    request_id: str
    queue: str
    stage: str


@dataclass(frozen=True)
class ReapResult:
    expired: list[str]
    republish: list[Republish]
    failed: list[str] = field(default_factory=list)
    closed_attempts: int = 0


_ACTIVE = (RequestStatus.QUEUED.value, RequestStatus.ROUTING.value, RequestStatus.RUNNING.value)
WORKER_LOST = "worker_lost"


def _close_running_attempts(session: Session, request_id: str, now: dt.datetime) -> int:
    return session.execute(
        update(Attempt)
        .where(Attempt.request_id == request_id, Attempt.outcome == "running")
        .values(
            outcome="error",
            error_code=WORKER_LOST,
            error_message="the worker running this attempt stopped (its lease lapsed)",
            finished_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined, no-any-return]  # an UPDATE returns a CursorResult


def reap(
    session: Session,
    *,
    now: dt.datetime,
    requeue_after_s: float,
    batch: int = 500,
    attempt_grace_s: float | None = None,
    pools: PoolsConfig | None = None,
) -> ReapResult:
    """Expire overdue requests, fail unservable ones, pick lost ones to publish again (the caller
    publishes after commit), and close attempts their workers abandoned."""
    expired: list[str] = []
    failed: list[str] = []
    republish: list[Republish] = []
    closed = 0
    stale_before = now - dt.timedelta(seconds=requeue_after_s)
    unleased = or_(Request.lease_until.is_(None), Request.lease_until <= now)
    rows = session.execute(
        select(Request, RoutingDecision)
        .outerjoin(RoutingDecision, RoutingDecision.request_id == Request.id)
        .where(
            Request.status.in_(_ACTIVE),
            or_(Request.deadline_at < now, (Request.updated_at < stale_before) & unleased),
        )
        .order_by(Request.updated_at)
        .limit(batch)
        .with_for_update(of=Request, skip_locked=True)
    ).all()
    known_pools = None if pools is None else {p.name for p in pools.pools}
    for request, decision in rows:
        leased = request.lease_until is not None and request.lease_until > now
        running = request.status == RequestStatus.RUNNING.value
        if request.deadline_at < now:
            message = (
                "the request passed its deadline while an engine was still generating; "
                "the late answer is discarded"
                if running and leased
                else "the request passed its deadline before it could be served"
            )
            if running and not leased:
                closed += _close_running_attempts(session, request.id, now)
            request.finish(RequestStatus.EXPIRED.value, code="deadline_exceeded", message=message, now=now)
            expired.append(request.id)
            continue
        if decision is None:
            if request.status == RequestStatus.QUEUED.value:
                request.updated_at = now
                republish.append(Republish(ROUTE_TASK, request.id, ROUTER_QUEUE, "route"))
            else:  # nothing downstream can serve a request past routing without its decision
                request.finish(
                    RequestStatus.FAILED.value,
                    code="no_decision",
                    message="the routing decision of this request is missing",
                    now=now,
                )
                failed.append(request.id)
            continue
        if decision.pool is not None and known_pools is not None and decision.pool not in known_pools:
            request.finish(
                RequestStatus.FAILED.value,
                code="unknown_pool",
                message=f"routed to pool {decision.pool!r}, which is no longer in the pools file",
                now=now,
            )
            failed.append(request.id)
            continue
        if running:
            closed += _close_running_attempts(session, request.id, now)
        request.updated_at = now
        queue = pool_queue(decision.pool) if decision.pool else CLOUD_QUEUE
        republish.append(Republish(GENERATE_TASK, request.id, queue, "generate"))
    if attempt_grace_s is not None:
        closed += _close_abandoned_attempts(session, now=now, grace_s=attempt_grace_s)
    return ReapResult(expired=expired, republish=republish, failed=failed, closed_attempts=closed)


def _close_abandoned_attempts(session: Session, *, now: dt.datetime, grace_s: float) -> int:
    """Attempts running for longer than any live worker runs one, on requests nobody holds."""
    held = select(Request.id).where(Request.lease_until.is_not(None), Request.lease_until > now)
    return session.execute(
        update(Attempt)
        .where(
            Attempt.outcome == "running",
            Attempt.started_at < now - dt.timedelta(seconds=grace_s),
            Attempt.request_id.not_in(held),
        )
        .values(
            outcome="error",
            error_code=WORKER_LOST,
            error_message="the attempt was never closed: its worker stopped",
            finished_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined, no-any-return]  # an UPDATE returns a CursorResult
