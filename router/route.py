"""The route step: load a queued request, decide, store the decision. The task publishes after commit."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from broker.queues import CLOUD_QUEUE, pool_queue
from coachline.db.models import Request, RoutingDecision, UserPreference
from coachline.db.types import utcnow
from coachline.domain import PrivacyLevel, RequestStatus
from coachline.pools import PoolsConfig
from coachline.telemetry import metrics
from router.policy import Decision, Estimator, Thresholds, UserChoice, decide
from router.scoring import redact_messages

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Routed:
    queue: str
    decision: Decision


def route_request(
    session: Session, request_id: str, *, pools: PoolsConfig, thresholds: Thresholds, estimator: Estimator
) -> Routed | None:
    """Decide and store the routing of ``request_id``; None when there is nothing to do.

    Idempotent: a redelivered or duplicated route message finds the decision already stored (the
    decision's primary key is the request id) and does nothing.
    """
    request = session.get(Request, request_id)
    if request is None:
        log.warning("router.unknown_request", request_id=request_id)
        return None
    structlog.contextvars.bind_contextvars(tenant=request.tenant)
    if request.status not in (RequestStatus.QUEUED.value, RequestStatus.ROUTING.value):
        return None
    if session.scalar(select(RoutingDecision.request_id).where(RoutingDecision.request_id == request_id)):
        return None

    decision = decide(
        request.messages,
        request.routing_hints,
        pools,
        thresholds,
        tenant=pools.tenant_policy(request.tenant),
        user=_user_choice(session, request),
        estimator=estimator,
    )
    now = utcnow()
    session.add(
        RoutingDecision(
            request_id=request_id,
            tier=decision.tier.value,
            pool=decision.pool,
            processing_mode=decision.processing_mode,
            privacy_level=decision.privacy_level.value,
            privacy_categories=list(decision.privacy_categories),
            complexity_score=decision.complexity_score,
            signals=decision.signals,
            reasons=decision.reasons,
            decision_ms=decision.decision_ms,
            cloud_allowed=decision.cloud_allowed,
            redact_for_cloud=decision.redact_for_cloud,
            redacted_messages=_cloud_copy(request, decision),
            created_at=now,
        )
    )
    request.status = RequestStatus.ROUTING.value
    request.routed_at = now
    request.updated_at = now
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return None

    metrics.ROUTING_TIME.observe(decision.decision_ms / 1000)
    metrics.ROUTING_DECISIONS.labels(
        tier=decision.tier.value, pool=decision.pool or "cloud", privacy_level=decision.privacy_level.value
    ).inc()
    if decision.scoring_failed:
        metrics.SCORING_FAILURES.inc()
    for category in decision.privacy_categories:
        metrics.PRIVACY_DETECTIONS.labels(category=category).inc()
    if decision.tier.value == "CLOUD_FALLBACK":
        metrics.SPILLS.inc()
    log.info(
        "router.decided",
        request_id=request_id,
        tier=decision.tier.value,
        pool=decision.pool,
        privacy_level=decision.privacy_level.value,
        decision_ms=round(decision.decision_ms, 3),
    )
    queue = pool_queue(decision.pool) if decision.pool else CLOUD_QUEUE
    return Routed(queue=queue, decision=decision)


def _user_choice(session: Session, request: Request) -> UserChoice:
    if request.user_id is None:
        return UserChoice()
    pref = session.get(UserPreference, (request.tenant, request.user_id))
    if pref is None:
        return UserChoice()
    level = PrivacyLevel(pref.privacy_level) if pref.privacy_level else None
    return UserChoice(privacy_level=level, local_only=pref.local_only)


def _cloud_copy(request: Request, decision: Decision) -> list[dict[str, str]] | None:
    """The redacted conversation a private request may send to the cloud; None when it may not go."""
    if not (decision.redact_for_cloud and decision.cloud_allowed):
        return None
    return redact_messages(request.messages)
