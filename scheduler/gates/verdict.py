"""Gates and verdicts as plain functions: readings in, gate results and the phase's verdict out.

A gate is met, failed, or not measured (no reading); for the decision rules a gate that was not
measured counts as missed, never as met. The rules of the phase are tried in order, the first whose
conditions hold decides (see ``gates.yaml``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from scheduler.gates.spec import Condition, Count, GatesFile, GateSpec, PhaseSpec, Rule

MET, FAILED, NOT_MEASURED = "met", "failed", "not_measured"
VERDICT_CODES = {"GO": 0, "NO-GO": 1, "PAUSE": 2}

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Reading:
    """One metric's value for an evaluation; ``value`` None means not measured, ``detail`` says why
    (or where the value came from)."""

    metric: str
    value: float | None
    source: str
    detail: str
    measured_at: str | None = None


@dataclass(frozen=True)
class GateResult:
    name: str
    metric: str
    unit: str
    op: str
    threshold: float
    status: str  # met | failed | not_measured
    value: float | None
    source: str
    detail: str
    plan: str
    measured_at: str | None = None


@dataclass(frozen=True)
class GroupResult:
    name: str
    plan: str
    minimum: int | None
    gates: list[GateResult]

    @property
    def total(self) -> int:
        return len(self.gates)

    def count(self, status: str) -> int:
        return sum(1 for g in self.gates if g.status == status)

    @property
    def met(self) -> int:
        return self.count(MET)

    @property
    def missed(self) -> int:
        return self.total - self.met


@dataclass(frozen=True)
class Decision:
    verdict: str
    outcome: str
    reason: str
    reasons: list[str] = field(default_factory=list)


def compare(value: float, op: str, threshold: float) -> bool:
    return _OPS[op](value, threshold)


def judge_gate(gate: GateSpec, unit: str, reading: Reading | None) -> GateResult:
    if reading is None:
        reading = Reading(gate.metric, None, "none", "no source reads this metric")
    if reading.value is None:
        status = NOT_MEASURED
    else:
        status = MET if compare(reading.value, gate.op, gate.threshold) else FAILED
    return GateResult(
        name=gate.name,
        metric=gate.metric,
        unit=unit,
        op=gate.op,
        threshold=gate.threshold,
        status=status,
        value=reading.value,
        source=reading.source,
        detail=reading.detail,
        plan=gate.plan,
        measured_at=reading.measured_at,
    )


def _needed(count: Count, total: int) -> int:
    if count == "all":
        return total
    if count == "majority":
        return total // 2 + 1
    return int(count)


def _say(count: Count) -> str:
    return {"all": "all", "majority": "a majority"}[count] if isinstance(count, str) else f"at least {count}"


def check_condition(
    cond: Condition, groups: Mapping[str, GroupResult], gates: Mapping[str, GateResult]
) -> tuple[bool, str]:
    """Whether ``cond`` holds, and a phrase saying what was found."""
    if cond.gate is not None:
        gate = gates[cond.gate]
        return gate.status == cond.status, f"{gate.name} is {gate.status.replace('_', ' ')}"
    assert cond.group is not None
    group = groups[cond.group]
    if cond.met is not None:
        need = _needed(cond.met, group.total)
        return group.met >= need, f"{group.name}: {group.met} of {group.total} met (needs {_say(cond.met)})"
    if cond.missed is not None:
        holds = group.missed >= _needed(cond.missed, group.total)
        text = f"{group.name}: {group.missed} of {group.total} not met"
        return holds, text + (f" ({_say(cond.missed)})" if holds else "")
    assert cond.failed is not None
    failed = [g for g in group.gates if g.status == FAILED]
    names = ", ".join(g.name for g in failed) or "none"
    return len(failed) >= cond.failed, f"{group.name}: {len(failed)} measured and failed ({names})"


def decide(phase: PhaseSpec, groups: Mapping[str, GroupResult]) -> Decision:
    """The first rule whose conditions hold; the fallback explains which proceed conditions failed."""
    gates = {g.name: g for group in groups.values() for g in group.gates}
    go_failures: list[str] = []
    for rule in phase.decision:
        if rule.unconditional:
            why = go_failures or ["no rule's conditions hold"]
            return Decision(rule.verdict, rule.outcome, _sentence(rule, why), why)
        results = [check_condition(c, groups, gates) for c in rule.conditions]
        if _holds(rule, results):
            found = [text for ok, text in results if ok] if rule.any is not None else [t for _, t in results]
            return Decision(rule.verdict, rule.outcome, _sentence(rule, found), found)
        if rule.verdict == "GO":
            go_failures += [text for ok, text in results if not ok]
    raise AssertionError("the gates file guarantees an unconditional last rule")


def _holds(rule: Rule, results: list[tuple[bool, str]]) -> bool:
    oks = [ok for ok, _ in results]
    return all(oks) if rule.all is not None else any(oks)


def _sentence(rule: Rule, found: list[str]) -> str:
    outcome = rule.outcome.replace("_", " ")
    return f"{rule.verdict} ({outcome}): " + "; ".join(found)


@dataclass(frozen=True)
class PhaseReport:
    phase: str
    title: str
    plan: str
    gates_version: int
    evaluated_at: str
    window_start: str
    window_end: str
    verdict: str
    outcome: str
    reason: str
    reasons: list[str]
    groups: list[dict[str, Any]]
    not_measured: list[dict[str, Any]]
    window_detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_phase(
    gates_file: GatesFile,
    phase_name: str,
    readings: Mapping[str, Reading],
    *,
    evaluated_at: str,
    window_start: str,
    window_end: str,
    window_detail: str = "",
) -> PhaseReport:
    """Judge every gate of the phase on ``readings`` and decide its verdict."""
    phase = gates_file.phase(phase_name)
    groups = {
        name: GroupResult(
            name=name,
            plan=group.plan,
            minimum=group.minimum,
            gates=[
                judge_gate(g, gates_file.metrics[g.metric].unit, readings.get(g.metric)) for g in group.gates
            ],
        )
        for name, group in phase.groups.items()
    }
    decision = decide(phase, groups)
    unmeasured: dict[str, dict[str, Any]] = {}
    for group in groups.values():
        for gate in group.gates:
            if gate.status == NOT_MEASURED and gate.metric not in unmeasured:
                spec = gates_file.metrics[gate.metric]
                unmeasured[gate.metric] = {
                    "metric": gate.metric,
                    "source": spec.source,
                    "unit": spec.unit,
                    "description": spec.description,
                    "detail": gate.detail,
                }
    return PhaseReport(
        phase=phase_name,
        title=phase.title,
        plan=phase.plan,
        gates_version=gates_file.version,
        evaluated_at=evaluated_at,
        window_start=window_start,
        window_end=window_end,
        verdict=decision.verdict,
        outcome=decision.outcome,
        reason=decision.reason,
        reasons=decision.reasons,
        groups=[
            {
                "name": g.name,
                "plan": g.plan,
                "minimum": g.minimum,
                "met": g.met,
                "failed": g.count(FAILED),
                "not_measured": g.count(NOT_MEASURED),
                "total": g.total,
                "gates": [asdict(r) for r in g.gates],
            }
            for g in groups.values()
        ],
        not_measured=list(unmeasured.values()),
        window_detail=window_detail,
    )
