"""Readings for the gates: what the cluster measured, what Prometheus recorded, what was posted.

Adapters over the database (hourly rollups, attempts, routing decisions, quality scores, scheduler
runs, fine-tune jobs, external metrics) and Prometheus's HTTP API. Every reading says where its
value came from, or why there is none -- a metric without data is "not measured", never zero.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coachline.db.lifecycle import ExternalMetric, FineTuneJob
from coachline.db.models import Attempt, Request, RoutingDecision
from coachline.db.monitoring import ALL, NONE, QualityScore, Rollup, SchedulerRun
from coachline.domain import PrivacyLevel, RequestStatus
from scheduler.aggregation import CLOUD, floor_time
from scheduler.gates.spec import MetricSpec
from scheduler.gates.verdict import Reading
from scheduler.rollup import Acc

MONITORING_TASKS = ("scheduler.aggregate", "scheduler.evaluate_alerts")
MONITORING_FRESH = dt.timedelta(minutes=10)
COMPLETED_JOBS = ("exported", "submitted", "succeeded")


@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime
    now: dt.datetime

    @property
    def hours(self) -> int:
        return int((self.end - self.start) / dt.timedelta(hours=1))


def gate_window(now: dt.datetime, *, window_h: int, lag_s: float) -> Window:
    """The closed hours before ``now`` (less the aggregation lag)."""
    end = floor_time(now - dt.timedelta(seconds=lag_s), "1h")
    return Window(start=end - dt.timedelta(hours=window_h), end=end, now=now)


def _iso(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# -- rollups --------------------------------------------------------------------------------------


@dataclass
class _Rolled:
    total: Acc
    local: Acc
    cloud: Acc
    hours: int


def _rollups(session: Session, window: Window) -> _Rolled:
    rows = session.scalars(
        select(Rollup).where(
            Rollup.granularity == "1h", Rollup.window_start >= window.start, Rollup.window_start < window.end
        )
    )
    total, local, cloud = Acc.merged(), Acc.merged(), Acc.merged()
    hours: set[dt.datetime] = set()
    for row in rows:
        if (row.tier, row.pool, row.model) == (ALL, ALL, ALL):
            total.merge(Acc.from_row(row))
            hours.add(row.window_start)
        elif row.tier != ALL and row.pool == CLOUD:
            cloud.merge(Acc.from_row(row))
        elif row.tier != ALL and row.pool not in (ALL, NONE):
            local.merge(Acc.from_row(row))
    return _Rolled(total, local, cloud, len(hours))


def _value(metric: str, value: float | None, detail: str, missing: str) -> Reading:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Reading(metric, None, "rollups", missing)
    return Reading(metric, float(value), "rollups", detail)


def _rollup_readings(rolled: _Rolled, window: Window) -> dict[str, Reading]:
    t, loc, cld = rolled.total, rolled.local, rolled.cloud
    coverage = f"{rolled.hours} of {window.hours} hours aggregated"
    if rolled.hours == 0:
        why = f"no hourly rollups in the window ({coverage}): is the aggregation running?"
        names = (
            "local_p95_latency_ms",
            "local_processing_rate",
            "cost_reduction_pct",
            "response_quality_score",
            "request_success_rate",
            "response_coherence",
            "local_vs_cloud_quality_ratio",
            "local_requests_succeeded",
        )
        return {n: Reading(n, None, "rollups", why) for n in names}
    finished = t.succeeded + t.errors
    coherence, judged = t.evaluator_mean("coherence", prefix="judge")
    ratio = None
    if loc.mean_rating is not None and cld.mean_rating:
        ratio = loc.mean_rating / cld.mean_rating
    return {
        "local_p95_latency_ms": _value(
            "local_p95_latency_ms",
            loc.latency_quantile_ms(0.95),
            f"{loc.latency_samples} local requests; {coverage}",
            f"no request served by a local pool ({coverage})",
        ),
        "local_processing_rate": _value(
            "local_processing_rate",
            t.local_processing_rate,
            f"{t.local_requests} of {t.succeeded} succeeded requests; {coverage}",
            f"no succeeded request ({coverage})",
        ),
        "cost_reduction_pct": _value(
            "cost_reduction_pct",
            t.cost_savings_percentage,
            f"${t.cost_usd:.2f} against ${t.cloud_equivalent_usd or 0:.2f} all-cloud; {coverage}",
            f"no cloud price to compare with, or no traffic ({coverage})",
        ),
        "response_quality_score": _value(
            "response_quality_score",
            t.mean_rating,
            f"{t.feedback_count} ratings; {coverage}",
            f"no user rating in the window ({coverage})",
        ),
        "request_success_rate": _value(
            "request_success_rate",
            t.succeeded / finished if finished else None,
            f"{t.succeeded} of {finished} finished requests; {coverage}",
            f"no finished request ({coverage})",
        ),
        "response_coherence": _value(
            "response_coherence",
            coherence,
            f"{judged} judge scores; {coverage}",
            f"no judge-model scores (COACHLINE_QUALITY_JUDGE_SAMPLE_RATE is 0?) ({coverage})",
        ),
        "local_vs_cloud_quality_ratio": _value(
            "local_vs_cloud_quality_ratio",
            ratio,
            f"local {loc.mean_rating or 0:.2f}/5 ({loc.feedback_count} ratings) vs cloud "
            f"{cld.mean_rating or 0:.2f}/5 ({cld.feedback_count}); {coverage}",
            f"needs ratings of both local and cloud responses ({loc.feedback_count} local, "
            f"{cld.feedback_count} cloud; {coverage})",
        ),
        "local_requests_succeeded": _value(
            "local_requests_succeeded", t.local_requests, f"{coverage}", f"no rollups ({coverage})"
        ),
    }


# -- rows -----------------------------------------------------------------------------------------


def _row_readings(session: Session, window: Window) -> dict[str, Reading]:
    start, end = window.start, window.end
    out: dict[str, Reading] = {}

    local_outcomes = dict(
        session.execute(
            select(Attempt.outcome, func.count())
            .where(
                Attempt.started_at >= start,
                Attempt.started_at < end,
                Attempt.processing_mode == "local",
                Attempt.outcome.in_(["succeeded", "error"]),
            )
            .group_by(Attempt.outcome)
        ).all()
    )
    local_done = sum(local_outcomes.values())
    out["local_processing_success_rate"] = (
        Reading(
            "local_processing_success_rate",
            local_outcomes.get("succeeded", 0) / local_done,
            "attempts",
            f"{local_outcomes.get('succeeded', 0)} of {local_done} finished local attempts",
        )
        if local_done
        else Reading(
            "local_processing_success_rate", None, "attempts", "no finished local attempt in the window"
        )
    )

    retried = (
        select(Attempt.request_id)
        .group_by(Attempt.request_id)
        .having(func.count() > 1, func.min(Attempt.started_at) >= start, func.min(Attempt.started_at) < end)
        .subquery()
    )
    needed = session.scalar(select(func.count()).select_from(retried)) or 0
    saved = (
        session.scalar(
            select(func.count())
            .select_from(Request)
            .where(
                Request.id.in_(select(retried.c.request_id)), Request.status == RequestStatus.SUCCEEDED.value
            )
        )
        or 0
    )
    out["fallback_success_rate"] = (
        Reading(
            "fallback_success_rate",
            saved / needed,
            "attempts",
            f"{saved} of {needed} requests that needed a fallback",
        )
        if needed
        else Reading("fallback_success_rate", None, "attempts", "no request needed a fallback in the window")
    )

    cloud_attempts = session.scalar(
        select(func.count(func.distinct(Attempt.request_id))).where(
            Attempt.started_at >= start, Attempt.started_at < end, Attempt.processing_mode == CLOUD
        )
    )
    any_attempts = session.scalar(
        select(func.count()).select_from(Attempt).where(Attempt.started_at >= start, Attempt.started_at < end)
    )
    violations = session.scalar(
        select(func.count(func.distinct(Attempt.request_id)))
        .select_from(Attempt)
        .outerjoin(RoutingDecision, RoutingDecision.request_id == Attempt.request_id)
        .where(
            Attempt.started_at >= start,
            Attempt.started_at < end,
            Attempt.processing_mode == CLOUD,
            (RoutingDecision.request_id.is_(None))
            | (RoutingDecision.privacy_level == PrivacyLevel.SENSITIVE.value)
            | (RoutingDecision.cloud_allowed.is_(False)),
        )
    )
    out["privacy_violations"] = (
        Reading(
            "privacy_violations",
            float(violations or 0),
            "attempts",
            f"over {cloud_attempts} requests with a cloud attempt",
        )
        if any_attempts
        else Reading("privacy_violations", None, "attempts", "no attempt in the window: nothing to confirm")
    )

    routed = session.scalar(
        select(func.count())
        .select_from(RoutingDecision)
        .where(RoutingDecision.created_at >= start, RoutingDecision.created_at < end)
    )
    out["routed_requests"] = Reading(
        "routed_requests", float(routed or 0), "routing_decisions", "decisions stored"
    )
    scored = session.scalar(
        select(func.count())
        .select_from(QualityScore)
        .where(QualityScore.created_at >= start, QualityScore.created_at < end)
    )
    out["quality_scores_recorded"] = Reading(
        "quality_scores_recorded", float(scored or 0), "quality_scores", "scores stored"
    )

    runs = {
        r.task: r.last_now
        for r in session.scalars(select(SchedulerRun).where(SchedulerRun.task.in_(MONITORING_TASKS)))
    }
    stale = [
        t
        for t in MONITORING_TASKS
        if t not in runs or not window.now - MONITORING_FRESH <= runs[t] <= window.now
    ]
    out["monitoring_operational"] = Reading(
        "monitoring_operational",
        0.0 if stale else 1.0,
        "scheduler_runs",
        f"not run within 10 minutes: {', '.join(stale)}"
        if stale
        else "aggregation and alert evaluation ran within 10 minutes",
    )

    completed = session.scalar(
        select(func.count())
        .select_from(FineTuneJob)
        .where(
            FineTuneJob.created_at >= start,
            FineTuneJob.created_at < end,
            FineTuneJob.status.in_(COMPLETED_JOBS),
        )
    )
    out["finetune_jobs_completed"] = Reading(
        "finetune_jobs_completed",
        float(completed or 0),
        "finetune_jobs",
        "jobs exported, submitted or succeeded",
    )
    return out


def cluster_readings(session: Session, window: Window) -> dict[str, Reading]:
    return {**_rollup_readings(_rollups(session, window), window), **_row_readings(session, window)}


# -- external -------------------------------------------------------------------------------------


def external_readings(
    session: Session, metrics: Collection[str], *, now: dt.datetime, max_age: dt.timedelta
) -> dict[str, Reading]:
    """The newest posted value of each metric measured at or before ``now``."""
    out: dict[str, Reading] = {}
    for metric in sorted(metrics):
        row = session.scalar(
            select(ExternalMetric)
            .where(ExternalMetric.metric == metric, ExternalMetric.measured_at <= now)
            .order_by(ExternalMetric.measured_at.desc(), ExternalMetric.id.desc())
            .limit(1)
        )
        if row is None:
            out[metric] = Reading(metric, None, "external", "no value posted (POST /v1/metrics/external)")
        elif row.measured_at < now - max_age:
            out[metric] = Reading(
                metric,
                None,
                f"external:{row.source}",
                f"the last value ({row.value:g}, measured {_iso(row.measured_at)}) is older than "
                f"{max_age.days} days",
            )
        else:
            out[metric] = Reading(
                metric,
                row.value,
                f"external:{row.source}",
                f"posted by {row.received_by}",
                _iso(row.measured_at),
            )
    return out


# -- Prometheus -----------------------------------------------------------------------------------

Query = Callable[[str, dt.datetime], list[dict[str, Any]]]


def prometheus_query(base_url: str, timeout_s: float) -> Query:
    """An instant query against Prometheus's HTTP API (``/api/v1/query``)."""

    def query(promql: str, at: dt.datetime) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{base_url.rstrip('/')}/api/v1/query",
            params={"query": promql, "time": f"{at.timestamp():.3f}"},
            timeout=timeout_s,
        )
        response.raise_for_status()
        body = response.json()
        if body.get("status") != "success":
            raise ValueError(f"Prometheus answered {body.get('status')}: {body.get('error')}")
        result = body["data"]["result"]
        return list(result) if isinstance(result, list) else []

    return query


def _scalar(result: list[dict[str, Any]]) -> float | None:
    if not result:
        return None
    value = float(result[0]["value"][1])
    return None if math.isnan(value) else value


PROMETHEUS_QUERIES = {
    "model_load_success_rate": (
        'sum(increase(coachline_engine_loads_total{{outcome="success"}}[{h}h])) '
        "/ sum(increase(coachline_engine_loads_total[{h}h]))"
    ),
    "model_load_time_s": "max(max_over_time(coachline_engine_load_last_seconds[{h}h]))",
}


def prometheus_readings(query: Query | None, metrics: Collection[str], window: Window) -> dict[str, Reading]:
    out: dict[str, Reading] = {}
    for metric in sorted(metrics):
        if metric not in PROMETHEUS_QUERIES:
            out[metric] = Reading(
                metric, None, "prometheus", "no Prometheus query is defined for this metric"
            )
            continue
        if query is None:
            out[metric] = Reading(
                metric,
                None,
                "prometheus",
                "recorded by the GPU workers in Prometheus; set COACHLINE_GATES_PROMETHEUS_URL to read it",
            )
            continue
        promql = PROMETHEUS_QUERIES[metric].format(h=window.hours)
        try:
            value = _scalar(query(promql, window.end))
        except (httpx.HTTPError, ValueError, KeyError, IndexError) as e:
            out[metric] = Reading(
                metric, None, "prometheus", f"Prometheus query failed: {type(e).__name__}: {e}"
            )
            continue
        out[metric] = (
            Reading(metric, value, "prometheus", promql)
            if value is not None
            else Reading(metric, None, "prometheus", "no engine load recorded in the window")
        )
    return out


def readings_for(
    session: Session,
    metrics: dict[str, MetricSpec],
    window: Window,
    *,
    external_max_age: dt.timedelta,
    prometheus: Query | None,
) -> dict[str, Reading]:
    """Readings of every metric in ``metrics``, each from its source."""
    by_source: dict[str, list[str]] = {"cluster": [], "external": [], "prometheus": []}
    for name, spec in metrics.items():
        by_source[spec.source].append(name)
    out: dict[str, Reading] = {}
    if by_source["cluster"]:
        measured = cluster_readings(session, window)
        for name in by_source["cluster"]:
            out[name] = measured.get(name) or Reading(
                name, None, "cluster", "coachline has no reader for this metric"
            )
    out.update(external_readings(session, by_source["external"], now=window.now, max_age=external_max_age))
    out.update(prometheus_readings(prometheus, by_source["prometheus"], window))
    return out
