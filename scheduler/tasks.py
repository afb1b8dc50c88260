"""Thin Celery wrappers around the scheduler's plain functions."""

from __future__ import annotations

from celery import Celery

from broker.publish import publish
from broker.queues import REAP_TASK
from broker.runtime import Runtime
from coachline.db.session import session_scope
from coachline.db.types import utcnow
from coachline.telemetry import metrics
from scheduler.reaper import reap


def register(app: Celery, runtime: Runtime) -> None:
    settings = runtime.settings

    @app.task(name=REAP_TASK, shared=False, acks_late=True, reject_on_worker_lost=True)
    def reap_task() -> dict[str, int]:
        with session_scope(settings.database_url) as session:
            result = reap(session, now=utcnow(), requeue_after_s=settings.requeue_after_s)
        for item in result.republish:
            publish(app, item.task, [item.request_id], queue=item.queue)
            metrics.REQUEUED.labels(stage=item.stage).inc()
        for request_id in result.expired:
            metrics.REQUESTS_FINISHED.labels(status="expired", processing_mode="none").inc()
            runtime.events.publish_done(request_id, "expired")
        return {"expired": len(result.expired), "republished": len(result.republish)}
