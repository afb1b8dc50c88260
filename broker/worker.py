"""Running Celery workers and beat: as this process (CLI) or as threads inside it (embedded, tests)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from celery import Celery
from celery.beat import EmbeddedService, Scheduler
from celery.worker import WorkController


@dataclass
class WorkerThread:
    controller: WorkController
    thread: threading.Thread

    def stop(self) -> None:
        """Warm shutdown: stop consuming and let in-flight tasks finish."""
        self.controller.stop(in_sighandler=False)
        self.thread.join(timeout=30)


def start_worker_thread(
    app: Celery, *, queues: Sequence[str], concurrency: int, hostname: str, loglevel: str = "WARNING"
) -> WorkerThread:
    """A worker with a thread pool, consuming ``queues`` from a thread of this process."""
    # The thread pool looks tasks up on the process's default app, as celery's own test worker
    # arranges; one app per process is the rule outside tests.
    app.set_current()
    app.set_default()
    ready = threading.Event()
    controller = WorkController(
        app=app,
        hostname=hostname,
        queues=list(queues),
        pool_cls="threads",
        concurrency=concurrency,
        loglevel=loglevel,
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        ready_callback=lambda _consumer: ready.set(),
    )
    thread = threading.Thread(target=controller.start, name=f"celery-{hostname}", daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError(f"worker {hostname} did not start within 30 s")
    return WorkerThread(controller, thread)


def worker_argv(
    *, queues: Sequence[str], concurrency: int, hostname: str, loglevel: str, pool: str = "threads"
) -> list[str]:
    """Arguments for ``app.worker_main``: one worker process consuming ``queues``."""
    return [
        "worker",
        f"--queues={','.join(queues)}",
        f"--pool={pool}",
        f"--concurrency={concurrency}",
        f"--hostname={hostname}",
        f"--loglevel={loglevel}",
        "--without-heartbeat",
        "--without-mingle",
        "--without-gossip",
    ]


class MemoryScheduler(Scheduler):
    """A beat scheduler that keeps its state in memory (the schedule is code; nothing to persist)."""


def start_beat_thread(app: Celery) -> object:
    service = EmbeddedService(app, thread=True, scheduler_cls=MemoryScheduler)
    service.start()  # type: ignore[attr-defined]
    return service
