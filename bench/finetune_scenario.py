"""The product plan's fine-tuning demonstration (003), replayed through the real stack.

Traffic of one local model is written minute by minute the way the route and generate steps and
the feedback API store it (requests, decisions, attempts, results, ratings with corrections, judge
scores), with a simulated clock: an hour of healthy service, an hour of gradual degradation, then
critical quality. At each beat tick the real tasks run on a real Celery worker in this process --
``scheduler.aggregate`` (rollups), then ``scheduler.finetune_check`` (the trigger) -- and a
triggered job goes through ``finetune.train`` on the ``finetune`` queue, which writes its dataset.

Expected timeline: healthy (health about 0.94, no trigger) -> HEALTHY, WARNING, CRITICAL while
degrading (no trigger: the evidence is not yet consistent) -> one trigger once critical (urgent and
worsening: text-to-LoRA) -> no trigger inside the one-hour cooldown -> a second trigger after it
(stable critical, consistent evidence: Transformer²).

    .venv/bin/python bench/finetune_scenario.py [--database-url URL] [--broker-url URL]

SQLite in a temporary directory and Celery's in-memory transport by default; nothing to install.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from broker.publish import publish
from broker.queues import SCHEDULER_QUEUE
from broker.runtime import Runtime
from coachline.db.lifecycle import FineTuneJob
from coachline.db.models import Attempt, Request, Result, RoutingDecision
from coachline.db.monitoring import Feedback, QualityScore, SchedulerRun
from coachline.db.session import session_scope
from coachline.settings import Settings
from scheduler.finetune.service import FINETUNE_CHECK_TASK
from scheduler.monitor import AGGREGATE_TASK

T0 = dt.datetime(2026, 1, 5, 6, 0, tzinfo=dt.UTC)
MODEL = "mistralai/Mistral-7B-Instruct-v0.3"
POOL = "fast"
JUDGE = "judge:gpt-4o-mini"
PER_MINUTE = 8
# (minute after T0, phase): beat ticks the scenario looks at.
TICKS: list[tuple[int, str]] = [
    (60, "healthy"),
    (75, "degrading"),
    (90, "degrading"),
    (105, "degrading"),
    (120, "degrading"),
    (135, "critical"),
    (150, "critical, in cooldown"),
    (180, "critical, in cooldown"),
    (200, "critical, cooldown over"),
]
PROMPTS = [
    "How can I keep a calmer morning routine before work?",
    "I keep procrastinating on my thesis. What is one small step for today?",
    "How do I give difficult feedback to a colleague without damaging trust?",
    "What is a good way to plan my week so I stop feeling behind?",
]


def degradation(minute: int) -> float:
    """0 while healthy (first hour), rising to 1 over the next 50 minutes, then 1 (critical)."""
    return min(1.0, max(0.0, (minute - 60) / 50))


@dataclass(frozen=True)
class Profile:
    latency_ms: float
    rating: float
    correction_rate: float
    clarification_rate: float
    relevance: float
    coherence: float
    completeness: float


def profile(q: float) -> Profile:
    """What one minute of traffic looks like at degradation ``q`` (0 healthy .. 1 critical)."""
    return Profile(
        latency_ms=1200 + 2600 * q,  # 1.2 s -> 3.8 s: slower, but latency is not what breaks
        rating=4.8 - 3.3 * q,  # 4.8 -> 1.5 (CRITICAL below 2.0)
        correction_rate=0.56 * q,  # 0 -> 56 % (CRITICAL above 50 %)
        clarification_rate=0.02 + 0.3 * q,
        relevance=0.92 - 0.7 * q,  # 0.92 -> 0.22 (CRITICAL below 0.3)
        coherence=0.9 - 0.35 * q,
        completeness=0.88 - 0.3 * q,
    )


def _spread(mean: float, n: int) -> list[int]:
    """``n`` whole ratings (1..5) whose mean is as close to ``mean`` as whole numbers allow."""
    base = max(1, min(5, math.floor(mean)))
    ups = max(0, min(n, round((mean - base) * n))) if base < 5 else 0
    return sorted([base + 1] * ups + [base] * (n - ups))


def write_minute(session: Session, index: int) -> None:
    """One minute of traffic of MODEL, stored as the workers and the feedback API store it."""
    p = profile(degradation(index))
    start = T0 + dt.timedelta(minutes=index)
    ratings = _spread(p.rating, PER_MINUTE)  # lowest first: those are the corrected ones
    corrected = round(p.correction_rate * PER_MINUTE)
    clarified = round(p.clarification_rate * PER_MINUTE)
    rows: dict[type[Any], list[dict[str, Any]]] = {
        Request: [],
        RoutingDecision: [],
        Attempt: [],
        Result: [],
        Feedback: [],
        QualityScore: [],
    }
    for i in range(PER_MINUTE):
        rid = uuid.uuid4().hex
        finished = start + dt.timedelta(seconds=3 + 6 * i)
        created = finished - dt.timedelta(milliseconds=p.latency_ms)
        prompt = PROMPTS[(index + i) % len(PROMPTS)]
        jitter = ((index * 7 + i * 3) % 5 - 2) / 100  # deterministic +-0.02
        rows[Request].append(
            {
                "id": rid,
                "tenant": "acme",
                "idempotency_key": None,
                "body_sha256": "0" * 64,
                "messages": [
                    {"role": "system", "content": "You are a supportive, practical coach."},
                    {"role": "user", "content": prompt},
                ],
                "routing_hints": {},
                "user_id": None,
                "max_tokens": 256,
                "temperature": None,
                "request_metadata": {},
                "status": "succeeded",
                "error_code": None,
                "error_message": None,
                "created_at": created,
                "updated_at": finished,
                "routed_at": created,
                "started_at": created,
                "finished_at": finished,
                "deadline_at": created + dt.timedelta(minutes=5),
                "lease_until": None,
            }
        )
        rows[RoutingDecision].append(
            {
                "request_id": rid,
                "tier": "LOCAL_FAST",
                "pool": POOL,
                "processing_mode": "local",
                "privacy_level": "public",
                "privacy_categories": [],
                "complexity_score": 0.1,
                "signals": {},
                "reasons": ["scenario traffic"],
                "decision_ms": 0.3,
                "cloud_allowed": True,
                "redact_for_cloud": False,
                "redacted_messages": None,
                "created_at": created,
            }
        )
        rows[Attempt].append(
            {
                "request_id": rid,
                "number": 1,
                "pool": POOL,
                "processing_mode": "local",
                "engine_url": "http://engine.scenario/v1",
                "model": MODEL,
                "reason": "initial",
                "outcome": "succeeded",
                "error_code": None,
                "error_message": None,
                "started_at": created,
                "finished_at": finished,
            }
        )
        rows[Result].append(
            {
                "request_id": rid,
                "content": f"About {prompt.split()[3]}: start small, and review how it went tonight.",
                "model": MODEL,
                "pool": POOL,
                "processing_mode": "local",
                "tokens_in": 60,
                "tokens_out": 120,
                "cost_usd": 0.0001,
                "queue_ms": 5.0,
                "routing_ms": 0.3,
                "ttft_ms": 80.0,
                "engine_ms": p.latency_ms - 10,
                "latency_ms": p.latency_ms,
                "created_at": finished,
            }
        )
        rows[Feedback].append(
            {
                "request_id": rid,
                "tenant": "acme",
                "rating": ratings[i],
                "correction": (
                    "A better answer: name one concrete step, when to do it, and how to check it worked."
                    if i < corrected
                    else None
                ),
                "clarification_requested": i >= PER_MINUTE - clarified,
                "created_at": finished + dt.timedelta(seconds=2),
            }
        )
        rows[QualityScore].append(
            {
                "request_id": rid,
                "evaluator": JUDGE,
                "relevance": min(1.0, max(0.0, p.relevance + jitter)),
                "coherence": min(1.0, max(0.0, p.coherence + jitter)),
                "completeness": min(1.0, max(0.0, p.completeness + jitter)),
                "created_at": finished + dt.timedelta(seconds=1),
            }
        )
    for model, values in rows.items():
        session.execute(insert(model), values)


def scenario_settings(work_dir: Path, database_url: str, broker_url: str, pools_file: Path) -> Settings:
    return Settings(
        database_url=database_url,
        broker_url=broker_url,
        pools_file=pools_file,
        # Each tick recomputes the last hour: every minute of the trigger's window is aggregated.
        aggregation_catchup_minutes=65,
        finetune_dataset_dir=work_dir / "finetune",
        log_level="WARNING",
    )


@dataclass
class Tick:
    minute: int
    phase: str
    now: dt.datetime
    outcome: str
    level: str | None
    score: float | None
    confidence: float
    urgency: float
    method: str | None
    skills: list[str]
    reasons: list[str]
    job: dict[str, Any] | None = None
    slice_levels: list[str | None] = field(default_factory=list)


@dataclass
class Driver:
    """Sends the beat tasks for a chosen ``now`` and waits for them, as a beat and a worker would."""

    runtime: Runtime
    settings: Settings
    timeout_s: float = 60.0

    def _wait_run(self, task: str, now: dt.datetime) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            with session_scope(self.settings.database_url) as session:
                run = session.scalar(select(SchedulerRun).where(SchedulerRun.task == task))
                if run is not None and run.last_now == now:
                    return dict(run.detail)
            time.sleep(0.02)
        raise TimeoutError(f"{task} did not run for {now.isoformat()} within {self.timeout_s} s")

    def run(self, task: str, now: dt.datetime) -> dict[str, Any]:
        publish(self.runtime.app, task, [now.isoformat()], queue=SCHEDULER_QUEUE)
        return self._wait_run(task, now)

    def wait_job(self, job_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            with session_scope(self.settings.database_url) as session:
                job = session.get(FineTuneJob, job_id)
                if job is not None and job.status not in ("queued", "running"):
                    from scheduler.finetune.service import job_view

                    return job_view(job)
            time.sleep(0.02)
        raise TimeoutError(f"fine-tune job {job_id} did not finish within {self.timeout_s} s")


def run_scenario(driver: Driver, *, echo: Callable[[str], None] = print) -> list[Tick]:
    """Write the traffic tick by tick, run the real beat tasks at each tick, return the timeline."""
    timeline: list[Tick] = []
    written = 0
    for minute, phase in TICKS:
        with session_scope(driver.settings.database_url) as session:
            for index in range(written, minute):
                write_minute(session, index)
        written = minute
        now = T0 + dt.timedelta(minutes=minute, seconds=15)
        driver.run(AGGREGATE_TASK, now)
        detail = driver.run(FINETUNE_CHECK_TASK, now)
        (check,) = [c for c in detail["models"] if c["model"] == MODEL]
        job = driver.wait_job(check["job_id"]) if check["job_id"] else None
        tick = Tick(
            minute=minute,
            phase=phase,
            now=now,
            outcome=check["outcome"],
            level=check["level"],
            score=check["score"],
            confidence=check["confidence"],
            urgency=check["urgency"],
            method=check["method"],
            skills=check["skills"],
            reasons=check["reasons"],
            job=job,
            slice_levels=check["assessment"]["slice_levels"],
        )
        timeline.append(tick)
        echo(format_tick(tick))
    return timeline


def format_tick(tick: Tick) -> str:
    score = "-" if tick.score is None else f"{tick.score:.2f}"
    clock = tick.now.strftime("%H:%M")
    head = (
        f"{clock}  +{tick.minute:>3} min  {tick.phase:<24} {tick.level or 'NO DATA':<9} health {score}  "
        f"confidence {tick.confidence:.2f}  urgency {tick.urgency:.2f}  -> {tick.outcome}"
    )
    lines = [head, f"{'':>22}slices (oldest first): {' / '.join(s or '-' for s in tick.slice_levels)}"]
    if tick.job is not None:
        job = tick.job
        skills = ", ".join(s["name"] for s in job["skills"])
        lines.append(
            f"{'':>22}job {job['id'][:8]}: {job['method']}, skills {skills}, "
            f"expected health {job['expected_health'] or 0:.2f} (+{job['estimated_improvement'] or 0:.0%}); "
            f"{job['status']} "
            f"({job['dataset']['rows']} conversations, {job['dataset']['audience']} audience)"
        )
    elif tick.outcome not in ("healthy", "attention"):
        lines.append(f"{'':>22}{tick.reasons[-1]}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    parser.add_argument("--broker-url", default="memory://localhost/")
    args = parser.parse_args()

    import migrations
    from broker.queues import FINETUNE_QUEUE
    from broker.worker import start_worker_thread
    from coachline.cli.runtime import build
    from coachline.telemetry.logs import configure_logging
    from tests.support import write_pools_file

    configure_logging("WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        url = args.database_url or f"sqlite:///{work / 'scenario.db'}"
        migrations.upgrade(url)
        pools = write_pools_file(work / "pools.yaml", fast_ports=[9], standard_ports=[9], cloud_port=9)
        settings = scenario_settings(work, url, args.broker_url, pools)
        runtime = build(settings, broker_url=args.broker_url, shared_state="memory")
        worker = start_worker_thread(
            runtime.app, queues=[SCHEDULER_QUEUE, FINETUNE_QUEUE], concurrency=2, hostname="scenario@local"
        )
        try:
            print(f"fine-tune demonstration for {MODEL} (simulated clock from {T0:%Y-%m-%d %H:%M} UTC)\n")
            timeline = run_scenario(Driver(runtime, settings))
        finally:
            worker.stop()
        jobs = [t.job for t in timeline if t.job is not None]
        for job in jobs:
            print(f"\njob {job['id']} ({job['method']}, {job['trigger']}): {job['reason']}")
            for reason in job["reasons"]:
                print(f"  - {reason}")
            print(f"  prompt: {job['prompt']}")
            path = Path(job["dataset"]["path"])
            lines = path.read_text().splitlines()
            print(f"  dataset: {len(lines)} lines of OpenAI chat JSONL, e.g. {lines[0][:160]}...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
