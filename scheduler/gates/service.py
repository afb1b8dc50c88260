"""The gate steps the task, the API and the CLI run: evaluate a phase, store its report, nightly runs.

Nightly means once per UTC day per phase, at or after ``gates_nightly_hour_utc``: beat sends the
task every hour and the step does the day's evaluation once, whichever beat gets there first (the
unique constraint on (phase, nightly_for) keeps a second one out). A missed night is caught up at
the next run of the day, with no cron expression and no Celery in this module.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from coachline.db.lifecycle import GateReport
from coachline.db.session import session_scope
from coachline.settings import Settings
from coachline.telemetry import metrics
from scheduler.aggregation import dialect_insert
from scheduler.gates.measure import Query, gate_window, prometheus_query, readings_for
from scheduler.gates.spec import GatesFile, load_gates
from scheduler.gates.verdict import VERDICT_CODES, PhaseReport, evaluate_phase
from scheduler.monitor import record_run, step

log = structlog.get_logger(__name__)

EVALUATE_GATES_TASK = "scheduler.evaluate_gates"


def gates_of(settings: Settings) -> GatesFile:
    return load_gates(settings.gates_file)


def _iso(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def evaluate(
    settings: Settings,
    *,
    phase: str,
    now: dt.datetime,
    window_h: int | None = None,
    prometheus: Query | None = None,
) -> PhaseReport:
    """Measure and judge ``phase`` as of ``now`` (nothing stored). KeyError: unknown phase."""
    gates = gates_of(settings)
    spec = gates.phase(phase)
    window = gate_window(
        now, window_h=window_h or spec.window_h or gates.window_h, lag_s=settings.aggregation_lag_s
    )
    wanted = {g.metric: gates.metrics[g.metric] for group in spec.groups.values() for g in group.gates}
    if prometheus is None and settings.gates_prometheus_url:
        prometheus = prometheus_query(settings.gates_prometheus_url, settings.gates_prometheus_timeout_s)
    with session_scope(settings.database_url) as session:
        readings = readings_for(
            session,
            wanted,
            window,
            external_max_age=dt.timedelta(days=settings.gates_external_max_age_days),
            prometheus=prometheus,
        )
    return evaluate_phase(
        gates,
        phase,
        readings,
        evaluated_at=_iso(now),
        window_start=_iso(window.start),
        window_end=_iso(window.end),
        window_detail=f"{window.hours} closed hours",
    )


def store_report(
    session: Session,
    report: PhaseReport,
    *,
    now: dt.datetime,
    trigger: str,
    requested_by: str | None = None,
    nightly_for: dt.date | None = None,
) -> int | None:
    """Insert the report; None when the phase already has its nightly report for that day."""
    insert = dialect_insert(session)
    stmt = (
        insert(GateReport)
        .values(
            phase=report.phase,
            verdict=report.verdict,
            outcome=report.outcome,
            reason=report.reason,
            evaluated_at=now,
            window_start=dt.datetime.fromisoformat(report.window_start.replace("Z", "+00:00")),
            window_end=dt.datetime.fromisoformat(report.window_end.replace("Z", "+00:00")),
            trigger=trigger,
            nightly_for=nightly_for,
            requested_by=requested_by,
            gates_version=report.gates_version,
            report=report.as_dict(),
            created_at=dt.datetime.now(dt.UTC),
        )
        .on_conflict_do_nothing(index_elements=["phase", "nightly_for"])
        .returning(GateReport.id)
    )
    return session.execute(stmt).scalar_one_or_none()


def _count(report: PhaseReport) -> None:
    metrics.GATE_EVALUATIONS.labels(phase=report.phase, verdict=report.verdict).inc()
    metrics.GATE_VERDICT.labels(phase=report.phase).set(VERDICT_CODES[report.verdict])
    log.info("gates.evaluated", phase=report.phase, verdict=report.verdict, outcome=report.outcome)


def run_evaluation(
    settings: Settings,
    *,
    phase: str,
    now: dt.datetime,
    trigger: str,
    requested_by: str | None = None,
    window_h: int | None = None,
    store: bool = True,
    prometheus: Query | None = None,
) -> dict[str, Any]:
    """Evaluate on demand (CLI, API) and store the report; returns it with its id."""
    report = evaluate(settings, phase=phase, now=now, window_h=window_h, prometheus=prometheus)
    report_id = None
    if store:
        with session_scope(settings.database_url) as session:
            report_id = store_report(session, report, now=now, trigger=trigger, requested_by=requested_by)
    _count(report)
    return {"id": report_id, **report.as_dict()}


def nightly_phases(settings: Settings) -> list[str]:
    return list(settings.gates_phases or gates_of(settings).phases)


def run_nightly(settings: Settings, *, now: dt.datetime, prometheus: Query | None = None) -> dict[str, Any]:
    """Beat's hourly call: the day's nightly report of each phase, once, from the configured hour on."""
    with step(EVALUATE_GATES_TASK, now):
        day = now.astimezone(dt.UTC).date()
        due = now.astimezone(dt.UTC).hour >= settings.gates_nightly_hour_utc
        results: dict[str, str] = {}
        if due:
            known = gates_of(settings).phases
            for phase in nightly_phases(settings):
                if phase not in known:
                    log.error("gates.unknown_phase", phase=phase)
                    results[phase] = "unknown phase (COACHLINE_GATES_PHASES)"
                    continue
                with session_scope(settings.database_url) as session:
                    done = session.scalar(
                        select(GateReport.verdict).where(
                            GateReport.phase == phase, GateReport.nightly_for == day
                        )
                    )
                if done is not None:
                    results[phase] = f"{done} (evaluated earlier today)"
                    continue
                report = evaluate(settings, phase=phase, now=now, prometheus=prometheus)
                with session_scope(settings.database_url) as session:
                    stored = store_report(session, report, now=now, trigger="nightly", nightly_for=day)
                if stored is not None:
                    _count(report)
                results[phase] = report.verdict if stored is not None else "evaluated by another beat"
        detail = {"due": due, "day": day.isoformat(), "phases": results}
        with session_scope(settings.database_url) as session:
            record_run(session, EVALUATE_GATES_TASK, now=now, detail=detail)
    return detail


def latest_report(session: Session, phase: str) -> GateReport | None:
    return session.scalar(
        select(GateReport)
        .where(GateReport.phase == phase)
        .order_by(GateReport.evaluated_at.desc(), GateReport.id.desc())
        .limit(1)
    )
