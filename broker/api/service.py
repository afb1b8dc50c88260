"""Service functions behind the API: keyword-only verbs over a session."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from broker.api.errors import ApiError
from broker.api.schemas import (
    AttemptView,
    CreateRequest,
    ErrorView,
    MetricsView,
    RequestView,
    ResponseView,
    RoutingView,
)
from coachline.db.models import Request
from coachline.db.types import utcnow
from coachline.domain import RequestStatus
from coachline.settings import Settings


@dataclass(frozen=True)
class Created:
    id: str
    status: str
    new: bool


def body_digest(body: CreateRequest) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_limits(body: CreateRequest, *, settings: Settings) -> None:
    if len(body.messages) > settings.max_messages:
        raise ApiError(
            422,
            "too_many_messages",
            f"messages: at most {settings.max_messages} messages, got {len(body.messages)}",
            field="messages",
        )
    for index, message in enumerate(body.messages):
        if not message.content.strip():
            raise ApiError(
                422,
                "invalid_request",
                f"messages.{index}.content: must not be empty",
                field=f"messages.{index}.content",
            )
        if len(message.content) > settings.max_message_chars:
            raise ApiError(
                413,
                "content_too_large",
                f"messages.{index}.content: {len(message.content)} characters, the limit is "
                f"{settings.max_message_chars}",
                field=f"messages.{index}.content",
            )
    if body.max_tokens is not None and body.max_tokens > settings.max_tokens_limit:
        raise ApiError(
            422, "invalid_request", f"max_tokens: at most {settings.max_tokens_limit}", field="max_tokens"
        )


def create_request(
    session: Session, *, tenant: str, body: CreateRequest, idempotency_key: str | None, settings: Settings
) -> Created:
    """Insert the request, or return the one this idempotency key already made (409 on another body)."""
    digest = body_digest(body)
    if idempotency_key is not None:
        existing = _by_key(session, tenant, idempotency_key)
        if existing is not None:
            return _same_body(existing, digest)
    now = utcnow()
    request = Request(
        tenant=tenant,
        idempotency_key=idempotency_key,
        body_sha256=digest,
        messages=[m.model_dump() for m in body.messages],
        routing_hints=body.routing_hints.model_dump(mode="json", exclude_none=True),
        user_id=body.user_id,
        max_tokens=body.max_tokens or settings.default_max_tokens,
        temperature=body.temperature,
        request_metadata=body.metadata,
        status=RequestStatus.QUEUED.value,
        created_at=now,
        updated_at=now,
        deadline_at=now + dt.timedelta(seconds=settings.request_deadline_s),
    )
    session.add(request)
    try:
        session.commit()
    except IntegrityError:
        # Two calls with one key raced; the other one's row stands.
        session.rollback()
        if idempotency_key is None:
            raise
        existing = _by_key(session, tenant, idempotency_key)
        if existing is None:
            raise
        return _same_body(existing, digest)
    return Created(request.id, request.status, new=True)


def _by_key(session: Session, tenant: str, key: str) -> Request | None:
    return session.scalar(select(Request).where(Request.tenant == tenant, Request.idempotency_key == key))


def _same_body(existing: Request, digest: str) -> Created:
    if existing.body_sha256 != digest:
        raise ApiError(
            409, "idempotency_conflict", "this Idempotency-Key was already used with a different request body"
        )
    return Created(existing.id, existing.status, new=False)


def _plausible_id(request_id: str) -> bool:
    return len(request_id) == 32 and all(c in "0123456789abcdef" for c in request_id)


def load_status(session: Session, *, tenant: str, request_id: str) -> str | None:
    """Only the status: what a long-poll reads while it waits."""
    if not _plausible_id(request_id):
        return None
    return session.scalar(select(Request.status).where(Request.id == request_id, Request.tenant == tenant))


def load_view(session: Session, *, tenant: str, request_id: str) -> RequestView | None:
    """The request as the API shows it; None when unknown or another tenant's."""
    if not _plausible_id(request_id):
        return None
    request = session.scalar(
        select(Request)
        .where(Request.id == request_id, Request.tenant == tenant)
        .options(selectinload(Request.decision), selectinload(Request.attempts), selectinload(Request.result))
    )
    return None if request is None else to_view(request)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def to_view(request: Request) -> RequestView:
    decision, result = request.decision, request.result
    return RequestView(
        id=request.id,
        status=request.status,
        created_at=_iso(request.created_at) or "",
        finished_at=_iso(request.finished_at),
        routing=None
        if decision is None
        else RoutingView(
            tier=decision.tier,
            pool=decision.pool,
            processing_mode=decision.processing_mode,
            privacy_level=decision.privacy_level,
            privacy_categories=list(decision.privacy_categories),
            complexity_score=decision.complexity_score,
            reasons=list(decision.reasons),
            decision_ms=round(decision.decision_ms, 3),
        ),
        response=None if result is None else ResponseView(content=result.content, model=result.model),
        metrics=None
        if result is None
        else MetricsView(
            latency_ms=round(result.latency_ms, 3),
            queue_ms=round(result.queue_ms, 3),
            routing_ms=round(result.routing_ms, 3),
            ttft_ms=round(result.ttft_ms, 3),
            engine_ms=round(result.engine_ms, 3),
            tokens_prompt=result.tokens_in,
            tokens_generated=result.tokens_out,
            cost_usd=result.cost_usd,
        ),
        attempts=[
            AttemptView(
                number=a.number,
                pool=a.pool,
                processing_mode=a.processing_mode,
                model=a.model,
                reason=a.reason,
                outcome=a.outcome,
                error_code=a.error_code,
                started_at=_iso(a.started_at) or "",
                finished_at=_iso(a.finished_at),
            )
            for a in request.attempts
        ],
        error=None
        if request.error_code is None
        else ErrorView(code=request.error_code, message=request.error_message or ""),
    )
