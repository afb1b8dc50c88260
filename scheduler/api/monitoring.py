"""Monitoring endpoints: feedback on one's own requests (tenants); status and alerts (operators).

Status and acknowledgement are the scheduler's plain functions (no Celery in them): the one place
the API reads ``scheduler/``, so the API, the CLI and beat show and change alerts the same way.
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time.
import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from broker.api.auth import operator_dependency
from broker.api.body import read_json_body
from broker.api.errors import ApiError, from_validation
from coachline.db.models import Attempt, Result
from coachline.db.models import Request as RequestRow
from coachline.db.monitoring import Alert, Feedback
from coachline.db.session import get_sessionmaker
from coachline.db.types import utcnow
from coachline.domain import RequestStatus
from coachline.settings import Settings
from coachline.telemetry import metrics
from scheduler.alerts.manage import AlertError, acknowledge, history, list_alerts
from scheduler.status import alert_status, build_status

log = structlog.get_logger(__name__)

RequestId = Annotated[str, Path(min_length=1, max_length=64)]


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: Annotated[int, Field(ge=1, le=5, strict=True)]
    correction: StrictStr | None = None
    clarification_requested: StrictBool = False


class FeedbackOut(BaseModel):
    request_id: str
    rating: int
    correction: str | None
    clarification_requested: bool
    created_at: str


@dataclass(frozen=True)
class _Stored:
    feedback: FeedbackOut
    created: bool
    pool: str
    model: str


def _feedback_out(row: Feedback) -> FeedbackOut:
    return FeedbackOut(
        request_id=row.request_id,
        rating=row.rating,
        correction=row.correction,
        clarification_requested=row.clarification_requested,
        created_at=row.created_at.isoformat().replace("+00:00", "Z"),
    )


def _served_by(session: Session, request_id: str) -> tuple[str, str]:
    """Pool and model of the attempt that served the request (metric labels: names, never ids)."""
    attempt = session.scalar(
        select(Attempt).where(Attempt.request_id == request_id).order_by(Attempt.number.desc()).limit(1)
    )
    if attempt is not None:
        return attempt.pool or "cloud", attempt.model
    result = session.get(Result, request_id)
    return ((result.pool or "cloud"), result.model) if result else ("none", "none")


def store_feedback(session: Session, *, tenant: str, request_id: str, body: FeedbackIn) -> _Stored:
    """Feedback once per request; the same feedback again is a safe retry, different feedback a 409."""
    request = session.scalar(
        select(RequestRow).where(RequestRow.id == request_id, RequestRow.tenant == tenant)
    )
    if request is None:
        raise ApiError(404, "not_found", f"no request {request_id!r}")
    if request.status != RequestStatus.SUCCEEDED.value:
        raise ApiError(
            409, "request_not_succeeded", f"feedback is for succeeded requests; this one is {request.status}"
        )
    pool, model = _served_by(session, request_id)
    existing = session.get(Feedback, request_id)
    if existing is None:
        row = Feedback(
            request_id=request_id,
            tenant=tenant,
            rating=body.rating,
            correction=body.correction,
            clarification_requested=body.clarification_requested,
            created_at=utcnow(),
        )
        session.add(row)
        try:
            session.commit()
            return _Stored(_feedback_out(row), True, pool, model)
        except IntegrityError:
            session.rollback()  # another call stored feedback for this request first
            existing = session.get(Feedback, request_id)
            if existing is None:
                raise
    same = (existing.rating, existing.correction, existing.clarification_requested) == (
        body.rating,
        body.correction,
        body.clarification_requested,
    )
    if not same:
        raise ApiError(409, "feedback_exists", "this request already has different feedback")
    return _Stored(_feedback_out(existing), False, pool, model)


def monitoring_router(settings: Settings, tenant_of: Callable[..., str]) -> APIRouter:
    router = APIRouter()
    sessions = get_sessionmaker(settings.database_url)
    operator_of = operator_dependency(settings.operator_keys, settings.api_keys)

    @router.post("/v1/requests/{request_id}/feedback", response_model=FeedbackOut)
    async def post_feedback(
        request_id: RequestId, request: Request, tenant: Annotated[str, Depends(tenant_of)]
    ) -> JSONResponse:
        try:
            body = FeedbackIn.model_validate(await read_json_body(request, settings.max_body_bytes))
        except ValidationError as e:
            raise from_validation(e) from e
        if body.correction is not None:
            if not body.correction.strip():
                raise ApiError(422, "invalid_request", "correction: must not be empty", field="correction")
            if len(body.correction) > settings.max_message_chars:
                raise ApiError(
                    413,
                    "content_too_large",
                    f"correction: {len(body.correction)} characters, "
                    f"the limit is {settings.max_message_chars}",
                    field="correction",
                )

        def _store() -> _Stored:
            with sessions() as session:
                return store_feedback(session, tenant=tenant, request_id=request_id, body=body)

        stored = await run_in_threadpool(_store)
        if stored.created:
            metrics.RESPONSE_QUALITY.labels(pool=stored.pool, model=stored.model).observe(body.rating)
            metrics.FEEDBACK.labels(
                correction=str(body.correction is not None).lower(),
                clarification_requested=str(body.clarification_requested).lower(),
            ).inc()
        # Never the correction's text: logs carry no user content.
        log.info("api.feedback", request_id=request_id, tenant=tenant, rating=body.rating, new=stored.created)
        return JSONResponse(stored.feedback.model_dump(), status_code=201 if stored.created else 200)

    @router.get("/v1/status")
    async def get_status(_operator: Annotated[str, Depends(operator_of)]) -> dict[str, Any]:
        def _build() -> dict[str, Any]:
            with sessions() as session:
                view = build_status(
                    session,
                    now=utcnow(),
                    lag_s=settings.aggregation_lag_s,
                    health_window_s=settings.health_window_s,
                )
                return view.as_dict()

        return await run_in_threadpool(_build)

    @router.get("/v1/alerts")
    async def get_alerts(
        _operator: Annotated[str, Depends(operator_of)],
        closed_within_h: Annotated[float, Query(ge=0, le=24 * 90)] = 24.0,
    ) -> dict[str, Any]:
        def _list() -> list[dict[str, Any]]:
            since = utcnow() - dt.timedelta(hours=closed_within_h)
            with sessions() as session:
                return [asdict(alert_status(a)) for a in list_alerts(session, include_closed_since=since)]

        return {"alerts": await run_in_threadpool(_list)}

    @router.get("/v1/alerts/{alert_id}")
    async def get_alert(alert_id: int, _operator: Annotated[str, Depends(operator_of)]) -> dict[str, Any]:
        def _load() -> dict[str, Any] | None:
            with sessions() as session:
                alert = session.get(Alert, alert_id)
                if alert is None:
                    return None
                events = [
                    {"at": e.at.isoformat().replace("+00:00", "Z"), "kind": e.kind, "detail": e.detail}
                    for e in history(session, alert_id)
                ]
                return {**asdict(alert_status(alert)), "history": events}

        found = await run_in_threadpool(_load)
        if found is None:
            raise ApiError(404, "not_found", f"no alert {alert_id}")
        return found

    @router.post("/v1/alerts/{alert_id}/ack")
    async def ack_alert(alert_id: int, operator: Annotated[str, Depends(operator_of)]) -> dict[str, Any]:
        def _ack() -> dict[str, Any]:
            with sessions() as session, session.begin():
                alert = acknowledge(session, alert_id=alert_id, by=operator, now=utcnow())
                return asdict(alert_status(alert))

        try:
            acked = await run_in_threadpool(_ack)
        except AlertError as e:
            raise ApiError(404 if e.code == "not_found" else 409, e.code, e.message) from e
        log.info("api.alert_acknowledged", alert_id=alert_id, operator=operator)
        return acked

    return router
