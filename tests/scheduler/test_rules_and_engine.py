"""The rules file and the alert state machine, as plain data: no database, no broker, no clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from coachline.errors import ConfigError
from scheduler.alerts.engine import AlertState, Step, escalation_target, step
from scheduler.alerts.rules import BUNDLED_RULES_FILE, load_rules, parse_rules
from scheduler.alerts.signals import SIGNALS

T = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
RULES = load_rules()


def at(minutes: float) -> dt.datetime:
    return T + dt.timedelta(minutes=minutes)


def test_the_bundled_rules_cover_the_plans_alerts() -> None:
    names = {r.name for r in RULES.rules}
    assert {
        "InferenceLatencyCritical",
        "ResponseQualityCritical",
        "PrivacyViolation",
        "HighErrorRate",
        "VeryHighLatency",
        "CostSpike",
        "InferenceLatencyWarning",
        "ResponseQualityWarning",
        "HighMemoryUsage",
        "HighGpuUtilization",
        "HighLatency",
        "HighDailyCost",
        "HighDegradationRate",
    } <= names
    error = RULES.rule("HighErrorRate")
    assert (error.metric, error.op, error.threshold, error.for_, error.level) == (
        "error_rate",
        ">",
        0.05,
        "5m",
        "critical",
    )
    assert [s.after for s in RULES.escalation_policies["performance"]] == ["15m", "1h", "4h", "24h"]
    assert [s.after for s in RULES.escalation_policies["business"]] == ["1h", "4h", "24h", "48h"]
    assert RULES.version >= 1


def _bundled() -> dict[str, Any]:
    return yaml.safe_load(BUNDLED_RULES_FILE.read_text())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["rules"][0].update(metric="latency_p42"), "rules.0.metric"),
        (lambda d: d["rules"][0].update(window="5 minutes"), "rules.0.window"),
        (lambda d: d["rules"][0].update(window="90s"), "whole minutes"),
        (lambda d: d["rules"][0].update(escalation="nobody"), "no escalation policy 'nobody'"),
        (lambda d: d["rules"][0].update(op="=="), "rules.0.op"),
        (lambda d: d["rules"][0].update(colour="red"), "rules.0.colour"),
        (lambda d: d["rules"][1].update(name=d["rules"][0]["name"]), "repeated"),
        (lambda d: d["rules"][0].update(name="has space"), "rules.0.name"),
        (lambda d: [r.pop("baseline", None) for r in d["rules"]], "give `baseline`"),
        (lambda d: d.pop("version"), "version"),
    ],
)
def test_a_bad_rules_file_names_the_problem(change: Any, message: str) -> None:
    data = _bundled()
    change(data)
    with pytest.raises(ConfigError, match="alert rules") as caught:
        parse_rules(data)
    assert message in str(caught.value)


def test_load_rules_reports_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_rules(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_rules(bad)


def test_unmeasured_metrics_have_no_computation_and_say_why() -> None:
    for name in ("memory_utilization", "gpu_utilization"):
        assert SIGNALS[name].compute is None and "not measured" in SIGNALS[name].unmeasured_reason


def _run(rule_name: str, readings: list[tuple[float, bool]], ack_at: float | None = None) -> list[Step]:
    """Feed (minute, breached) readings to one rule's alert; returns every step."""
    rule = RULES.rule(rule_name)
    state: AlertState | None = None
    steps = []
    for minutes, breached in readings:
        if ack_at is not None and state is not None and minutes >= ack_at and state.acknowledged_at is None:
            state = AlertState(**{**state.__dict__, "acknowledged_at": at(ack_at)})
        result = step(
            rule,
            state,
            breached=breached,
            value=1.0 if breached else 0.0,
            now=at(minutes),
            keep_firing_for=RULES.keep_firing_for(rule),
            escalation=list(RULES.escalation_policies[rule.escalation]),
        )
        steps.append(result)
        state = None if result.state is None or result.closed else result.state
    return steps


def _events(steps: list[Step]) -> list[str]:
    return [e for s in steps for e in s.events]


def test_pending_then_firing_after_for_then_resolved_after_keep_firing() -> None:
    # HighErrorRate: for 5m, keep firing 5m.
    readings = [(0, True), (4, True), (5, True), (6, False), (9, False), (10, False)]
    steps = _run("HighErrorRate", readings)
    assert [s.state.state if s.state else None for s in steps] == [
        "pending",
        "pending",
        "firing",
        "firing",
        "firing",
        "resolved",
    ]
    assert _events(steps) == ["pending", "firing", "resolved"]
    assert [n for s in steps for n in s.notify] == ["firing", "resolved"]


def test_a_pending_alert_that_clears_goes_inactive_without_a_message() -> None:
    steps = _run("HighErrorRate", [(0, True), (2, False), (3, False)])
    assert _events(steps) == ["pending", "inactive"]
    assert all(not s.notify for s in steps)
    assert steps[-1].state is None  # nothing open: a new episode would start from pending


def test_a_rule_without_for_fires_at_once() -> None:
    steps = _run("PrivacyViolation", [(0, True), (1, False)])
    assert _events(steps) == ["firing", "resolved"]  # keep_firing_for: 0s


def test_keep_firing_rides_out_a_flap() -> None:
    readings = [(0, True), (5, True), (6, False), (7, True), (8, False), (11, False), (12, False)]
    steps = _run("HighErrorRate", readings)
    assert _events(steps) == ["pending", "firing", "resolved"]
    assert steps[-2].state is not None and steps[-2].state.state == "firing"  # 4 minutes after 7


def test_escalation_follows_the_matrix_until_acknowledged() -> None:
    # Performance policy: level 1 after 15m, 2 after 1h, 3 after 4h, 4 after 24h since firing.
    minutes = [0, 14, 15, 59, 60, 240, 1440, 2000]
    steps = _run("PrivacyViolation", [(m, True) for m in minutes])
    assert steps[0].state is not None and steps[0].state.escalation_level == 0
    # PrivacyViolation uses the security policy: one level, after 5 minutes.
    assert [s.state.escalation_level for s in steps if s.state] == [0, 1, 1, 1, 1, 1, 1, 1]
    steps = _run("HighErrorRate", [(m, True) for m in [-5, *minutes]])
    levels = [s.state.escalation_level for s in steps if s.state]
    assert levels == [0, 0, 0, 1, 1, 2, 3, 4, 4]  # fired at 0
    assert _events(steps).count("escalated") == 4
    acked = _run("HighErrorRate", [(m, True) for m in [-5, *minutes]], ack_at=20)
    assert [s.state.escalation_level for s in acked if s.state][-1] == 1


def test_escalation_target_is_cumulative_from_firing() -> None:
    steps = list(RULES.escalation_policies["business"])
    assert [escalation_target(steps, T, at(m)) for m in (59, 60, 239, 240, 1440, 2880)] == [0, 1, 1, 2, 3, 4]
