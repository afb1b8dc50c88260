"""Thin Celery wrappers around the scheduler's plain functions."""

from __future__ import annotations

import structlog
from celery import Celery
from kombu.exceptions import ChannelError
from sqlalchemy.orm import Session

from broker.publish import publish, publish_after_commit
from broker.queues import FINETUNE_QUEUE, REAP_TASK, SCHEDULER_QUEUE, all_queues
from broker.runtime import Runtime
from coachline.db.session import session_scope
from coachline.telemetry import metrics
from scheduler import monitor
from scheduler.finetune import service as finetune
from scheduler.finetune.trainers import trainer_from_settings
from scheduler.gates import service as gates
from scheduler.reaper import reap

log = structlog.get_logger(__name__)


def register(app: Celery, runtime: Runtime) -> None:
    settings = runtime.settings

    @app.task(name=REAP_TASK, shared=False, acks_late=True, reject_on_worker_lost=True)
    def reap_task(now: str | None = None) -> dict[str, int]:
        with session_scope(settings.database_url) as session:
            result = reap(
                session,
                now=monitor.parse_now(now),
                requeue_after_s=settings.requeue_after_s,
                # No live worker runs an attempt longer than its lease (engine timeout + 30 s).
                attempt_grace_s=settings.engine_timeout_s + 30 + settings.requeue_after_s,
                pools=settings.pools,
            )
        for item in result.republish:
            try:
                publish(app, item.task, [item.request_id], queue=item.queue)
            except Exception as e:  # the request stays lost-looking; the next run publishes it again
                metrics.PUBLISH_FAILURES.labels(task=item.task).inc()
                log.error("scheduler.republish_failed", request_id=item.request_id, error=type(e).__name__)
                continue
            metrics.REQUEUED.labels(stage=item.stage).inc()
        for status, ids in (("expired", result.expired), ("failed", result.failed)):
            for request_id in ids:
                metrics.REQUESTS_FINISHED.labels(status=status, processing_mode="none").inc()
                runtime.events.publish_done(request_id, status)
        metrics.REAPED_ATTEMPTS.inc(result.closed_attempts)
        return {
            "expired": len(result.expired),
            "failed": len(result.failed),
            "republished": len(result.republish),
            "closed_attempts": result.closed_attempts,
        }

    # Model lifecycle: the fine-tune trigger (every few minutes), training (finetune queue), the
    # nightly gates (sent hourly; the step runs each phase once a day). `now` as for monitoring.
    def enqueue_training(session: Session, job_id: str) -> None:
        publish_after_commit(session, app, finetune.FINETUNE_TRAIN_TASK, [job_id], queue=FINETUNE_QUEUE)

    @app.task(name=finetune.FINETUNE_CHECK_TASK, shared=False, acks_late=True, reject_on_worker_lost=True)
    def finetune_check_task(now: str | None = None) -> dict[str, object]:
        return finetune.run_check(settings, now=monitor.parse_now(now), enqueue=enqueue_training)

    @app.task(name=finetune.FINETUNE_TRAIN_TASK, shared=False, acks_late=True, reject_on_worker_lost=True)
    def finetune_train_task(job_id: str, now: str | None = None) -> dict[str, object]:
        trainer = trainer_from_settings(settings)
        return finetune.run_training(
            settings, job_id, now=monitor.parse_now(now), redact=runtime.redact, trainer=trainer
        )

    @app.task(name=gates.EVALUATE_GATES_TASK, shared=False, acks_late=True, reject_on_worker_lost=True)
    def evaluate_gates_task(now: str | None = None) -> dict[str, object]:
        return gates.run_nightly(settings, now=monitor.parse_now(now))

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
