"""The one Celery app: explicit queues, explicit task names, at-least-once delivery.

``create_app(settings)`` builds it; tasks are registered by each part's ``tasks.register(app)``
(nothing registers itself on import).
"""

from __future__ import annotations

from celery import Celery
from kombu import Exchange, Queue

from broker.queues import ROUTE_TASK, ROUTER_QUEUE, all_queues
from coachline.settings import Settings


def create_app(settings: Settings, *, broker_url: str | None = None) -> Celery:
    """A Celery app for ``settings``; ``broker_url`` overrides the configured broker (embedded mode)."""
    url = broker_url or settings.broker_url
    app = Celery("coachline", broker=url, set_as_current=False)
    exchange = Exchange("coachline", type="direct", durable=True)
    app.conf.update(
        task_queues=[
            Queue(name, exchange, routing_key=name, durable=True) for name in all_queues(settings.pools)
        ],
        task_default_queue=ROUTER_QUEUE,
        task_default_exchange="coachline",
        task_default_routing_key=ROUTER_QUEUE,
        task_create_missing_queues=False,
        task_routes={ROUTE_TASK: {"queue": ROUTER_QUEUE}},
        # At-least-once: a task is acknowledged after it ran, and a worker that dies mid-task
        # gives its message back. Every task is idempotent on redelivery.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_time_limit=settings.task_time_limit_s,
        task_soft_time_limit=settings.task_time_limit_s - 5,
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        broker_transport_options={
            # Longer than the longest task, so Redis does not redeliver a task still running.
            "visibility_timeout": settings.visibility_timeout_s,
            "polling_interval": 0.01,
        },
    )
    return app
