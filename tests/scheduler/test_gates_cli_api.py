"""`coachline gates evaluate` for release pipelines (exit codes per verdict), and the API: external
metrics (validated, 4xx on bad input, operators only), on-demand evaluation and stored reports."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from coachline.cli import cli
from coachline.cli.runtime import build, build_api
from coachline.db.lifecycle import ExternalMetric, GateReport
from coachline.db.session import session_scope
from coachline.events import CompletionWaiter, LocalPublisher
from coachline.settings import Settings, reset_settings
from scheduler.aggregation import backfill
from tests.scheduler.conftest import T0, monitor_settings
from tests.scheduler.traffic import minute, store_request

AT = T0 + dt.timedelta(hours=3, minutes=5)
OPERATOR = {"Authorization": "Bearer ops-key"}
TENANT = {"Authorization": "Bearer k-acme"}
# Phase 1 -> 2's external values that, with good traffic, make a GO.
EXTERNAL_GO = {
    "security_audit_critical_findings": 0,
    "engagement_improvement_pct": 16,
    "local_beta_opt_in_pct": 6,
    "risk_assessment_manageable": 1,
    "stakeholder_approval_obtained": 1,
    "budget_overrun_pct": 10,
    "timeline_delay_weeks": 2,
    "user_adoption_pct": 7,
    "strategic_pivot_factors": 0,
}


@dataclass
class Env:
    settings: Settings
    client: TestClient

    def post_metric(self, metric: str, value: Any, *, days_ago: float = 1.0, **extra: Any) -> Any:
        body = {
            "metric": metric,
            "value": value,
            "source": "steering-review",
            "measured_at": (AT - dt.timedelta(days=days_ago)).isoformat(),
            **extra,
        }
        return self.client.post("/v1/metrics/external", json=body, headers=OPERATOR)


@pytest.fixture
def env(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    settings = monitor_settings(
        tmp_path, sqlite_url, "memory://", api_keys={"k-acme": "acme"}, operator_keys={"ops-key": "alice"}
    )
    monkeypatch.setenv("COACHLINE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COACHLINE_POOLS_FILE", str(settings.pools_file))
    reset_settings()
    with session_scope(sqlite_url) as session:  # two hours of fast, well-rated local service
        for m in range(0, 120, 4):
            for i in range(5):
                store_request(session, finished_at=minute(T0, m, 10 + i), latency_ms=200, rating=5)
        backfill(session, start=T0, end=T0 + dt.timedelta(hours=2), pools=settings.pools, now=AT)
    waiter = CompletionWaiter()
    runtime = build(settings, broker_url="memory://", events=LocalPublisher(waiter), shared_state="memory")
    with TestClient(build_api(runtime, waiter)) as client:
        yield Env(settings, client)
    reset_settings()


def _evaluate(*args: str) -> Result:
    return CliRunner().invoke(
        cli, ["gates", "evaluate", "--at", AT.isoformat(), *args], catch_exceptions=False
    )


def _post_all(env: Env, values: Mapping[str, float]) -> None:
    for metric, value in values.items():
        assert env.post_metric(metric, value).status_code == 201, metric


def test_go_exits_0(env: Env) -> None:
    _post_all(env, EXTERNAL_GO)
    result = _evaluate("--phase", "phase-1-2")
    assert result.exit_code == 0, result.output
    assert "**Verdict: GO** (proceed to the next phase)" in result.output
    assert "| p95_latency | local_p95_latency_ms | 200 ms | < 300 ms | met |" in result.output
    assert "Not measured" not in result.output


def test_no_go_exits_1_and_names_what_is_missing(env: Env) -> None:
    _post_all(
        env,
        {
            k: v
            for k, v in EXTERNAL_GO.items()
            if k not in ("engagement_improvement_pct", "local_beta_opt_in_pct")
        },
    )
    result = _evaluate("--phase", "phase-1-2", "--format", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)  # stdout is the report alone; logs go to stderr
    assert (report["verdict"], report["outcome"]) == ("NO-GO", "hold")
    assert report["reasons"] == ["business: 1 of 3 met (needs a majority)"]
    assert {m["metric"] for m in report["not_measured"]} == {
        "engagement_improvement_pct",
        "local_beta_opt_in_pct",
    }


def test_pause_exits_3(env: Env) -> None:
    _post_all(env, EXTERNAL_GO)
    assert env.post_metric("budget_overrun_pct", 62, days_ago=0.5).status_code == 201  # newer than the 10 %
    result = _evaluate("--phase", "phase-1-2")
    assert result.exit_code == 3, result.output
    assert "**Verdict: PAUSE** (pause and reassess)" in result.output
    assert "budget_overrun_within_50pct" in result.output


def test_nothing_measured_is_reported_as_such(env: Env) -> None:
    result = _evaluate("--phase", "phase-2-3")
    assert (
        result.exit_code == 3
    )  # phase 2 -> 3 is mobile and business: without data the technical majority is missed
    assert (
        "| battery_drain | battery_impact_pct | - | < 10.0 % | not measured | external: no value posted"
        in result.output
    )
    assert "## Not measured (counted as not met)" in result.output


def test_usage_errors_exit_2(env: Env) -> None:
    unknown = _evaluate("--phase", "phase-9")
    assert unknown.exit_code == 2 and "unknown phase 'phase-9'" in unknown.output
    assert _evaluate("--phase", "week-6", "--format", "pdf").exit_code == 2
    assert CliRunner().invoke(cli, ["gates", "evaluate"]).exit_code == 2  # --phase is required


def test_each_evaluation_is_stored_unless_asked_not_to(env: Env) -> None:
    _evaluate("--phase", "week-6", "--by", "release-bot")
    _evaluate("--phase", "week-6", "--no-store")
    with session_scope(env.settings.database_url) as session:
        (row,) = session.scalars(select(GateReport)).all()
        assert (row.phase, row.trigger, row.requested_by, row.nightly_for) == (
            "week-6",
            "manual",
            "release-bot",
            None,
        )
        assert row.evaluated_at == AT and row.report["verdict"] == row.verdict


def test_gates_record_stores_an_external_value(env: Env) -> None:
    at = (AT - dt.timedelta(days=1)).isoformat()
    args = ["gates", "record", "battery_impact_pct", "8.5", "--source", "mobile-lab", "--measured-at", at]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0 and "recorded: battery_impact_pct = 8.5" in result.output
    assert "already recorded" in CliRunner().invoke(cli, args).output
    refused = CliRunner().invoke(cli, ["gates", "record", "local_p95_latency_ms", "100", "--source", "me"])
    assert refused.exit_code == 1 and "measured by the cluster" in refused.output


# -- the API --------------------------------------------------------------------------------------


def _error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    return dict(body["error"])


def test_posting_an_external_metric(env: Env) -> None:
    created = env.post_metric("engagement_improvement_pct", 16.5)
    assert created.status_code == 201
    body = created.json()
    assert (body["metric"], body["value"], body["source"], body["received_by"]) == (
        "engagement_improvement_pct",
        16.5,
        "steering-review",
        "alice",
    )
    assert env.post_metric("engagement_improvement_pct", 16.5).status_code == 200  # a safe retry
    conflict = env.post_metric("engagement_improvement_pct", 17)
    assert conflict.status_code == 409 and _error(conflict)["code"] == "metric_exists"
    with session_scope(env.settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(ExternalMetric)) == 1
    listed = env.client.get("/v1/metrics/external", headers=OPERATOR).json()["metrics"]
    by_name = {m["metric"]: m for m in listed}
    assert by_name["engagement_improvement_pct"]["latest"]["value"] == 16.5
    assert by_name["battery_impact_pct"]["latest"] is None and "local_p95_latency_ms" not in by_name


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"metric": "nope"}, 422, "unknown_metric", "metric"),
        ({"metric": "local_processing_rate"}, 422, "measured_by_cluster", "metric"),
        ({"metric": "team_training_completed", "value": 0.5}, 422, "invalid_value", "value"),
        ({"metric": "enterprise_pilot_customers", "value": -1}, 422, "invalid_value", "value"),
        ({"value": "16"}, 422, "invalid_request", "value"),
        ({"value": True}, 422, "invalid_request", "value"),
        ({"measured_at": "2026-01-04T10:00:00"}, 422, "invalid_request", "measured_at"),  # no timezone
        ({"measured_at": "2099-01-01T00:00:00Z"}, 422, "invalid_request", "measured_at"),
        ({"source": ""}, 422, "invalid_request", "source"),
        ({"extra": 1}, 422, "invalid_request", "extra"),
    ],
)
def test_bad_external_metrics_are_refused(
    env: Env, body: dict[str, Any], status: int, code: str, field: str
) -> None:
    full = {
        "metric": "engagement_improvement_pct",
        "value": 12,
        "source": "bi",
        "measured_at": "2026-01-04T10:00:00Z",
        **body,
    }
    response = env.client.post("/v1/metrics/external", json=full, headers=OPERATOR)
    assert response.status_code == status, response.text
    error = _error(response)
    assert (error["code"], error.get("field")) == (code, field)


def test_external_metrics_are_for_operators(env: Env) -> None:
    body = {
        "metric": "revenue_increase_pct",
        "value": 5,
        "source": "bi",
        "measured_at": "2026-01-04T10:00:00Z",
    }
    assert env.client.post("/v1/metrics/external", json=body, headers=TENANT).status_code == 403
    assert env.client.post("/v1/metrics/external", json=body).status_code == 401
    not_json = env.client.post(
        "/v1/metrics/external", content=b"{", headers={**OPERATOR, "Content-Type": "application/json"}
    )
    assert not_json.status_code == 400 and _error(not_json)["code"] == "invalid_json"


def test_evaluating_and_reading_reports_through_the_api(env: Env) -> None:
    assert env.client.get("/v1/gates/week-6/report", headers=OPERATOR).status_code == 404
    evaluated = env.client.post("/v1/gates/week-6/evaluate", headers=OPERATOR)
    assert evaluated.status_code == 201
    report = evaluated.json()
    assert report["phase"] == "week-6" and report["verdict"] in ("GO", "NO-GO", "PAUSE") and report["id"]
    latest = env.client.get("/v1/gates/week-6/report", headers=OPERATOR).json()
    assert (latest["id"], latest["trigger"], latest["verdict"]) == (report["id"], "api", report["verdict"])
    markdown = env.client.get("/v1/gates/week-6/report", params={"format": "md"}, headers=OPERATOR)
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith("# Gate report: week-6")
    missing = env.client.post("/v1/gates/week-99/evaluate", headers=OPERATOR)
    assert missing.status_code == 404 and "phases: week-3" in _error(missing)["message"]
    assert env.client.post("/v1/gates/week-6/evaluate", headers=TENANT).status_code == 403
