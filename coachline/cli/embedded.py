"""The embedded default: API, router, pool workers, cloud worker, beat and simulated engines in one
process, over Celery's in-memory transport and SQLite. The same tasks and code as production."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import structlog
from fastapi import FastAPI

import migrations
from broker.queues import CLOUD_QUEUE, FINETUNE_QUEUE, ROUTER_QUEUE, SCHEDULER_QUEUE
from broker.runtime import Runtime
from broker.worker import WorkerThread, start_beat_thread, start_worker_thread
from coachline.cli.runtime import build, build_api
from coachline.events import CompletionWaiter, LocalPublisher
from coachline.settings import Settings
from workers.sim.config import SimConfig
from workers.sim.server import SimHandle, start_in_thread

log = structlog.get_logger(__name__)

MEMORY_BROKER = "memory://"
DEV_API_KEY = "dev-key"
ROUTER_CONCURRENCY = 4
CLOUD_CONCURRENCY = 64


@dataclass
class Embedded:
    runtime: Runtime
    api: FastAPI
    sims: list[SimHandle] = field(default_factory=list)
    workers: list[WorkerThread] = field(default_factory=list)
    beat: object | None = None

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.beat is not None:
            self.beat.stop()  # type: ignore[attr-defined]
        for sim in self.sims:
            sim.stop()


def embedded_environment(data_dir: Path) -> None:
    """Defaults for a machine with nothing installed: SQLite in ``data_dir`` and a development key."""
    os.environ.setdefault("COACHLINE_DATABASE_URL", f"sqlite:///{data_dir.resolve() / 'coachline.db'}")
    os.environ.setdefault("COACHLINE_API_KEYS", f'{{"{DEV_API_KEY}": "demo"}}')


def _host_port(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"engine URL {base_url} has no host and port to start a simulator on")
    return parts.hostname, parts.port


def start_simulators(settings: Settings) -> list[SimHandle]:
    """A simulator for every engine whose pool names a ``sim_profile``, and for the cloud."""
    handles: list[SimHandle] = []
    try:
        for pool in settings.pools.pools:
            if pool.sim_profile is None:
                continue
            for engine in pool.engines:
                host, port = _host_port(engine.base_url)
                config = SimConfig.from_profile(
                    pool.sim_profile, model=pool.model, max_num_seqs=pool.max_num_seqs
                )
                handles.append(start_in_thread(config, host, port))
        cloud = settings.pools.cloud
        if cloud is not None and cloud.sim_profile is not None:
            host, port = _host_port(cloud.base_url)
            handles.append(
                start_in_thread(SimConfig.from_profile(cloud.sim_profile, model=cloud.model), host, port)
            )
    except BaseException:
        for handle in handles:
            handle.stop()
        raise
    return handles


def start(settings: Settings, *, with_beat: bool = True) -> Embedded:
    """Start everything but the HTTP server; the caller serves ``Embedded.api``."""
    migrations.upgrade(settings.database_url)
    waiter = CompletionWaiter()
    runtime = build(settings, broker_url=MEMORY_BROKER, events=LocalPublisher(waiter), shared_state="memory")
    embedded = Embedded(runtime=runtime, api=build_api(runtime, waiter))
    try:
        embedded.sims = start_simulators(settings)
        app = runtime.app
        embedded.workers.append(
            start_worker_thread(
                app, queues=[ROUTER_QUEUE], concurrency=ROUTER_CONCURRENCY, hostname="router@embedded"
            )
        )
        for pool in settings.pools.pools:
            embedded.workers.append(
                start_worker_thread(
                    app,
                    queues=[pool.queue],
                    concurrency=pool.max_num_seqs * len(pool.engines),
                    hostname=f"{pool.name}@embedded",
                )
            )
        if settings.pools.cloud is not None:
            embedded.workers.append(
                start_worker_thread(
                    app, queues=[CLOUD_QUEUE], concurrency=CLOUD_CONCURRENCY, hostname="cloud@embedded"
                )
            )
        embedded.workers.append(
            start_worker_thread(
                app, queues=[SCHEDULER_QUEUE, FINETUNE_QUEUE], concurrency=2, hostname="scheduler@embedded"
            )
        )
        if with_beat:
            embedded.beat = start_beat_thread(app)
    except BaseException:
        embedded.stop()
        raise
    log.info("embedded.started", pools=[p.name for p in settings.pools.pools], sims=len(embedded.sims))
    return embedded


@contextlib.contextmanager
def running(settings: Settings, *, with_beat: bool = True) -> Iterator[Embedded]:
    embedded = start(settings, with_beat=with_beat)
    try:
        yield embedded
    finally:
        embedded.stop()
