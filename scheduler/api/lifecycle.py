"""Model lifecycle endpoints, for operators: external metrics for the gates, gate evaluations and
reports, fine-tune jobs.

The logic is the scheduler's plain functions (``scheduler.gates``, ``scheduler.finetune``), so the
API, the CLI and beat evaluate gates and list jobs the same way.
"""

# No `from __future__ import annotations` here: FastAPI reads these signatures at run time.
from collections.abc import Callable
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator

from broker.api.auth import operator_dependency
from broker.api.body import read_json_body
from broker.api.errors import ApiError, from_validation
from coachline.db.session import get_sessionmaker
from coachline.db.types import utcnow
from coachline.settings import Settings
from scheduler.finetune.service import list_jobs
from scheduler.gates.external import ExternalMetricError, latest_values, record_external
from scheduler.gates.report import render_markdown
from scheduler.gates.service import gates_of, latest_report, run_evaluation

log = structlog.get_logger(__name__)

Phase = Annotated[str, Path(min_length=1, max_length=32)]


class ExternalMetricIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: Annotated[StrictStr, Field(min_length=1, max_length=100)]
    value: float
    source: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    measured_at: AwareDatetime

    @field_validator("value", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        # JSON numbers only: "12" or true would be coerced silently otherwise.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        return value


def lifecycle_router(settings: Settings, tenant_of: Callable[..., str]) -> APIRouter:
    """Operator endpoints (``tenant_of`` is unused: gates and jobs are not a tenant's)."""
    del tenant_of
    router = APIRouter()
    sessions = get_sessionmaker(settings.database_url)
    operator_of: Callable[..., str] = operator_dependency(settings.operator_keys, settings.api_keys)
    gates_of(settings)  # a broken COACHLINE_GATES_FILE stops the API at start, not on a request

    @router.post("/v1/metrics/external")
    async def post_external_metric(
        request: Request, operator: Annotated[str, Depends(operator_of)]
    ) -> JSONResponse:
        try:
            body = ExternalMetricIn.model_validate(await read_json_body(request, settings.max_body_bytes))
        except ValidationError as e:
            raise from_validation(e) from e

        def _store() -> tuple[dict[str, Any], bool]:
            with sessions() as session:
                return record_external(
                    session,
                    gates_of(settings),
                    metric=body.metric,
                    value=body.value,
                    source=body.source,
                    measured_at=body.measured_at,
                    received_by=operator,
                    now=utcnow(),
                )

        try:
            stored, created = await run_in_threadpool(_store)
        except ExternalMetricError as e:
            raise ApiError(e.status, e.code, e.message, field=e.field) from e
        log.info(
            "api.external_metric", metric=body.metric, source=body.source, operator=operator, new=created
        )
        return JSONResponse(stored, status_code=201 if created else 200)

    @router.get("/v1/metrics/external")
    async def get_external_metrics(_operator: Annotated[str, Depends(operator_of)]) -> dict[str, Any]:
        def _list() -> list[dict[str, Any]]:
            with sessions() as session:
                return latest_values(session, gates_of(settings))

        return {"metrics": await run_in_threadpool(_list)}

    @router.post("/v1/gates/{phase}/evaluate")
    async def evaluate_gates(
        phase: Phase,
        operator: Annotated[str, Depends(operator_of)],
        window_h: Annotated[int | None, Query(ge=1, le=24 * 366)] = None,
    ) -> JSONResponse:
        if phase not in gates_of(settings).phases:
            raise ApiError(
                404, "not_found", f"no phase {phase!r} (phases: {', '.join(gates_of(settings).phases)})"
            )

        def _run() -> dict[str, Any]:
            return run_evaluation(
                settings, phase=phase, now=utcnow(), trigger="api", requested_by=operator, window_h=window_h
            )

        report = await run_in_threadpool(_run)
        return JSONResponse(report, status_code=201)

    @router.get("/v1/gates/{phase}/report", response_model=None)
    async def get_gate_report(
        phase: Phase,
        _operator: Annotated[str, Depends(operator_of)],
        format: Annotated[str, Query(pattern="^(json|md)$")] = "json",
    ) -> Response | dict[str, Any]:
        def _load() -> dict[str, Any] | None:
            with sessions() as session:
                row = latest_report(session, phase)
                return None if row is None else {"id": row.id, "trigger": row.trigger, **row.report}

        report = await run_in_threadpool(_load)
        if report is None:
            raise ApiError(404, "not_found", f"no report for phase {phase!r} yet")
        if format == "md":
            return PlainTextResponse(render_markdown(report), media_type="text/markdown")
        return report

    @router.get("/v1/finetune/jobs")
    async def get_finetune_jobs(
        _operator: Annotated[str, Depends(operator_of)],
        model: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 20,
    ) -> dict[str, Any]:
        def _list() -> list[dict[str, Any]]:
            with sessions() as session:
                return list_jobs(session, model=model, limit=limit)

        return {"jobs": await run_in_threadpool(_list)}

    return router
