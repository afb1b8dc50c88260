"""Gates and verdicts as plain data: the bundled gates file, each verdict of the decision matrix,
"not measured", and the file's validation."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from coachline.errors import ConfigError
from scheduler.gates.report import render_markdown
from scheduler.gates.spec import BUNDLED_GATES_FILE, MetricSpec, load_gates
from scheduler.gates.verdict import PhaseReport, Reading, evaluate_phase

GATES = load_gates()

# Every metric phase 1 -> 2 reads, at a value that meets every gate.
GOOD_1_2 = {
    "local_p95_latency_ms": 240.0,
    "response_quality_score": 4.3,
    "local_processing_rate": 0.35,
    "security_audit_critical_findings": 0.0,
    "cost_reduction_pct": 24.0,
    "request_success_rate": 0.97,
    "engagement_improvement_pct": 16.0,
    "local_beta_opt_in_pct": 6.0,
    "risk_assessment_manageable": 1.0,
    "stakeholder_approval_obtained": 1.0,
    "budget_overrun_pct": 10.0,
    "timeline_delay_weeks": 2.0,
    "user_adoption_pct": 7.0,
    "strategic_pivot_factors": 0.0,
}


def _report(values: Mapping[str, float | None], phase: str = "phase-1-2") -> PhaseReport:
    readings = {
        m: Reading(m, v, "test", "given" if v is not None else "no value posted") for m, v in values.items()
    }
    return evaluate_phase(
        GATES, phase, readings, evaluated_at="2026-03-01T02:00:00Z", window_start="x", window_end="y"
    )


def _gate(report: PhaseReport, group: str, name: str) -> dict[str, Any]:
    (found,) = [g for grp in report.groups if grp["name"] == group for g in grp["gates"] if g["name"] == name]
    return found


def test_the_bundled_file_has_the_plans_phases() -> None:
    assert list(GATES.phases) == ["week-3", "week-6", "phase-1-2", "phase-2-3", "week-17", "week-20"]
    phase = GATES.phase("phase-1-2")
    assert phase.groups["technical"].minimum == 3 and len(phase.groups["technical"].gates) == 4
    assert phase.groups["business"].minimum == 2 and len(phase.groups["business"].gates) == 3
    p23 = GATES.phase("phase-2-3")
    assert p23.groups["technical"].minimum == 4 and len(p23.groups["technical"].gates) == 5
    # The plan's numbers, as data.
    w6 = {
        g.name: (g.metric, g.op, g.threshold)
        for grp in GATES.phase("week-6").groups.values()
        for g in grp.gates
    }
    assert w6["p95_latency"] == ("local_p95_latency_ms", "<", 300)
    assert w6["local_processing_rate"] == ("local_processing_rate", ">", 0.25)
    assert w6["cost_reduction"] == ("cost_reduction_pct", ">", 15)
    assert w6["zero_privacy_violations"] == ("privacy_violations", "==", 0)
    assert GATES.metrics["battery_impact_pct"].source == "external"
    assert GATES.metrics["local_p95_latency_ms"].source == "cluster"


def test_go_when_every_proceed_condition_holds() -> None:
    report = _report(GOOD_1_2)
    assert (report.verdict, report.outcome) == ("GO", "proceed")
    assert "technical: 4 of 4 met (needs all)" in report.reason
    assert "business: 3 of 3 met (needs a majority)" in report.reason
    assert report.not_measured == []


def test_the_gate_minimum_is_not_enough_to_proceed() -> None:
    # 3 of 4 technical criteria meet the phase gate's "must achieve 3/4", but the decision matrix
    # proceeds only when all technical criteria are met.
    report = _report({**GOOD_1_2, "request_success_rate": 0.85})
    assert (report.verdict, report.outcome) == ("NO-GO", "hold")
    assert _gate(report, "technical", "availability_with_fallback")["status"] == "failed"
    assert report.reasons == ["technical: 3 of 4 met (needs all)"]


def test_business_majority_is_enough() -> None:
    report = _report({**GOOD_1_2, "engagement_improvement_pct": 9.0})
    assert report.verdict == "GO"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (
            {"local_p95_latency_ms": 420.0, "response_quality_score": 3.6, "request_success_rate": 0.8},
            "technical: 3 of 4 not met",
        ),
        (
            {"engagement_improvement_pct": 3.0, "local_beta_opt_in_pct": 1.0, "cost_reduction_pct": 12.0},
            "business: 3 of 3 not met",
        ),
        ({"budget_overrun_pct": 62.0}, "pause_triggers: 1 measured and failed (budget_overrun_within_50pct)"),
        (
            {"timeline_delay_weeks": 7.0},
            "pause_triggers: 1 measured and failed (timeline_delay_within_6_weeks)",
        ),
        (
            {"security_audit_critical_findings": 2.0},
            "pause_triggers: 1 measured and failed (no_critical_vulnerabilities)",
        ),
    ],
)
def test_pause_and_reassess(change: dict[str, float], why: str) -> None:
    report = _report({**GOOD_1_2, **change})
    assert (report.verdict, report.outcome) == ("PAUSE", "pause_and_reassess")
    assert any(r.startswith(why) for r in report.reasons), report.reasons


def test_pivot_or_discontinue_comes_first() -> None:
    report = _report({**GOOD_1_2, "user_adoption_pct": 1.5, "budget_overrun_pct": 80.0})
    assert (report.verdict, report.outcome) == ("NO-GO", "pivot_or_discontinue")
    assert report.reasons == ["pivot_triggers: 1 measured and failed (user_adoption_at_least_2pct)"]


def test_not_measured_counts_as_not_met_but_never_as_a_discovered_problem() -> None:
    missing = {
        k: (None if k in ("budget_overrun_pct", "engagement_improvement_pct") else v)
        for k, v in GOOD_1_2.items()
    }
    report = _report(missing)
    budget = _gate(report, "proceed_conditions", "budget_within_25pct")
    assert budget["status"] == "not_measured" and budget["value"] is None
    # Not a PAUSE (no overrun was measured), not a GO (the proceed condition lacks data).
    assert (report.verdict, report.outcome) == ("NO-GO", "hold")
    assert report.reasons == ["proceed_conditions: 3 of 4 met (needs all)"]
    assert {m["metric"] for m in report.not_measured} == {"budget_overrun_pct", "engagement_improvement_pct"}
    text = render_markdown(report.as_dict())
    assert "**Verdict: NO-GO** (do not proceed yet)" in text
    assert "## Not measured (counted as not met)" in text
    assert 'POST /v1/metrics/external {"metric": "budget_overrun_pct"' in text


def test_with_nothing_measured_the_technical_majority_is_missed() -> None:
    report = _report({}, phase="phase-1-2")
    assert report.verdict == "PAUSE"
    assert all(g["status"] == "not_measured" for grp in report.groups for g in grp["gates"])


def test_checkpoints_go_only_when_every_gate_is_met() -> None:
    week6 = {
        "routed_requests": 1200.0,
        "local_processing_rate": 0.3,
        "fallback_success_rate": 0.95,
        "quality_scores_recorded": 900.0,
        "local_p95_latency_ms": 250.0,
        "local_processing_success_rate": 0.97,
        "cost_reduction_pct": 18.0,
        "response_quality_score": 4.2,
        "user_acceptance_pilot_pct": 84.0,
        "privacy_violations": 0.0,
    }
    assert _report(week6, phase="week-6").verdict == "GO"
    violated = _report({**week6, "privacy_violations": 1.0}, phase="week-6")
    assert violated.verdict == "NO-GO" and violated.reasons == ["business: 2 of 3 met (needs all)"]


def test_markdown_shows_each_gate_with_its_value_and_threshold() -> None:
    text = render_markdown(_report(GOOD_1_2).as_dict())
    assert text.startswith("# Gate report: phase-1-2 -- Phase 1 -> phase 2 go/no-go\n")
    assert "**Verdict: GO** (proceed to the next phase)" in text
    assert "| p95_latency | local_p95_latency_ms | 240 ms | < 300 ms | met |" in text
    assert "| local_processing_rate | local_processing_rate | 35.0 % | > 25.0 % | met |" in text
    assert "## technical: 4 of 4 met; the phase gate asks for 3" in text
    assert "| timeline_within_4_weeks | timeline_delay_weeks | 2 weeks | <= 4 weeks | met |" in text
    assert "| risk_manageable | risk_assessment_manageable | yes | == yes | met |" in text


@pytest.mark.parametrize(
    ("unit", "value", "ok"),
    [
        ("bool", 1, True),
        ("bool", 0.5, False),
        ("ratio", 1.2, False),
        ("count", 2.5, False),
        ("count", -1, False),
        ("rating", 0.5, False),
        ("percent", -12.0, True),
        ("ms", -1, False),
        ("usd", float("nan"), False),
    ],
)
def test_external_values_are_checked_against_their_unit(unit: str, value: float, ok: bool) -> None:
    spec = MetricSpec(unit=unit, source="external", description="x")  # type: ignore[arg-type]
    assert (spec.check_value(value) is None) == ok


def _broken(tmp_path: Path, change: Any) -> Path:
    data = yaml.safe_load(BUNDLED_GATES_FILE.read_text())
    change(data)
    path = tmp_path / "gates.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["phases"]["week-3"]["groups"]["technical"]["gates"][0].update(metric="nope"),
            "unknown metric 'nope'",
        ),
        (
            lambda d: d["phases"]["week-3"]["decision"][0]["any"][0].update(group="nope"),
            "unknown group 'nope'",
        ),
        (lambda d: d["phases"]["week-3"]["decision"].pop(), "the last decision rule, and only it"),
        (lambda d: d["phases"]["week-3"]["groups"]["technical"]["gates"][0].update(op="~"), "op"),
        (lambda d: d["phases"]["phase-1-2"]["groups"]["technical"].update(minimum=9), "minimum 9"),
    ],
)
def test_a_broken_gates_file_is_refused_with_its_field(tmp_path: Path, change: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_gates(_broken(tmp_path, change))
