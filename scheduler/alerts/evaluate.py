"""Alert evaluation over stored rollups: read each rule's window, step its alerts, store the result.

One evaluation runs at a time across every beat and worker: on PostgreSQL it takes a transaction
advisory lock first, so a second evaluator waits and then sees the first one's alerts; the unique
constraint on (rule, open_key) is the backstop.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from coachline.db.monitoring import Alert, AlertEvent, AlertNotification
from scheduler.aggregation import floor_time, merged_window
from scheduler.alerts.engine import AlertState, Step, step
from scheduler.alerts.notify import payload, webhook_urls
from scheduler.alerts.rules import Rule, RuleSet
from scheduler.alerts.signals import SIGNALS, WindowData
from scheduler.rollup import TOTAL, Acc

# pg_advisory_xact_lock key: "coachline alerts" as a stable 64-bit number.
_ADVISORY_KEY = 0x636C_616C_6572_7473


@dataclass(frozen=True)
class Reading:
    rule: str
    labels: dict[str, str]
    value: float | None
    samples: int
    status: str  # breach | ok | no_data
    reason: str = ""


@dataclass
class EvaluationReport:
    window_end: str
    readings: list[Reading] = field(default_factory=list)
    transitions: list[tuple[str, str]] = field(default_factory=list)  # (rule, event kind)

    def as_dict(self) -> dict[str, Any]:
        return {
            "window_end": self.window_end,
            "readings": [asdict(r) for r in self.readings],
            "transitions": [list(t) for t in self.transitions],
        }


def labels_key(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def lock_evaluation(session: Session) -> None:
    """Serialise evaluations across processes (PostgreSQL); SQLite serialises writers itself."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})


def read_rule(session: Session, rule: Rule, rules: RuleSet, *, end: dt.datetime) -> list[Reading]:
    """The rule's metric over its window ending at ``end``: one reading per label set."""
    signal = SIGNALS[rule.metric]
    if signal.compute is None:
        return [Reading(rule.name, {}, None, 0, "no_data", signal.unmeasured_reason)]
    window = rule.window_td
    by_model = "model" in rule.by
    current, minutes = merged_window(session, end=end, length=window, by_model=by_model)
    if minutes == 0:
        reason = "no rollups in the window (is aggregation running?)"
        return [Reading(rule.name, {}, None, 0, "no_data", reason)]
    baseline: dict[Any, Acc] = {}
    baseline_td = rule.baseline_td
    baseline_s = 0.0
    if baseline_td is not None:
        baseline, base_minutes = merged_window(
            session, end=end - window, length=baseline_td, by_model=by_model
        )
        baseline_s = base_minutes * 60.0
        # A baseline mostly made of minutes nobody aggregated would make any rate look like a spike.
        if baseline_s < baseline_td.total_seconds() / 2:
            reason = f"baseline covers {base_minutes} of {baseline_td.total_seconds() / 60:.0f} minutes"
            return [Reading(rule.name, {}, None, 0, "no_data", reason)]
    groups = dict(current) if by_model else {TOTAL: current.get(TOTAL, Acc.merged())}
    readings: list[Reading] = []
    min_samples = rules.min_samples(rule)
    for dims in sorted(groups):
        labels = {"model": dims.model} if by_model else {}
        value, samples = signal.compute(
            WindowData(
                current=groups[dims],
                window_s=window.total_seconds(),
                baseline=baseline.get(dims) if baseline_td is not None else None,
                baseline_s=baseline_s if baseline_td is not None else None,
            )
        )
        if value is None or samples < min_samples:
            reason = f"{samples} samples; the rule needs {min_samples}" if value is not None else "no samples"
            readings.append(Reading(rule.name, labels, None, samples, "no_data", reason))
            continue
        status = "breach" if rule.breached(value) else "ok"
        readings.append(Reading(rule.name, labels, value, samples, status))
    return readings


def _state_of(alert: Alert) -> AlertState:
    return AlertState(
        state=alert.state,
        pending_since=alert.pending_since,
        last_true_at=alert.last_true_at,
        fired_at=alert.fired_at,
        resolved_at=alert.resolved_at,
        escalation_level=alert.escalation_level,
        escalated_at=alert.escalated_at,
        acknowledged_at=alert.acknowledged_at,
        value=alert.value,
    )


@dataclass(frozen=True)
class Routing:
    default_url: str
    per_channel: dict[str, str]


def evaluate_alerts(
    session: Session, *, rules: RuleSet, now: dt.datetime, lag_s: float, routing: Routing
) -> EvaluationReport:
    """Evaluate every rule at ``now`` over windows ending at the last closed minute."""
    lock_evaluation(session)
    end = floor_time(now - dt.timedelta(seconds=lag_s), "1m")
    report = EvaluationReport(window_end=end.isoformat())
    open_alerts = {
        (a.rule, a.labels_key): a
        for a in session.scalars(select(Alert).where(Alert.open_key.is_not(None)).with_for_update())
    }
    for rule in rules.rules:
        readings = read_rule(session, rule, rules, end=end)
        report.readings.extend(readings)
        by_key = {labels_key(r.labels): r for r in readings}
        keys = set(by_key) | {key for name, key in open_alerts if name == rule.name}
        for key in sorted(keys):
            reading = by_key.get(key)
            alert = open_alerts.get((rule.name, key))
            result = step(
                rule,
                None if alert is None else _state_of(alert),
                breached=reading is not None and reading.status == "breach",
                value=None if reading is None else reading.value,
                now=now,
                keep_firing_for=rules.keep_firing_for(rule),
                escalation=list(rules.escalation_policies[rule.escalation]),
            )
            labels = reading.labels if reading is not None else (alert.labels if alert else {})
            _apply(session, rule, rules, alert, result, labels=labels, now=now, routing=routing)
            report.transitions.extend((rule.name, kind) for kind in result.events)
    known = {r.name for r in rules.rules}
    for (name, _), alert in open_alerts.items():
        if name not in known:
            _close_orphan(session, alert, now)
            report.transitions.append((name, "resolved"))
    return report


def _apply(
    session: Session,
    rule: Rule,
    rules: RuleSet,
    alert: Alert | None,
    result: Step,
    *,
    labels: dict[str, str],
    now: dt.datetime,
    routing: Routing,
) -> None:
    state = result.state
    if state is None:
        return
    if alert is None:
        alert = Alert(
            rule=rule.name,
            labels=labels,
            labels_key=labels_key(labels),
            level=rule.level,
            escalation_policy=rule.escalation,
            channels=list(rule.channels),
            summary=rule.summary,
            expression=rule.expression,
            threshold=rule.threshold,
            rules_version=rules.version,
        )
        session.add(alert)
    alert.state = state.state
    alert.open_key = None if result.closed else labels_key(labels)
    alert.pending_since = state.pending_since
    alert.last_true_at = state.last_true_at
    alert.fired_at = state.fired_at
    alert.resolved_at = state.resolved_at
    alert.escalation_level = state.escalation_level
    alert.escalated_at = state.escalated_at
    alert.value = state.value
    alert.last_evaluated_at = now
    session.flush()
    steps = list(rules.escalation_policies[rule.escalation])
    for kind in result.events:
        detail: dict[str, Any] = {"value": state.value, "threshold": rule.threshold}
        if kind == "escalated":
            detail["escalation_level"] = state.escalation_level
        session.add(AlertEvent(alert_id=alert.id, at=now, kind=kind, detail=detail))
    urls = webhook_urls(rule, default_url=routing.default_url, per_channel=routing.per_channel)
    for kind in result.notify:
        body = payload(alert, kind, rule, steps=steps, now=now)
        for url in urls:
            session.add(
                AlertNotification(
                    alert_id=alert.id, kind=kind, url=url, payload=body, created_at=now, next_attempt_at=now
                )
            )


def _close_orphan(session: Session, alert: Alert, now: dt.datetime) -> None:
    """An open alert whose rule left the rules file: closed without a notification."""
    alert.state = "resolved" if alert.state == "firing" else "inactive"
    alert.open_key = None
    alert.resolved_at = now
    alert.last_evaluated_at = now
    session.add(AlertEvent(alert_id=alert.id, at=now, kind=alert.state, detail={"reason": "rule removed"}))
