"""Two beats at once (two processes running the same monitoring steps for the same minutes on
PostgreSQL): no duplicate rollups, one alert per rule and label set, one message per transition."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
import traceback
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from coachline.db.monitoring import Alert, AlertEvent, AlertNotification, Rollup
from coachline.db.session import session_scope
from coachline.settings import Settings
from scheduler import monitor
from scheduler.alerts.evaluate import Routing, evaluate_alerts
from scheduler.alerts.rules import load_rules
from tests.scheduler.conftest import T0, Webhook, monitor_settings
from tests.scheduler.traffic import minute, store_request


def _beat(tmp: str, pg_url: str, webhook_url: str, nows: list[str], barrier: Any, errors: Any) -> None:
    """One beat: for each minute, aggregate then evaluate, in step with the other process."""
    try:
        pools = Path(tmp) / "pools.yaml"
        settings = Settings(database_url=pg_url, pools_file=pools, alert_webhook_url=webhook_url)
        for now in nows:
            barrier.wait(timeout=60)
            monitor.run_aggregation(settings, now=dt.datetime.fromisoformat(now))
            barrier.wait(timeout=60)
            monitor.run_alert_evaluation(settings, now=dt.datetime.fromisoformat(now))
    except BaseException:
        errors.put(traceback.format_exc())
        barrier.abort()
        raise


def test_two_beats_at_once_write_each_rollup_and_alert_once(
    tmp_path: Path, pg_url: str, webhook: Webhook
) -> None:
    monitor_settings(tmp_path, pg_url, "memory://")  # writes the pools file the processes read
    with session_scope(pg_url) as session:
        for m in range(0, 8):
            for i in range(25):  # 20 % errors: HighErrorRate goes pending, then fires after 5 minutes
                status = "failed" if i < 5 else "succeeded"
                store_request(session, finished_at=minute(T0, m, 1 + i), status=status)
    nows = [T0 + dt.timedelta(minutes=m, seconds=15) for m in (1, 2, 4, 6, 7, 8)]
    # Two processes, as two beats (and their scheduler workers) would be: no lock in memory is shared.
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    errors = context.Queue()
    args = (str(tmp_path), pg_url, webhook.url, [n.isoformat() for n in nows], barrier, errors)
    processes = [context.Process(target=_beat, args=args) for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0], errors.get(timeout=1) if not errors.empty() else None

    with session_scope(pg_url) as session:
        duplicates = session.execute(
            select(Rollup.granularity, Rollup.window_start, Rollup.tier, Rollup.pool, Rollup.model)
            .group_by(Rollup.granularity, Rollup.window_start, Rollup.tier, Rollup.pool, Rollup.model)
            .having(func.count() > 1)
        ).all()
        assert duplicates == []
        totals = session.scalars(
            select(Rollup.requests)
            .where(Rollup.granularity == "1m", Rollup.model == "*", Rollup.window_start >= T0)
            .order_by(Rollup.window_start)
        ).all()
        assert totals == [25] * 8  # each minute counted once, not twice
        (alert,) = session.scalars(select(Alert).where(Alert.rule == "HighErrorRate")).all()
        assert alert.state == "firing"
        kinds = session.scalars(select(AlertEvent.kind).where(AlertEvent.alert_id == alert.id)).all()
        assert sorted(kinds) == ["firing", "pending"]
        notifications = session.scalars(select(AlertNotification)).all()
        assert len(notifications) == 1 and notifications[0].sent_at is not None
    assert len([t for t in webhook.texts() if "HighErrorRate" in t]) == 1


def test_a_second_evaluation_waits_for_the_first_and_sees_its_alerts(tmp_path: Path, pg_url: str) -> None:
    """Deterministic interleaving: B starts while A's transaction is open. With the lock, B waits
    and then finds A's pending alert; without it, B would open a second one (or crash on the
    unique constraint)."""
    monitor_settings(tmp_path, pg_url, "memory://")
    with session_scope(pg_url) as session:
        for i in range(25):
            status = "failed" if i < 5 else "succeeded"
            store_request(session, finished_at=minute(T0, 0, 1 + i), status=status)
    now = minute(T0, 1, 15)
    settings = Settings(database_url=pg_url, pools_file=tmp_path / "pools.yaml")
    monitor.run_aggregation(settings, now=now)
    rules = load_rules()
    routing = Routing(default_url="", per_channel={})
    b_done = threading.Event()
    b_transitions: list[tuple[str, str]] = []

    def evaluator_b() -> None:
        with session_scope(pg_url) as session:
            report = evaluate_alerts(session, rules=rules, now=now, lag_s=10, routing=routing)
        b_transitions.extend(report.transitions)
        b_done.set()

    with session_scope(pg_url) as session_a:
        report_a = evaluate_alerts(session_a, rules=rules, now=now, lag_s=10, routing=routing)
        assert ("HighErrorRate", "pending") in report_a.transitions
        thread = threading.Thread(target=evaluator_b)
        thread.start()
        assert not b_done.wait(0.5)  # B is held while A's transaction is open
    thread.join(timeout=30)
    assert b_done.is_set()
    assert ("HighErrorRate", "pending") not in b_transitions  # B saw A's alert and left it pending
    with session_scope(pg_url) as session:
        count = select(func.count()).select_from(Alert).where(Alert.rule == "HighErrorRate")
        assert session.scalar(count) == 1
