"""`coachline finetune ...` against PostgreSQL and Redis, with a real worker on the finetune queue:
a manual trigger is trained, the cooldown refuses a second one (exit 1), --force bypasses it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from broker.queues import FINETUNE_QUEUE, SCHEDULER_QUEUE
from broker.worker import start_worker_thread
from coachline.cli import cli
from coachline.cli.runtime import build
from coachline.db.lifecycle import FineTuneJob
from coachline.db.session import session_scope
from coachline.settings import Settings, reset_settings
from tests.scheduler.conftest import T0, monitor_settings
from tests.scheduler.test_finetune_fixtures import MODEL

AT = "2026-01-05T10:00:00Z"


@pytest.fixture
def stack(tmp_path: Path, pg_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    settings = monitor_settings(tmp_path, pg_url, redis_url, finetune_dataset_dir=tmp_path / "ft")
    for name, value in {
        "COACHLINE_DATABASE_URL": pg_url,
        "COACHLINE_BROKER_URL": redis_url,
        "COACHLINE_POOLS_FILE": str(settings.pools_file),
        "COACHLINE_FINETUNE_DATASET_DIR": str(tmp_path / "ft"),
    }.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    runtime = build(settings)
    worker = start_worker_thread(
        runtime.app,
        queues=[SCHEDULER_QUEUE, FINETUNE_QUEUE],
        concurrency=2,
        hostname=f"ft-{id(runtime)}@test",
    )
    try:
        yield settings
    finally:
        worker.stop()
        reset_settings()


def _cli(*args: str) -> Result:
    return CliRunner().invoke(cli, ["finetune", *args], catch_exceptions=False)


def _wait_done(url: str, job_id: str, timeout_s: float = 20.0) -> FineTuneJob:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with session_scope(url) as session:
            job = session.get(FineTuneJob, job_id)
            if job is not None and job.status not in ("queued", "running"):
                session.expunge(job)
                return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} was not trained within {timeout_s} s")


def test_manual_trigger_cooldown_and_force(stack: Settings) -> None:
    created = _cli("trigger", MODEL, "--reason", "users complain", "--by", "alice", "--at", AT, "--json")
    assert created.exit_code == 0, created.output
    job = json.loads(created.stdout)
    assert (job["trigger"], job["requested_by"], job["forced"]) == ("manual", "alice", False)
    trained = _wait_done(stack.database_url, job["id"])  # published after commit; the worker exported it
    assert trained.status == "exported" and trained.dataset_audience == "local" and trained.dataset_rows == 0
    assert (stack.finetune_dataset_dir / f"{job['id']}.job.json").exists()

    refused = _cli("trigger", MODEL, "--reason", "again", "--at", "2026-01-05T10:30:00Z")
    assert refused.exit_code == 1
    assert "triggered within its cooldown, which ends at 2026-01-05T11:00:00Z" in refused.output
    assert "--force bypasses it" in refused.output

    forced = _cli(
        "trigger",
        MODEL,
        "--reason",
        "hotfix",
        "--force",
        "--method",
        "transformer2",
        "--at",
        "2026-01-05T10:31:00Z",
    )
    assert forced.exit_code == 0, forced.output
    assert "queued for training: transformer2" in forced.output

    listed = json.loads(_cli("list", "--json").stdout)
    assert [(j["trigger"], j["forced"], j["method"]) for j in listed] == [
        ("manual", True, "transformer2"),
        ("manual", False, "text_to_lora"),
    ]
    text = _cli("list", "--model", MODEL).output
    assert "manual(forced)" in text and "exported" in text


def test_usage_errors_exit_2(stack: Settings) -> None:
    unknown = _cli("trigger", "gpt-5-ultra", "--reason", "x")
    assert unknown.exit_code == 2 and "unknown model 'gpt-5-ultra'" in unknown.output
    assert _cli("trigger", MODEL).exit_code == 2  # --reason is required
    assert _cli("trigger", MODEL, "--reason", "x", "--method", "magic").exit_code == 2


def test_check_runs_the_beat_step_once(stack: Settings) -> None:
    result = _cli("check", "--at", T0.isoformat(), "--json")
    assert result.exit_code == 0, result.output
    detail = json.loads(result.stdout)
    assert detail["enabled"] and {c["model"] for c in detail["models"]} == {
        MODEL,
        "meta-llama/Llama-3.1-8B-Instruct",
    }
    assert {c["outcome"] for c in detail["models"]} == {"no_data"}  # nothing is guessed without rollups
