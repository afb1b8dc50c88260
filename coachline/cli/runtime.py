"""Composition: build the Celery app with every task registered, for one role or the embedded default."""

from __future__ import annotations

from celery import Celery

import router.tasks
import scheduler.tasks
import workers.tasks
from broker.app import create_app
from broker.runtime import Runtime
from coachline.events import EventPublisher, RedisPublisher
from coachline.settings import Settings
from scheduler.schedule import beat_schedule


class _NoEvents:
    """Without Redis, long-polls find completions on their next database read."""

    def publish_done(self, request_id: str, status: str) -> None:
        return None


def default_events(settings: Settings) -> EventPublisher:
    url = settings.event_redis_url
    return RedisPublisher(url) if url else _NoEvents()


def build(
    settings: Settings, *, broker_url: str | None = None, events: EventPublisher | None = None
) -> Runtime:
    """The Celery app with every task registered explicitly, and the runtime the tasks share."""
    app: Celery = create_app(settings, broker_url=broker_url)
    app.conf.beat_schedule = beat_schedule()
    runtime = Runtime(settings=settings, app=app, events=events or default_events(settings))
    router.tasks.register(app, runtime)
    workers.tasks.register(app, runtime)
    scheduler.tasks.register(app, runtime)
    return runtime
