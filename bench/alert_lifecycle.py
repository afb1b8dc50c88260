"""A scripted latency regression and one alert's life, shown through `coachline status`.

Writes synthetic traffic minute by minute (25 requests a minute, stored the way the generate step
stores them), runs the real beat tasks (scheduler.aggregate, which sends scheduler.evaluate_alerts)
on a real Celery worker in this process, with a simulated clock, and prints `coachline status --at`
(the real CLI, as a subprocess) whenever the HighLatency alert changes state. Minutes 5-29 carry an
injected regression: 8 of 25 requests take 12 s (p95 above the 10 s threshold). Notifications go to
a webhook receiver in this process; once the alert escalates it is acknowledged with `coachline
alerts ack` (which records the wall-clock time, not the simulated one).

    .venv/bin/python bench/alert_lifecycle.py [--database-url URL]

SQLite in a temporary directory by default; nothing else is needed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import migrations
from broker.publish import publish
from broker.queues import SCHEDULER_QUEUE
from broker.worker import start_worker_thread
from coachline.cli.runtime import build
from coachline.db.monitoring import Alert, SchedulerRun
from coachline.db.session import session_scope
from coachline.settings import Settings
from coachline.telemetry.logs import configure_logging
from scheduler.monitor import AGGREGATE_TASK, EVALUATE_ALERTS_TASK
from tests.scheduler.traffic import minute, store_request
from tests.support import write_pools_file

T0 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
REGRESSION = range(5, 30)
RULE = "HighLatency"


def webhook_receiver() -> tuple[str, list[str]]:
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append(body["text"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/hook", received


def traffic(database_url: str, index: int) -> None:
    with session_scope(database_url) as session:
        for i in range(25):
            slow = index in REGRESSION and i < 8
            store_request(
                session, finished_at=minute(T0, index, 1 + 2 * i), latency_ms=12_000 if slow else 1_500
            )


def tick(app: object, database_url: str, now: dt.datetime) -> None:
    publish(app, AGGREGATE_TASK, [now.isoformat()], queue=SCHEDULER_QUEUE)  # type: ignore[arg-type]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with session_scope(database_url) as session:
            run = session.get(SchedulerRun, EVALUATE_ALERTS_TASK)
            if run is not None and run.last_now == now:
                return
        time.sleep(0.02)
    raise RuntimeError(f"the beat tasks did not finish for {now}")


def cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "coachline", *args], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="coachline-alert-lifecycle-"))
    database_url = args.database_url or f"sqlite:///{work / 'coachline.db'}"
    migrations.upgrade(database_url)
    pools = write_pools_file(work / "pools.yaml", fast_ports=[9], standard_ports=[9], cloud_port=9)
    hook_url, received = webhook_receiver()
    settings = Settings(database_url=database_url, pools_file=pools, alert_webhook_url=hook_url)
    env = {
        **os.environ,
        "COACHLINE_DATABASE_URL": database_url,
        "COACHLINE_POOLS_FILE": str(pools),
        "COACHLINE_LOG_LEVEL": "WARNING",
    }
    runtime = build(settings, broker_url="memory://")
    worker = start_worker_thread(runtime.app, queues=[SCHEDULER_QUEUE], concurrency=2, hostname="beat@bench")
    configure_logging("WARNING")
    print(f"# {database_url}; 8 of 25 requests a minute at 12 s from 10:05 to 10:29")
    last: tuple[str | None, int] = (None, 0)
    shown_messages = 0
    try:
        for index in range(0, 45):
            traffic(database_url, index)
            now = minute(T0, index + 1, 15)
            tick(runtime.app, database_url, now)
            with session_scope(database_url) as session:
                alert = session.query(Alert).filter(Alert.rule == RULE).order_by(Alert.id.desc()).first()
                state = None if alert is None else alert.state
                alert_id = None if alert is None else alert.id
                level = 0 if alert is None else alert.escalation_level
            if (state, level) != last or index == 3:
                print(f"\n$ coachline status --at {now.isoformat()}")
                print(cli(env, "status", "--at", now.isoformat()), end="")
                for text in received[shown_messages:]:
                    print(f"# webhook received: {text}")
                shown_messages = len(received)
                last = (state, level)
                if state == "firing" and level == 1:  # escalated to the Tech Lead: acknowledge it
                    print(f"\n$ coachline alerts ack {alert_id} --by alice")
                    print(cli(env, "alerts", "ack", str(alert_id), "--by", "alice"), end="")
            if state == "resolved":
                break
        print(f"\n$ coachline alerts show {alert_id}")
        print(cli(env, "alerts", "show", str(alert_id)), end="")
    finally:
        worker.stop()


if __name__ == "__main__":
    main()
