"""The cooldown lives in PostgreSQL: concurrent evaluations (threads, and two beat processes) trigger
at most once per model per window; manual triggers respect it unless forced; late messages back off."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from coachline.db.lifecycle import FineTuneCooldown, FineTuneJob
from coachline.db.session import session_scope
from coachline.settings import Settings
from scheduler.finetune.service import ModelCheck, check_model, requeue_stale_jobs, trigger_manual
from scheduler.finetune.trigger import Method, TriggerPolicy
from tests.scheduler.conftest import T0, monitor_settings
from tests.scheduler.test_finetune_fixtures import CRITICAL, MODEL, acc, evidence

CRITICAL_EVIDENCE = evidence(*(acc(**CRITICAL) for _ in range(4)))


class Sent:
    """Job ids whose training message would be published: only after their transaction commits."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, session: Session, job_id: str) -> None:
        def _sent(_session: Session) -> None:
            with self._lock:
                self.ids.append(job_id)

        event.listen(session, "after_commit", _sent, once=True)


def _jobs(url: str) -> list[FineTuneJob]:
    with session_scope(url) as session:
        return list(session.scalars(select(FineTuneJob).order_by(FineTuneJob.created_at)))


@pytest.mark.parametrize("spread_min", [0, 7], ids=["same-now", "nows-within-the-window"])
@pytest.mark.parametrize("triggered_before", [False, True], ids=["first-trigger", "after-an-old-trigger"])
def test_concurrent_evaluations_trigger_once(
    tmp_path: Path, pg_url: str, spread_min: int, triggered_before: bool
) -> None:
    settings = monitor_settings(tmp_path, pg_url, "memory://")
    if triggered_before:  # the model's row exists: nothing serialises the evaluations but the claim itself
        with session_scope(pg_url) as session:
            session.add(
                FineTuneCooldown(model=MODEL, last_triggered_at=T0 - dt.timedelta(hours=3), updated_at=T0)
            )
    policy = TriggerPolicy.from_settings(settings)
    sent = Sent()
    threads = 8
    barrier = threading.Barrier(threads)
    nows = [T0 + dt.timedelta(minutes=spread_min * i) for i in range(threads)]

    def evaluate(now: dt.datetime) -> ModelCheck:
        barrier.wait(timeout=30)
        return check_model(settings, CRITICAL_EVIDENCE, now=now, policy=policy, enqueue=sent)

    with ThreadPoolExecutor(threads) as pool:
        checks = list(pool.map(evaluate, nows))
    outcomes = sorted(c.outcome for c in checks)
    assert outcomes == ["cooldown"] * (threads - 1) + ["triggered"]
    (job,) = _jobs(pg_url)
    (winner,) = [c for c in checks if c.outcome == "triggered"]
    assert winner.job_id == job.id and sent.ids == [job.id]  # one job, announced once, after its commit
    for check in checks:
        if check.outcome == "cooldown":
            assert check.job_id is None and check.cooldown_until is not None
    with session_scope(pg_url) as session:
        row = session.get(FineTuneCooldown, MODEL)
        assert row is not None and row.last_job_id == job.id and row.last_triggered_at == job.created_at


def _beat(pg_url: str, pools_file: str, nows: list[str], barrier: Any, errors: Any) -> None:
    """One beat process: evaluates the model at each `now`, in step with the other process."""
    try:
        settings = Settings(database_url=pg_url, pools_file=Path(pools_file))
        policy = TriggerPolicy.from_settings(settings)
        ev = evidence(*(acc(**CRITICAL) for _ in range(4)))
        for now in nows:
            barrier.wait(timeout=60)
            check_model(
                settings, ev, now=dt.datetime.fromisoformat(now), policy=policy, enqueue=lambda s, j: None
            )
    except BaseException:
        errors.put(traceback.format_exc())
        barrier.abort()
        raise


def test_two_beat_processes_trigger_once_per_cooldown_window(tmp_path: Path, pg_url: str) -> None:
    settings = monitor_settings(tmp_path, pg_url, "memory://")
    # Every 10 minutes for three hours: a one-hour cooldown allows T0, T0+1h, T0+2h and T0+3h.
    nows = [(T0 + dt.timedelta(minutes=10 * k)).isoformat() for k in range(19)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    errors = context.Queue()
    args = (pg_url, str(settings.pools_file), nows, barrier, errors)
    processes = [context.Process(target=_beat, args=args) for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0], errors.get(timeout=1) if not errors.empty() else None
    created = [job.created_at for job in _jobs(pg_url)]
    assert created == [T0 + dt.timedelta(hours=h) for h in range(4)]


def test_a_manual_trigger_respects_the_cooldown_unless_forced(tmp_path: Path, pg_url: str) -> None:
    settings = monitor_settings(tmp_path, pg_url, "memory://")
    policy = TriggerPolicy.from_settings(settings)
    sent = Sent()
    first = trigger_manual(
        settings, model=MODEL, reason="bad week", requested_by="alice", force=False, now=T0, enqueue=sent
    )
    assert first.job is not None
    # No rollups: the thresholds are bypassed, and nothing measured is recorded as such.
    assert (first.job["trigger"], first.job["level"], first.job["confidence"]) == ("manual", None, 0.0)
    assert first.job["reason"] == "manual by alice: bad week" and not first.job["forced"]
    assert "requested by alice: thresholds bypassed" in first.job["reasons"][0]
    # The automatic trigger finds the slot taken.
    auto = check_model(
        settings, CRITICAL_EVIDENCE, now=T0 + dt.timedelta(minutes=10), policy=policy, enqueue=sent
    )
    assert auto.outcome == "cooldown" and auto.cooldown_until == "2026-01-05T11:00:00Z"
    refused = trigger_manual(
        settings,
        model=MODEL,
        reason="again",
        requested_by="bob",
        force=False,
        now=T0 + dt.timedelta(minutes=20),
        enqueue=sent,
    )
    assert refused.job is None and refused.cooldown_until == T0 + dt.timedelta(hours=1)
    forced = trigger_manual(
        settings,
        model=MODEL,
        reason="hotfix",
        requested_by="bob",
        force=True,
        now=T0 + dt.timedelta(minutes=30),
        enqueue=sent,
        method=Method.TRANSFORMER2,
    )
    assert forced.job is not None and forced.job["forced"] and forced.job["method"] == "transformer2"
    assert forced.job["cooldown_until"] == "2026-01-05T11:30:00Z"  # a forced trigger starts a new window
    assert len(sent.ids) == 2 and len(_jobs(pg_url)) == 2
    later = check_model(
        settings, CRITICAL_EVIDENCE, now=T0 + dt.timedelta(minutes=80), policy=policy, enqueue=sent
    )
    assert later.outcome == "cooldown"


def test_a_late_message_for_an_older_now_does_not_trigger(tmp_path: Path, pg_url: str) -> None:
    settings = monitor_settings(tmp_path, pg_url, "memory://")
    policy = TriggerPolicy.from_settings(settings)
    sent = Sent()
    assert (
        check_model(settings, CRITICAL_EVIDENCE, now=T0, policy=policy, enqueue=sent).outcome == "triggered"
    )
    for minutes in (-5, -59, -61, -180):
        late = check_model(
            settings, CRITICAL_EVIDENCE, now=T0 + dt.timedelta(minutes=minutes), policy=policy, enqueue=sent
        )
        assert late.outcome == "cooldown", minutes
    with session_scope(pg_url) as session:
        assert session.scalar(select(func.count()).select_from(FineTuneJob)) == 1


def test_jobs_whose_message_was_lost_are_sent_again(tmp_path: Path, pg_url: str) -> None:
    settings = monitor_settings(tmp_path, pg_url, "memory://")
    policy = TriggerPolicy.from_settings(settings)
    check = check_model(settings, CRITICAL_EVIDENCE, now=T0, policy=policy, enqueue=Sent())
    assert check.job_id is not None
    sent = Sent()
    with session_scope(pg_url) as session:
        assert (
            requeue_stale_jobs(session, now=T0 + dt.timedelta(seconds=60), stale_after_s=120, enqueue=sent)
            == []
        )
    with session_scope(pg_url) as session:
        assert requeue_stale_jobs(
            session, now=T0 + dt.timedelta(seconds=121), stale_after_s=120, enqueue=sent
        ) == [check.job_id]
    assert sent.ids == [check.job_id]
