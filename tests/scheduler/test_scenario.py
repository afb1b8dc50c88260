"""The product plan's fine-tuning demonstration (003) through the real stack: traffic stored as the
workers store it, rollups by ``scheduler.aggregate``, the trigger by ``scheduler.finetune_check``,
the dataset by ``finetune.train`` -- real Celery worker threads on Redis, PostgreSQL, a simulated clock.

The script is ``bench/finetune_scenario.py``; this test runs the same scenario and checks it."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import select

from broker.queues import FINETUNE_QUEUE, SCHEDULER_QUEUE
from broker.worker import start_worker_thread
from coachline.cli.runtime import build
from coachline.db.lifecycle import FineTuneJob
from coachline.db.session import session_scope
from tests.support import write_pools_file

ROOT = Path(__file__).resolve().parents[2]


def _scenario_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "finetune_scenario", ROOT / "bench" / "finetune_scenario.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def scenario(tmp_path: Path, pg_url: str, redis_url: str) -> Iterator[tuple[ModuleType, object]]:
    module = _scenario_module()
    pools = write_pools_file(tmp_path / "pools.yaml", fast_ports=[9], standard_ports=[9], cloud_port=9)
    settings = module.scenario_settings(tmp_path, pg_url, redis_url, pools)
    runtime = build(settings)
    with ExitStack() as stack:
        worker = start_worker_thread(
            runtime.app,
            queues=[SCHEDULER_QUEUE, FINETUNE_QUEUE],
            concurrency=2,
            hostname=f"scenario-{id(runtime)}@test",
        )
        stack.callback(worker.stop)
        yield module, module.Driver(runtime, settings)


def test_the_demonstration_healthy_degrading_critical_cooldown_and_again(
    scenario: tuple[ModuleType, object], capsys: pytest.CaptureFixture[str]
) -> None:
    module, driver = scenario
    timeline = module.run_scenario(driver, echo=print)
    by_minute = {tick.minute: tick for tick in timeline}

    healthy = by_minute[60]
    assert healthy.outcome == "healthy" and healthy.level in ("EXCELLENT", "HEALTHY")
    assert healthy.score == pytest.approx(0.94, abs=0.02)  # the plan's "health score 0.94, no issues"

    # Gradual degradation: the level escalates HEALTHY -> WARNING -> CRITICAL, and nothing triggers
    # while the evidence is not yet consistent.
    degrading = [by_minute[m] for m in (75, 90, 105, 120)]
    levels = [t.level for t in degrading]
    assert levels == ["HEALTHY", "ATTENTION", "WARNING", "CRITICAL"]
    assert all(t.job is None and t.outcome in ("healthy", "attention", "below_threshold") for t in degrading)
    assert by_minute[120].confidence < 0.7 and "confidence" in by_minute[120].reasons[0]

    # Critical: one trigger, urgent and worsening -> text-to-LoRA, with the weak skills and a dataset.
    first = by_minute[135]
    assert first.outcome == "triggered" and first.level == "CRITICAL"
    assert first.confidence >= 0.7 and first.urgency > 0.8 and first.method == "text_to_lora"
    assert {"relevance", "helpfulness", "correctness"} <= set(first.skills)
    job = first.job
    assert job is not None and job["status"] == "exported" and job["trigger"] == "auto"
    assert job["prompt"].startswith("Make mistralai/Mistral-7B-Instruct-v0.3 excel at coaching conversations")
    assert job["estimated_improvement"] > 0 and job["dataset"]["audience"] == "local"
    lines = Path(job["dataset"]["path"]).read_text().splitlines()
    assert len(lines) == job["dataset"]["rows"] > 0
    examples = [json.loads(line) for line in lines]
    corrected = [e for e in examples if "weight" not in e["messages"][-1]]
    assert corrected and corrected[0]["messages"][-1]["content"].startswith("A better answer")
    assert all(e["messages"][-1]["role"] == "assistant" for e in examples)

    # Inside the cooldown: critical still, thresholds met, but no second trigger.
    for minute in (150, 180):
        tick = by_minute[minute]
        assert tick.outcome == "cooldown" and tick.job is None and tick.level == "CRITICAL"
        assert tick.reasons[-1] == "in cooldown: the last trigger's window ends at 2026-01-05T09:15:15Z"

    # After the cooldown: stable critical, certain evidence -> Transformer².
    second = by_minute[200]
    assert second.outcome == "triggered" and second.method == "transformer2"
    assert second.confidence == 1.0 and second.urgency <= 0.8
    assert second.job is not None and second.job["status"] == "exported"

    with session_scope(driver.settings.database_url) as session:  # type: ignore[attr-defined]
        jobs = session.scalars(select(FineTuneJob).order_by(FineTuneJob.created_at)).all()
        assert [(j.method, j.status) for j in jobs] == [
            ("text_to_lora", "exported"),
            ("transformer2", "exported"),
        ]
    printed = capsys.readouterr().out
    assert "+135 min  critical" in printed and "-> triggered" in printed and "-> cooldown" in printed
