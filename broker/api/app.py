"""The producer API: accept, validate, store, then enqueue; answer status with long-polling."""

# No `from __future__ import annotations` here: FastAPI reads these signatures at run time.

import time
from collections.abc import Callable, Sequence
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from broker.api.auth import tenant_dependency
from broker.api.body import read_json_body
from broker.api.errors import (
    ApiError,
    api_error_handler,
    from_validation,
    http_error_handler,
    validation_error_handler,
)
from broker.api.preferences import preferences_router
from broker.api.schemas import Accepted, CreateRequest, RequestView
from broker.api.service import check_limits, create_request, load_status, load_view
from broker.publish import publish
from broker.queues import ROUTE_TASK, ROUTER_QUEUE
from broker.runtime import Runtime
from coachline.db.session import get_sessionmaker
from coachline.domain import RequestStatus
from coachline.events import CompletionWaiter
from coachline.settings import Settings
from coachline.telemetry import metrics

log = structlog.get_logger(__name__)

# A long-poll re-reads the database at least this often, so a lost event only delays it.
_POLL_EVERY_S = 0.5
_MAX_IDEMPOTENCY_KEY = 200


# Builds a router from the settings and the tenant dependency (see coachline.cli.runtime.build_api).
RouterFactory = Callable[[Settings, Callable[..., str]], APIRouter]


def create_api(
    runtime: Runtime, waiter: CompletionWaiter, *, routers: Sequence[RouterFactory] = ()
) -> FastAPI:
    """The producer API; ``routers`` are mounted too (the scheduler's, by the composition root)."""
    settings = runtime.settings
    sessions = get_sessionmaker(settings.database_url)

    api = FastAPI(title="coachline", version="1", docs_url="/docs", redoc_url=None)
    api.add_exception_handler(ApiError, api_error_handler)
    api.add_exception_handler(RequestValidationError, validation_error_handler)
    api.add_exception_handler(StarletteHTTPException, http_error_handler)

    tenant_of = tenant_dependency(settings.api_keys)
    api.include_router(preferences_router(settings, tenant_of))
    for factory in routers:
        api.include_router(factory(settings, tenant_of))

    @api.post("/v1/requests", status_code=202, response_model=Accepted)
    async def post_request(
        request: Request,
        tenant: str = Depends(tenant_of),
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        body = await read_json_body(request, settings.max_body_bytes)
        if idempotency_key is not None and not 0 < len(idempotency_key) <= _MAX_IDEMPOTENCY_KEY:
            raise ApiError(
                400,
                "invalid_idempotency_key",
                f"Idempotency-Key must be 1 to {_MAX_IDEMPOTENCY_KEY} characters",
            )
        try:
            parsed = CreateRequest.model_validate(body)
        except ValidationError as e:
            raise from_validation(e) from e
        check_limits(parsed, settings=settings)

        def _accept() -> tuple[str, str, bool]:
            with sessions() as session:
                created = create_request(
                    session, tenant=tenant, body=parsed, idempotency_key=idempotency_key, settings=settings
                )
            if created.new:
                metrics.REQUESTS_ACCEPTED.inc()
                try:
                    publish(runtime.app, ROUTE_TASK, [created.id], queue=ROUTER_QUEUE)
                except Exception as e:
                    metrics.PUBLISH_FAILURES.labels(task=ROUTE_TASK).inc()
                    log.error("api.publish_failed", request_id=created.id, error=type(e).__name__)
            return created.id, created.status, created.new

        request_id, status, new = await run_in_threadpool(_accept)
        log.info("api.accepted", request_id=request_id, tenant=tenant, replay=not new)
        return JSONResponse({"id": request_id, "status": status}, status_code=202)

    @api.get("/v1/requests/{request_id}", response_model=RequestView)
    async def get_request(
        request_id: str,
        tenant: str = Depends(tenant_of),
        wait_s: Annotated[float, Query(ge=0, le=settings.max_wait_s)] = 0.0,
    ) -> RequestView:
        def _load() -> RequestView | None:
            with sessions() as session:
                return load_view(session, tenant=tenant, request_id=request_id)

        def _status() -> str | None:
            with sessions() as session:
                return load_status(session, tenant=tenant, request_id=request_id)

        deadline = time.monotonic() + wait_s
        while wait_s > 0:
            # Watch before reading, so a completion between the read and the wait still wakes us.
            with waiter.watch(request_id) as watch:
                status = await run_in_threadpool(_status)
                if status is None:
                    raise ApiError(404, "not_found", f"no request {request_id!r}")
                remaining = deadline - time.monotonic()
                if RequestStatus(status).is_terminal or remaining <= 0:
                    break
                await watch.wait(min(remaining, _POLL_EVERY_S))
        view = await run_in_threadpool(_load)
        if view is None:
            raise ApiError(404, "not_found", f"no request {request_id!r}")
        return view

    @api.get("/healthz")
    async def healthz() -> JSONResponse:
        checks = await run_in_threadpool(_health_checks, runtime)
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", **checks}, status_code=200 if ok else 503
        )

    @api.get("/metrics")
    async def get_metrics() -> Response:
        payload, content_type = metrics.render_metrics()
        return Response(payload, media_type=content_type)

    return api


def _health_checks(runtime: Runtime) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        with get_sessionmaker(runtime.settings.database_url)() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as e:
        checks["database"] = f"error: {type(e).__name__}"
    try:
        with runtime.app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as e:
        checks["broker"] = f"error: {type(e).__name__}"
    return checks
