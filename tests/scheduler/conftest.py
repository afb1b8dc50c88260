"""Fixtures for monitoring tests: a webhook receiver on 127.0.0.1 and the scheduler's tasks run by a
real Celery worker (threads in this process) on Redis and PostgreSQL, with time passed in."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from broker.publish import publish
from broker.queues import SCHEDULER_QUEUE
from broker.runtime import Runtime
from broker.worker import start_worker_thread
from coachline.cli.runtime import build
from coachline.db.monitoring import SchedulerRun
from coachline.db.session import session_scope
from coachline.settings import Settings
from scheduler.monitor import AGGREGATE_TASK, EVALUATE_ALERTS_TASK, SCORE_QUALITY_TASK
from tests.support import write_pools_file

T0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)


@dataclass
class Webhook:
    """A Slack-compatible incoming webhook that records what it receives."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0  # answer 500 to this many posts first
    lock: threading.Lock = field(default_factory=threading.Lock)

    def texts(self) -> list[str]:
        with self.lock:
            return [m["text"] for m in self.received]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with hook.lock:
                failing = hook.fail_next > 0
                if failing:
                    hook.fail_next -= 1
                else:
                    hook.received.append(body)
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Beat:
    """Sends the scheduler's tasks, as beat would, for a chosen ``now`` and waits for them."""

    runtime: Runtime
    settings: Settings

    def _wait(self, task: str, now: dt.datetime, timeout_s: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with session_scope(self.settings.database_url) as session:
                run = session.scalar(select(SchedulerRun).where(SchedulerRun.task == task))
                if run is not None and run.last_now == now:
                    return dict(run.detail)
            time.sleep(0.02)
        raise AssertionError(f"{task} did not run for {now.isoformat()} within {timeout_s} s")

    def tick(self, now: dt.datetime) -> dict[str, Any]:
        """One minute of beat: aggregate (which then sends the alert evaluation); waits for both."""
        publish(self.runtime.app, AGGREGATE_TASK, [now.isoformat()], queue=SCHEDULER_QUEUE)
        self._wait(AGGREGATE_TASK, now)
        return self._wait(EVALUATE_ALERTS_TASK, now)

    def score_quality(self, now: dt.datetime) -> dict[str, Any]:
        publish(self.runtime.app, SCORE_QUALITY_TASK, [now.isoformat()], queue=SCHEDULER_QUEUE)
        return self._wait(SCORE_QUALITY_TASK, now)


def monitor_settings(tmp_path: Path, database_url: str, broker_url: str, **overrides: Any) -> Settings:
    pools = write_pools_file(tmp_path / "pools.yaml", fast_ports=[9], standard_ports=[9], cloud_port=9)
    return Settings(database_url=database_url, broker_url=broker_url, pools_file=pools, **overrides)


@pytest.fixture
def make_beat(tmp_path: Path, pg_url: str, redis_url: str) -> Iterator[Any]:
    """``make_beat(**settings)``: a scheduler worker on Redis DB and a fresh PostgreSQL database."""
    with ExitStack() as stack:

        def make(**overrides: Any) -> Beat:
            settings = monitor_settings(tmp_path, pg_url, redis_url, **overrides)
            runtime = build(settings)
            worker = start_worker_thread(
                runtime.app, queues=[SCHEDULER_QUEUE], concurrency=2, hostname=f"sched-{id(runtime)}@test"
            )
            stack.callback(worker.stop)
            return Beat(runtime, settings)

        yield make
