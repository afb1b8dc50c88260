"""`coachline status`, `coachline alerts ...` and `coachline rollups backfill` against a database
filled by the real monitoring steps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from coachline.cli import cli
from coachline.db.monitoring import Alert, Rollup
from coachline.db.session import session_scope
from coachline.settings import get_settings, reset_settings
from scheduler import monitor
from scheduler.alerts.rules import load_rules
from tests.scheduler.conftest import T0, monitor_settings
from tests.scheduler.traffic import minute, store_request


@pytest.fixture
def database(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    settings = monitor_settings(tmp_path, sqlite_url, "memory://")
    monkeypatch.setenv("COACHLINE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COACHLINE_POOLS_FILE", str(settings.pools_file))
    reset_settings()
    yield sqlite_url
    reset_settings()


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_status_shows_health_alerts_and_rollups(database: str) -> None:
    with session_scope(database) as session:
        for m in range(0, 3):
            for i in range(25):
                status = "failed" if i < 5 else "succeeded"
                store_request(session, finished_at=minute(T0, m, 1 + i), status=status, latency_ms=4000)
    now = minute(T0, 3, 15)
    monitor.run_aggregation(get_settings(), now=now)
    monitor.run_alert_evaluation(get_settings(), now=now)

    text = _run("status", "--at", now.isoformat())
    assert "mistralai/Mistral-7B-Instruct-v0.3  ATTENTION" in text  # 4 s mean: above 3 s
    assert "HighErrorRate" in text and "pending" in text
    assert "HighMemoryUsage: not measured by coachline" in text
    assert "1m      2026-01-05 10:02  25        20.0 %" in text
    view = json.loads(_run("status", "--at", now.isoformat(), "--json"))
    assert [a["rule"] for a in view["open_alerts"]] == ["HighErrorRate"]
    assert view["rollups"][0]["requests"] == 25

    with session_scope(database) as session:
        alert_id = session.scalar(select(Alert.id).where(Alert.rule == "HighErrorRate"))
    assert f"{alert_id}\tpending\tcritical\tHighErrorRate" in _run("alerts", "list")
    assert "acknowledged by sre-on-call" in _run("alerts", "ack", str(alert_id), "--by", "sre-on-call")
    assert "acknowledged" in _run("alerts", "show", str(alert_id))
    missing = CliRunner().invoke(cli, ["alerts", "ack", "999"])
    assert missing.exit_code == 1 and "no alert 999" in missing.output


def test_backfill_recomputes_a_range(database: str) -> None:
    with session_scope(database) as session:
        store_request(session, finished_at=minute(T0, 0, 5))
        store_request(session, finished_at=minute(T0, 61, 5))
    _run("rollups", "backfill", "--start", T0.isoformat(), "--end", minute(T0, 62, 0).isoformat())
    with session_scope(database) as session:
        rows = session.scalars(
            select(Rollup).where(Rollup.tier == "*", Rollup.model == "*", Rollup.requests > 0)
        ).all()
        assert sorted((r.granularity, r.window_start.strftime("%H:%M"), r.requests) for r in rows) == [
            ("1d", "00:00", 2),
            ("1h", "10:00", 1),
            ("1h", "11:00", 1),
            ("1m", "10:00", 1),
            ("1m", "11:01", 1),
        ]


def test_check_reports_the_rules_version(database: str) -> None:
    rules = load_rules()
    assert f"version {rules.version}: {len(rules.rules)} rules" in _run("alerts", "check")
