"""The cluster's monitoring status as plain data: model health, alerts, the last rollups, the
scheduler's last runs. ``GET /v1/status`` serves it as JSON; ``coachline status`` prints it."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coachline.db.monitoring import ALL, Alert, Rollup, SchedulerRun
from coachline.telemetry import metrics
from scheduler.aggregation import GRANULARITIES, floor_time, latest_totals, merged_window
from scheduler.alerts.manage import list_alerts
from scheduler.alerts.signals import SIGNALS, format_value
from scheduler.health import HealthInput, HealthReport, assess_health


@dataclass(frozen=True)
class ModelStatus:
    model: str
    level: str | None
    score: float | None
    reasons: list[str]
    unmeasured: list[str]
    requests: int
    latency_mean_ms: float | None
    latency_p95_ms: float | None
    mean_rating: float | None
    correction_rate: float | None


@dataclass(frozen=True)
class AlertStatus:
    id: int
    rule: str
    state: str
    level: str
    labels: dict[str, Any]
    expression: str
    value: float | None
    value_text: str
    pending_since: str
    fired_at: str | None
    resolved_at: str | None
    escalation_level: int
    acknowledged_by: str | None
    acknowledged_at: str | None


@dataclass(frozen=True)
class RollupStatus:
    granularity: str
    window_start: str
    requests: int
    error_rate: float | None
    fallback_rate: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    ttft_p95_ms: float | None
    local_processing_rate: float | None
    cost_usd: float
    cost_savings_percentage: float | None
    mean_rating: float | None
    privacy_violations: int


@dataclass
class StatusView:
    as_of: str
    health_window_s: float
    models: list[ModelStatus] = field(default_factory=list)
    open_alerts: list[AlertStatus] = field(default_factory=list)
    recently_closed: list[AlertStatus] = field(default_factory=list)
    rollups: list[RollupStatus] = field(default_factory=list)
    no_data: list[dict[str, Any]] = field(default_factory=list)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def model_health(
    session: Session, *, now: dt.datetime, lag_s: float, window_s: float
) -> dict[str, tuple[HealthReport, Any]]:
    """Health of each model over the trailing window, with the merged rollup it was judged on."""
    end = floor_time(now - dt.timedelta(seconds=lag_s), "1m")
    per_model, _ = merged_window(session, end=end, length=dt.timedelta(seconds=window_s), by_model=True)
    return {
        dims.model: (assess_health(HealthInput.from_rollup(acc)), acc)
        for dims, acc in sorted(per_model.items())
    }


def publish_health_gauges(health: dict[str, tuple[HealthReport, Any]]) -> None:
    for model, (report, _) in health.items():
        nan = float("nan")
        metrics.MODEL_HEALTH_LEVEL.labels(model=model).set(nan if report.level is None else int(report.level))
        metrics.MODEL_HEALTH_SCORE.labels(model=model).set(nan if report.score is None else report.score)


def alert_status(alert: Alert) -> AlertStatus:
    metric = alert.expression.split(" ", 1)[0]
    return AlertStatus(
        id=alert.id,
        rule=alert.rule,
        state=alert.state,
        level=alert.level,
        labels=dict(alert.labels),
        expression=alert.expression,
        value=alert.value,
        value_text=format_value(metric, alert.value) if metric in SIGNALS else str(alert.value),
        pending_since=_iso(alert.pending_since) or "",
        fired_at=_iso(alert.fired_at),
        resolved_at=_iso(alert.resolved_at),
        escalation_level=alert.escalation_level,
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=_iso(alert.acknowledged_at),
    )


def _rollup_status(row: Rollup) -> RollupStatus:
    return RollupStatus(
        granularity=row.granularity,
        window_start=_iso(row.window_start) or "",
        requests=row.requests,
        error_rate=row.error_rate,
        fallback_rate=row.fallback_rate,
        latency_p50_ms=row.latency_p50_ms,
        latency_p95_ms=row.latency_p95_ms,
        latency_p99_ms=row.latency_p99_ms,
        ttft_p95_ms=row.ttft_p95_ms,
        local_processing_rate=row.local_processing_rate,
        cost_usd=row.cost_usd,
        cost_savings_percentage=row.cost_savings_percentage,
        mean_rating=row.mean_rating,
        privacy_violations=row.privacy_violations,
    )


def build_status(session: Session, *, now: dt.datetime, lag_s: float, health_window_s: float) -> StatusView:
    view = StatusView(as_of=_iso(now) or "", health_window_s=health_window_s)
    for model, (report, acc) in model_health(session, now=now, lag_s=lag_s, window_s=health_window_s).items():
        if model == ALL:
            continue
        view.models.append(
            ModelStatus(
                model=model,
                level=None if report.level is None else report.level.name,
                score=report.score,
                reasons=report.reasons,
                unmeasured=report.unmeasured,
                requests=acc.requests,
                latency_mean_ms=acc.latency_mean_ms,
                latency_p95_ms=acc.latency_quantile_ms(0.95),
                mean_rating=acc.mean_rating,
                correction_rate=acc.correction_rate,
            )
        )
    for alert in list_alerts(session, include_closed_since=now - dt.timedelta(days=1)):
        # Alerts opened after `now` do not exist yet as of `now` (status can be asked about the past).
        if alert.pending_since > now:
            continue
        target = view.open_alerts if alert.state in ("pending", "firing") else view.recently_closed
        target.append(alert_status(alert))
    totals = latest_totals(session, now=now, lag_s=lag_s)
    view.rollups = [_rollup_status(totals[g]) for g in GRANULARITIES if g in totals]
    for run in session.scalars(select(SchedulerRun).order_by(SchedulerRun.task)):
        view.runs[run.task] = {"now": _iso(run.last_now), "finished_at": _iso(run.finished_at)}
        if run.task == "scheduler.evaluate_alerts":
            view.no_data = [
                {"rule": r["rule"], "labels": r["labels"], "reason": r["reason"]}
                for r in run.detail.get("readings", [])
                if r.get("status") == "no_data"
            ]
    return view
