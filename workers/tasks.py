"""Thin Celery wrapper around the generate step."""

from __future__ import annotations

import structlog
from celery import Celery, Task
from sqlalchemy.exc import OperationalError

from broker.queues import GENERATE_TASK
from broker.runtime import Runtime
from coachline.db.session import session_scope
from coachline.telemetry import metrics
from coachline.telemetry.logs import task_context
from workers.errors import EngineError
from workers.generate import (
    Finished,
    Job,
    Outcome,
    Retry,
    claim,
    cost_usd,
    record_success_metrics,
    run_engine,
    store_failure,
    store_success,
)


def register(app: Celery, runtime: Runtime) -> None:
    settings = runtime.settings
    url = settings.database_url

    # A database outage is retried (the message is still ours); engine errors are decided below.
    @app.task(
        name=GENERATE_TASK,
        shared=False,  # each app gets its own closure; never a process-wide registry
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        max_retries=None,
        autoretry_for=(OperationalError,),
        retry_backoff=True,
        retry_backoff_max=30,
    )
    def generate(self: Task, request_id: str) -> None:
        with task_context(GENERATE_TASK, request_id):
            _generate(self, request_id)

    def _generate(self: Task, request_id: str) -> None:
        with session_scope(url) as session:
            claimed = claim(session, request_id, settings=settings, cooldowns=runtime.cooldowns)
        outcome: Outcome
        if isinstance(claimed, Job):
            structlog.contextvars.bind_contextvars(
                tier=claimed.tier,
                pool=claimed.target.pool or "cloud",
                processing_mode=claimed.target.processing_mode,
            )
            outcome = _attempt(claimed)
        else:
            outcome = claimed
        if isinstance(outcome, Retry):
            raise self.retry(countdown=outcome.countdown_s)
        if isinstance(outcome, Finished):
            metrics.REQUESTS_FINISHED.labels(
                status=outcome.status.value, processing_mode=outcome.processing_mode
            ).inc()
            runtime.events.publish_done(request_id, outcome.status.value)

    def _attempt(job: Job) -> Outcome:
        try:
            completion, share = run_engine(job, settings=settings)
        except EngineError as e:
            with session_scope(url) as session:
                return store_failure(session, job, e, settings=settings, cooldowns=runtime.cooldowns)
        cost = cost_usd(job, completion, share, settings.pools)
        with session_scope(url) as session:
            finished = store_success(session, job, completion, cost)
        runtime.cooldowns.record_success(job.target.base_url)
        if finished is not None:
            record_success_metrics(job, completion, cost)
        return finished
