"""Thin Celery wrappers around the scheduler's plain functions."""

from __future__ import annotations

import structlog
from celery import Celery
from kombu.exceptions import ChannelError

from broker.publish import publish
from broker.queues import REAP_TASK, SCHEDULER_QUEUE, all_queues
from broker.runtime import Runtime
from coachline.db.session import session_scope
from coachline.db.types import utcnow
from coachline.telemetry import metrics
from scheduler import monitor
from scheduler.reaper import reap

log = structlog.get_logger(__name__)


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

    # Monitoring: each task runs for the `now` it is sent with (beat sends none: the clock), so a
    # redelivered or duplicated message recomputes the same windows and changes nothing.
    @app.task(name=monitor.AGGREGATE_TASK, shared=False, acks_late=True, reject_on_worker_lost=True)
    def aggregate_task(now: str | None = None) -> dict[str, object]:
        at = monitor.parse_now(now)
        summary = monitor.run_aggregation(settings, now=at)
        # Alerts read the rollups just written, so evaluation follows each aggregation.
        publish(app, monitor.EVALUATE_ALERTS_TASK, [at.isoformat()], queue=SCHEDULER_QUEUE)
        sample_queue_depths()
        return summary

    @app.task(name=monitor.EVALUATE_ALERTS_TASK, shared=False, acks_late=True, reject_on_worker_lost=True)
    def evaluate_alerts_task(now: str | None = None) -> dict[str, object]:
        return monitor.run_alert_evaluation(settings, now=monitor.parse_now(now))

    @app.task(name=monitor.SCORE_QUALITY_TASK, shared=False, acks_late=True, reject_on_worker_lost=True)
    def score_quality_task(now: str | None = None) -> dict[str, object]:
        return monitor.run_quality_scoring(settings, now=monitor.parse_now(now))

    def sample_queue_depths() -> None:
        try:
            with app.connection_for_read() as conn:
                for queue in all_queues(settings.pools):
                    try:
                        depth = conn.default_channel.queue_declare(queue=queue, passive=True).message_count
                    except ChannelError:  # Redis: no list for an empty queue; RabbitMQ: not declared yet
                        depth = 0
                    metrics.QUEUE_DEPTH.labels(queue=queue).set(depth)
        except Exception as e:  # a broker hiccup must not fail the aggregation that already committed
            metrics.SCHEDULER_FAILURES.labels(task="queue_depth").inc()
            log.warning("scheduler.queue_depth_failed", error=type(e).__name__)
