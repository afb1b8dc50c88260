"""The reaper: nothing accepted stays queued, routing or running forever.

Requests past their deadline end ``expired``; requests whose message was lost (a failed publish, a
worker that died past its lease) are published again. Every step downstream is idempotent, so a
message published twice does no harm.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.queues import CLOUD_QUEUE, GENERATE_TASK, ROUTE_TASK, ROUTER_QUEUE, pool_queue
from coachline.db.models import Request, RoutingDecision
from coachline.domain import RequestStatus


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


_ACTIVE = (RequestStatus.QUEUED.value, RequestStatus.ROUTING.value, RequestStatus.RUNNING.value)


def reap(session: Session, *, now: dt.datetime, requeue_after_s: float, batch: int = 500) -> ReapResult:
    """Expire overdue requests and pick stale ones to publish again (the caller publishes after commit)."""
    expired: list[str] = []
    republish: list[Republish] = []
    stale_before = now - dt.timedelta(seconds=requeue_after_s)
    rows = session.execute(
        select(Request, RoutingDecision)
        .outerjoin(RoutingDecision, RoutingDecision.request_id == Request.id)
        .where(Request.status.in_(_ACTIVE), Request.updated_at < stale_before)
        .order_by(Request.updated_at)
        .limit(batch)
        .with_for_update(of=Request, skip_locked=True)
    ).all()
    for request, decision in rows:
        leased = request.lease_until is not None and request.lease_until > now
        if leased:
            continue
        if request.deadline_at < now:
            request.status = RequestStatus.EXPIRED.value
            request.error_code = "deadline_exceeded"
            request.error_message = "the request passed its deadline before it could be served"
            request.finished_at = now
            request.updated_at = now
            request.lease_until = None
            expired.append(request.id)
            continue
        request.updated_at = now
        if decision is None:
            republish.append(Republish(ROUTE_TASK, request.id, ROUTER_QUEUE, "route"))
        else:
            queue = pool_queue(decision.pool) if decision.pool else CLOUD_QUEUE
            republish.append(Republish(GENERATE_TASK, request.id, queue, "generate"))
    return ReapResult(expired=expired, republish=republish)
