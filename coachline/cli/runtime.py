"""Composition: build the Celery app with every task registered, for one role or the embedded default."""

from __future__ import annotations

from celery import Celery
from fastapi import FastAPI

import router.tasks
import scheduler.tasks
import workers.tasks
from broker.api.app import create_api
from broker.app import create_app
from broker.runtime import Runtime
from coachline.cooldown import CooldownStore, MemoryCooldowns, RedisCooldowns
from coachline.errors import ConfigError
from coachline.events import CompletionWaiter, EventPublisher, RedisPublisher
from coachline.loadsnap import CachedLoadReader, LoadStore, MemoryLoadStore, RedisLoadStore
from coachline.settings import Settings
from router.scoring import redact_messages
from scheduler.api.lifecycle import lifecycle_router
from scheduler.api.monitoring import monitoring_router
from scheduler.schedule import beat_schedule


class _NoEvents:
    """Without Redis, long-polls find completions on their next database read."""

    def publish_done(self, request_id: str, status: str) -> None:
        return None


def default_events(settings: Settings) -> EventPublisher:
    url = settings.event_redis_url
    return RedisPublisher(url) if url else _NoEvents()


def build(
    settings: Settings,
    *,
    broker_url: str | None = None,
    events: EventPublisher | None = None,
    shared_state: str = "auto",
) -> Runtime:
    """The Celery app with every task registered explicitly, and the runtime the tasks share.

    ``shared_state`` is where cooldowns and the load snapshot live: ``redis`` (every process of a
    deployment sees them), ``memory`` (one process: the embedded default) or ``auto`` (Redis when
    one is configured).
    """
    app: Celery = create_app(settings, broker_url=broker_url)
    app.conf.beat_schedule = beat_schedule()
    redis_url = settings.event_redis_url
    use_redis = shared_state == "redis" or (shared_state == "auto" and redis_url is not None)
    cooldowns: CooldownStore
    loads: LoadStore
    if use_redis:
        if redis_url is None:
            raise ConfigError("COACHLINE_REDIS_URL is needed for shared cooldowns and load snapshots")
        cooldowns = RedisCooldowns(
            redis_url, failures=settings.engine_cooldown_failures, cooldown_s=settings.engine_cooldown_s
        )
        loads = RedisLoadStore(redis_url)
    else:
        cooldowns = MemoryCooldowns(
            failures=settings.engine_cooldown_failures, cooldown_s=settings.engine_cooldown_s
        )
        loads = MemoryLoadStore()
    runtime = Runtime(
        settings=settings,
        app=app,
        events=events or default_events(settings),
        cooldowns=cooldowns,
        loads=loads,
        load_reader=CachedLoadReader(loads),
        redact=redact_messages,
    )
    router.tasks.register(app, runtime)
    workers.tasks.register(app, runtime)
    scheduler.tasks.register(app, runtime)
    return runtime


def build_api(runtime: Runtime, waiter: CompletionWaiter) -> FastAPI:
    """The producer API with the scheduler's routers (feedback, status, alerts, gates) mounted."""
    return create_api(runtime, waiter, routers=(monitoring_router, lifecycle_router))
