"""No prompt, response or correction text in any log line: requests run through the real API,
router and workers (threads here, on Redis and PostgreSQL, against simulated engines with a
failing engine in the pool), then feedback and the monitoring steps; every log record is scanned."""

from __future__ import annotations

import json
import logging
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
import structlog
from fastapi.testclient import TestClient

from broker.queues import all_queues
from broker.worker import start_worker_thread
from coachline.cli.runtime import build, build_api
from coachline.events import CompletionWaiter, LocalPublisher
from coachline.settings import Settings
from scheduler import monitor
from tests.support import write_pools_file
from workers.sim.config import SimConfig
from workers.sim.server import start_in_thread

AUTH = {"Authorization": "Bearer k-acme"}
PROMPTS = {
    "public": "Zebra-4471: how do I prepare for a salary talk with my manager?",
    "sensitive": "Zebra-8812: my therapist says my anxiety is getting worse, what should I do?",
    "complex": (
        "Zebra-6650: compare three frameworks for structuring a quarterly strategy review, explain step "
        "by step how to weigh their trade-offs for a 40-person startup across two time zones?"
    ),
}
CORRECTION = "Zebra-9903: you forgot my deadline"


def _sim(model: str, **overrides: object) -> SimConfig:
    return SimConfig.from_profile("fast", model=model, **overrides)


def test_no_user_text_in_any_log_line(
    tmp_path: Path, pg_url: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with ExitStack() as stack:
        failing = stack.enter_context(
            start_in_thread(
                _sim("mistralai/Mistral-7B-Instruct-v0.3", fail_first_n=100, fail_first_kind="500")
            )
        )
        fast = stack.enter_context(start_in_thread(_sim("mistralai/Mistral-7B-Instruct-v0.3")))
        standard = stack.enter_context(start_in_thread(_sim("meta-llama/Llama-3.1-8B-Instruct")))
        cloud = stack.enter_context(start_in_thread(_sim("gpt-4o-mini")))
        pools = write_pools_file(
            tmp_path / "pools.yaml",
            fast_ports=[failing.port, fast.port],
            standard_ports=[standard.port],
            cloud_port=cloud.port,
        )
        settings = Settings(
            database_url=pg_url,
            broker_url=redis_url,
            pools_file=pools,
            api_keys={"k-acme": "acme"},
            retry_backoff_s=0.05,
            quality_judge_sample_rate=1.0,
        )
        waiter = CompletionWaiter()
        runtime = build(settings, events=LocalPublisher(waiter))
        client = stack.enter_context(TestClient(build_api(runtime, waiter)))
        with structlog.testing.capture_logs() as events:
            worker = start_worker_thread(
                runtime.app, queues=all_queues(settings.pools), concurrency=8, hostname="logscan@test"
            )
            stack.callback(worker.stop)
            ids = {}
            for kind, prompt in PROMPTS.items():
                body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": 16}
                response = client.post("/v1/requests", json=body, headers=AUTH)
                assert response.status_code == 202, response.text
                ids[kind] = response.json()["id"]
            views = {kind: _wait(client, request_id) for kind, request_id in ids.items()}
            assert {v["status"] for v in views.values()} == {"succeeded"}, views
            assert views["sensitive"]["routing"]["privacy_level"] == "sensitive"
            answers = [v["response"]["content"] for v in views.values()]
            feedback = {"rating": 2, "correction": CORRECTION, "clarification_requested": True}
            assert (
                client.post(f"/v1/requests/{ids['public']}/feedback", json=feedback, headers=AUTH).status_code
                == 201
            )
            now = monitor.parse_now(None)
            monitor.run_quality_scoring(settings, now=now)  # the judge (simulated cloud) included
            monitor.run_aggregation(settings, now=now)
            monitor.run_alert_evaluation(settings, now=now)
            worker.stop()

    names = {e["event"] for e in events}
    assert {"api.accepted", "router.decided", "api.feedback"} <= names, names  # the scan saw real logs
    rendered = "\n".join(json.dumps(e, default=str) for e in events) + "\n" + caplog.text
    for secret in [*PROMPTS.values(), CORRECTION, "Zebra-"]:
        assert secret not in rendered
    for answer in answers:
        # Simulated answers are generic words: look for a long enough piece to be unique.
        assert len(answer) < 20 or answer[:40] not in rendered


def _wait(client: TestClient, request_id: str, timeout_s: float = 60.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        view: dict[str, object] = client.get(
            f"/v1/requests/{request_id}", params={"wait_s": 5}, headers=AUTH
        ).json()
        if view["status"] in ("succeeded", "failed", "expired", "cancelled") or time.monotonic() > deadline:
            return view
