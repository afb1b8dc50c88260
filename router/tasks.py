"""Thin Celery wrapper around the route step."""

from __future__ import annotations

import time

import structlog
from celery import Celery

from broker.publish import publish_after_commit
from broker.queues import GENERATE_TASK, ROUTE_TASK
from broker.runtime import Runtime
from coachline.db.session import session_scope
from coachline.telemetry.logs import task_context
from router.load import PoolEstimate, estimate
from router.policy import Thresholds, decide
from router.route import route_request


def register(app: Celery, runtime: Runtime) -> None:
    settings = runtime.settings
    thresholds = Thresholds(fast_max=settings.tier_fast_max, standard_max=settings.tier_standard_max)

    def estimator(pool: str) -> PoolEstimate:
        return estimate(pool, runtime.load_reader.read(pool), now=time.time())

    # Compile the detectors now, so the first request's decision time is not the start-up's.
    decide([{"role": "user", "content": "warm up"}], {}, settings.pools, thresholds)

    @app.task(name=ROUTE_TASK, shared=False, acks_late=True, reject_on_worker_lost=True)
    def route(request_id: str) -> None:
        with task_context(ROUTE_TASK, request_id), session_scope(settings.database_url) as session:
            routed = route_request(
                session, request_id, pools=settings.pools, thresholds=thresholds, estimator=estimator
            )
            if routed is not None:
                structlog.contextvars.bind_contextvars(
                    tier=routed.decision.tier.value, pool=routed.decision.pool or "cloud"
                )
                publish_after_commit(session, app, GENERATE_TASK, [request_id], queue=routed.queue)
