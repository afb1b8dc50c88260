"""The alert state machine, as a plain function of (rule, current state, reading, now).

    inactive --true--> pending --true for `for`--> firing --false for `keep_firing_for`--> resolved
                          |                            |
                          +--false--> inactive          +-- unacknowledged: escalates by policy

A rule with ``for: 0s`` goes straight from inactive to firing. No data counts as "not true": an
alert whose input disappears resolves once its keep-firing window has passed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from scheduler.alerts.rules import EscalationStep, Rule


@dataclass(frozen=True)
class AlertState:
    """The part of a stored alert the state machine reads and writes."""

    state: str  # pending | firing | resolved | inactive
    pending_since: dt.datetime
    last_true_at: dt.datetime
    fired_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    escalation_level: int = 0
    escalated_at: dt.datetime | None = None
    acknowledged_at: dt.datetime | None = None
    value: float | None = None


@dataclass(frozen=True)
class Step:
    """The state after an evaluation (None: nothing open), and what happened on the way."""

    state: AlertState | None
    events: list[str] = field(default_factory=list)  # pending, firing, resolved, inactive, escalated
    notify: list[str] = field(default_factory=list)  # firing, resolved, escalated

    @property
    def closed(self) -> bool:
        return self.state is not None and self.state.state in ("resolved", "inactive")


def escalation_target(steps: list[EscalationStep], fired_at: dt.datetime, now: dt.datetime) -> int:
    """The level an unacknowledged alert has reached ``now``: the last step whose ``after`` passed."""
    level = 0
    for step in steps:
        if now - fired_at >= step.after_td:
            level = step.level
    return level


def step(
    rule: Rule,
    current: AlertState | None,
    *,
    breached: bool,
    value: float | None,
    now: dt.datetime,
    keep_firing_for: dt.timedelta,
    escalation: list[EscalationStep],
) -> Step:
    """Advance one alert by one evaluation."""
    if current is None:
        if not breached:
            return Step(None)
        opened = AlertState(state="pending", pending_since=now, last_true_at=now, value=value)
        if rule.for_td <= dt.timedelta(0):
            return _fire(opened, now)
        return Step(opened, events=["pending"])

    current = replace(current, value=value if value is not None else current.value)
    if current.state == "pending":
        if not breached:
            return Step(replace(current, state="inactive", resolved_at=now), events=["inactive"])
        current = replace(current, last_true_at=now)
        if now - current.pending_since >= rule.for_td:
            return _fire(current, now)
        return Step(current)

    if current.state == "firing":
        if breached:
            current = replace(current, last_true_at=now)
        elif now - current.last_true_at >= keep_firing_for:
            return Step(replace(current, state="resolved", resolved_at=now), ["resolved"], ["resolved"])
        return _escalate(current, now, escalation)

    raise ValueError(f"alert in state {current.state!r} is closed; open a new one")


def _fire(current: AlertState, now: dt.datetime) -> Step:
    fired = replace(current, state="firing", fired_at=now, last_true_at=now)
    return Step(fired, ["firing"], ["firing"])


def _escalate(current: AlertState, now: dt.datetime, escalation: list[EscalationStep]) -> Step:
    if current.acknowledged_at is not None or current.fired_at is None:
        return Step(current)
    target = escalation_target(escalation, current.fired_at, now)
    if target <= current.escalation_level:
        return Step(current)
    escalated = replace(current, escalation_level=target, escalated_at=now)
    return Step(escalated, ["escalated"], ["escalated"])
