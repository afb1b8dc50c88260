"""Where gate values come from, on PostgreSQL: rollups and attempts (the cluster), posted external
values, Prometheus for model loading -- and "not measured" whenever a source has nothing."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from coachline.db.lifecycle import ExternalMetric, GateReport
from coachline.db.session import session_scope
from coachline.settings import Settings
from scheduler.aggregation import backfill
from scheduler.gates.measure import (
    cluster_readings,
    external_readings,
    gate_window,
    prometheus_query,
    prometheus_readings,
)
from scheduler.gates.service import evaluate, run_nightly
from tests.scheduler.conftest import T0, monitor_settings
from tests.scheduler.traffic import CLOUD_MODEL, Try, minute, store_request

NOW = T0 + dt.timedelta(hours=3, minutes=5)  # the window ends at T0 + 3 h


def _traffic(settings: Settings) -> None:
    """Two hours: local requests (one slow), cloud requests, a fallback, a privacy violation."""
    with session_scope(settings.database_url) as session:
        for m in range(0, 120, 6):
            at = minute(T0, m)
            for i in range(9):
                store_request(
                    session, finished_at=at + dt.timedelta(seconds=i), latency_ms=200 + 10 * i, rating=5
                )
            store_request(session, finished_at=at, latency_ms=900, rating=4)  # the slow tail
            store_request(
                session,
                finished_at=at,
                latency_ms=1500,
                tier="CLOUD_ENHANCED",
                decided_pool=None,
                decided_mode="cloud",
                attempts=(Try(pool=None, model=CLOUD_MODEL, processing_mode="cloud"),),
                cost_usd=0.0002,
                rating=4,
            )
        # A local failure that the cloud saved, and one that nothing saved.
        store_request(
            session,
            finished_at=minute(T0, 30),
            attempts=(Try(outcome="error"), Try(pool=None, model=CLOUD_MODEL, processing_mode="cloud")),
        )
        store_request(
            session,
            finished_at=minute(T0, 31),
            status="failed",
            attempts=(Try(outcome="error"), Try(outcome="error")),
        )
        # A sensitive request that reached the cloud: the violation the gate must see.
        store_request(
            session,
            finished_at=minute(T0, 40),
            privacy_level="sensitive",
            attempts=(Try(pool=None, model=CLOUD_MODEL, processing_mode="cloud"),),
        )
        backfill(session, start=T0, end=T0 + dt.timedelta(hours=2), pools=settings.pools, now=NOW)


def test_cluster_values_come_from_rollups_and_attempts(tmp_path: Path, pg_url: str) -> None:
    settings = monitor_settings(tmp_path, pg_url, "memory://")
    _traffic(settings)
    window = gate_window(NOW, window_h=168, lag_s=10)
    with session_scope(pg_url) as session:
        r = cluster_readings(session, window)
    assert r["local_p95_latency_ms"].value == pytest.approx(
        900, rel=0.02
    )  # 95th of 200..280 + one 900 per 10
    assert "200 local requests" in r["local_p95_latency_ms"].detail
    assert "2 of 168 hours aggregated" in r["local_p95_latency_ms"].detail
    # 200 local + 20 cloud + 1 saved by the cloud + the sensitive one served by the cloud.
    assert r["local_processing_rate"].value == pytest.approx(200 / 222)
    assert r["request_success_rate"].value == pytest.approx(222 / 223)
    assert r["response_quality_score"].value == pytest.approx((180 * 5 + 20 * 4 + 20 * 4) / 220)
    assert r["cost_reduction_pct"].value is not None and r["cost_reduction_pct"].value > 0
    assert r["local_vs_cloud_quality_ratio"].value == pytest.approx(((180 * 5 + 20 * 4) / 200) / 4)
    assert r["local_processing_success_rate"].value == pytest.approx(200 / 203)
    assert r["fallback_success_rate"].value == pytest.approx(1 / 2)
    assert r["privacy_violations"].value == 1.0
    assert r["routed_requests"].value == 223.0
    assert r["response_coherence"].value is None and "judge" in r["response_coherence"].detail
    assert r["monitoring_operational"].value == 0.0  # no aggregation run recorded
    assert r["finetune_jobs_completed"].value == 0.0


def test_an_empty_window_is_not_measured_not_zero(tmp_path: Path, pg_url: str) -> None:
    window = gate_window(NOW, window_h=24, lag_s=10)
    with session_scope(pg_url) as session:
        r = cluster_readings(session, window)
    for metric in (
        "local_p95_latency_ms",
        "local_processing_rate",
        "cost_reduction_pct",
        "response_quality_score",
    ):
        assert r[metric].value is None and "no hourly rollups" in r[metric].detail
    assert r["privacy_violations"].value is None and "nothing to confirm" in r["privacy_violations"].detail
    assert r["fallback_success_rate"].value is None


def test_external_values_newest_before_now_and_not_stale(pg_url: str) -> None:
    rows = [
        ("engagement_improvement_pct", 12.0, NOW - dt.timedelta(days=20)),
        ("engagement_improvement_pct", 16.0, NOW - dt.timedelta(days=2)),
        (
            "engagement_improvement_pct",
            30.0,
            NOW + dt.timedelta(days=1),
        ),  # measured after `now`: not yet known
        ("battery_impact_pct", 8.0, NOW - dt.timedelta(days=200)),
    ]
    with session_scope(pg_url) as session:
        for metric, value, at in rows:
            session.add(
                ExternalMetric(
                    metric=metric, value=value, source="bi", measured_at=at, received_at=at, received_by="ops"
                )
            )
    with session_scope(pg_url) as session:
        r = external_readings(
            session,
            ["engagement_improvement_pct", "battery_impact_pct", "revenue_increase_pct"],
            now=NOW,
            max_age=dt.timedelta(days=90),
        )
    assert (
        r["engagement_improvement_pct"].value == 16.0
        and r["engagement_improvement_pct"].source == "external:bi"
    )
    assert r["battery_impact_pct"].value is None and "older than 90 days" in r["battery_impact_pct"].detail
    assert (
        r["revenue_increase_pct"].value is None
        and "POST /v1/metrics/external" in r["revenue_increase_pct"].detail
    )


@pytest.fixture
def prometheus() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A Prometheus HTTP API that answers instant queries from a table, and records them."""
    seen: list[dict[str, Any]] = []
    answers = {"coachline_engine_loads_total": "0.9667", "coachline_engine_load_last_seconds": "41.5"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            seen.append({k: v[0] for k, v in query.items()})
            value = next((v for k, v in answers.items() if k in query["query"][0]), None)
            result = [] if value is None else [{"metric": {}, "value": [float(query["time"][0]), value]}]
            body = json.dumps(
                {"status": "success", "data": {"resultType": "vector", "result": result}}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_model_loading_is_read_from_prometheus(prometheus: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = prometheus
    window = gate_window(NOW, window_h=168, lag_s=10)
    r = prometheus_readings(
        prometheus_query(url, 5), ["model_load_success_rate", "model_load_time_s"], window
    )
    assert r["model_load_success_rate"].value == pytest.approx(0.9667)
    assert r["model_load_time_s"].value == 41.5
    assert (
        '{outcome="success"}[168h]' in seen[0]["query"] and float(seen[0]["time"]) == window.end.timestamp()
    )
    unset = prometheus_readings(None, ["model_load_time_s"], window)
    assert (
        unset["model_load_time_s"].value is None
        and "COACHLINE_GATES_PROMETHEUS_URL" in unset["model_load_time_s"].detail
    )
    down = prometheus_readings(prometheus_query("http://127.0.0.1:9", 1), ["model_load_time_s"], window)
    assert (
        down["model_load_time_s"].value is None
        and "Prometheus query failed" in down["model_load_time_s"].detail
    )


def test_week_3_reads_every_source_and_says_what_is_missing(
    tmp_path: Path, pg_url: str, prometheus: tuple[str, list[dict[str, Any]]]
) -> None:
    settings = monitor_settings(tmp_path, pg_url, "memory://", gates_prometheus_url=prometheus[0])
    _traffic(settings)
    report = evaluate(settings, phase="week-3", now=NOW)
    gates = {g["name"]: g for grp in report.groups for g in grp["gates"]}
    assert gates["local_llm_service"]["status"] == "met"
    assert gates["model_loading_success_rate"]["status"] == "met"  # 96.7 % > 95 %
    assert gates["model_loading_time"]["status"] == "failed"  # 41.5 s, needs < 30 s
    assert gates["p95_latency"]["status"] == "failed" and gates["p95_latency"]["value"] == pytest.approx(
        900, rel=0.02
    )
    assert gates["security_validation"]["status"] == "not_measured"
    assert report.verdict == "NO-GO"  # technical: 2 of 3 met -- not a majority missed, not all met


def test_the_nightly_report_is_written_once_per_phase_and_day(tmp_path: Path, pg_url: str) -> None:
    settings = monitor_settings(tmp_path, pg_url, "memory://", gates_phases=["week-6", "phase-1-2"])
    night = dt.datetime(2026, 3, 2, 1, 30, tzinfo=dt.UTC)
    early = run_nightly(settings, now=night)
    assert early["due"] is False and early["phases"] == {}
    first = run_nightly(settings, now=night + dt.timedelta(hours=1))
    assert first["due"] and set(first["phases"]) == {"week-6", "phase-1-2"}
    assert first["phases"]["phase-1-2"] == "PAUSE"  # nothing measured: the technical majority is missed
    again = run_nightly(settings, now=night + dt.timedelta(hours=2))
    assert again["phases"]["week-6"].endswith("(evaluated earlier today)")
    next_day = run_nightly(settings, now=night + dt.timedelta(days=1, hours=1))
    assert set(next_day["phases"].values()) <= {"PAUSE", "NO-GO", "GO"}
    with session_scope(pg_url) as session:
        counts = dict(
            session.execute(select(GateReport.phase, func.count()).group_by(GateReport.phase)).all()
        )
        assert counts == {"week-6": 2, "phase-1-2": 2}
        stored = session.scalar(select(GateReport).where(GateReport.phase == "phase-1-2").limit(1))
        assert (
            stored is not None and stored.trigger == "nightly" and stored.report["verdict"] == stored.verdict
        )
