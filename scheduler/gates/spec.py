"""The gates file: metrics, phases, their gates and decision rules, as validated data.

``load_gates(path)`` reads and checks it (every gate names a known metric, every rule names known
groups and gates, the last rule is the unconditional fallback); a mistake raises ConfigError naming
the field. See the bundled ``gates.yaml`` for the grammar.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from coachline.errors import ConfigError, describe_validation
from coachline.yamlfile import read_yaml

BUNDLED_GATES_FILE = Path(__file__).parent / "gates.yaml"

Op = Literal["<", "<=", ">", ">=", "=="]
Unit = Literal["ms", "s", "ratio", "percent", "rating", "count", "bool", "usd", "gb", "weeks", "months"]
Source = Literal["cluster", "prometheus", "external"]
Verdict = Literal["GO", "NO-GO", "PAUSE"]
Count = Literal["all", "majority"] | Annotated[int, Field(ge=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricSpec(_Strict):
    unit: Unit
    source: Source
    description: str

    def check_value(self, value: float) -> str | None:
        """Why ``value`` cannot be a reading of this metric, or None when it can."""
        if not math.isfinite(value):
            return "must be a finite number"
        if self.unit == "bool" and value not in (0, 1):
            return "must be 1 (yes) or 0 (no)"
        if self.unit == "count" and (value < 0 or value != int(value)):
            return "must be a whole number >= 0"
        if self.unit == "ratio" and not 0 <= value <= 1:
            return "must be between 0 and 1"
        if self.unit == "rating" and not 1 <= value <= 5:
            return "must be between 1 and 5"
        if self.unit in ("ms", "s", "usd", "gb", "months") and value < 0:
            return "must be >= 0"
        return None


class GateSpec(_Strict):
    name: str
    metric: str
    op: Op
    threshold: float
    plan: str = ""


class GroupSpec(_Strict):
    gates: Annotated[list[GateSpec], Field(min_length=1)]
    plan: str = ""
    # The phase gate's own "must achieve N of M", shown in reports; the decision rules decide.
    minimum: Annotated[int, Field(ge=1)] | None = None


class Condition(_Strict):
    group: str | None = None
    gate: str | None = None
    met: Count | None = None
    missed: Count | None = None
    failed: Annotated[int, Field(ge=1)] | None = None
    status: Literal["met", "failed", "not_measured"] | None = None

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        if (self.group is None) == (self.gate is None):
            raise ValueError("a condition names exactly one of group or gate")
        if self.group is not None and [self.met, self.missed, self.failed].count(None) != 2:
            raise ValueError("a group condition has exactly one of met, missed or failed")
        if self.gate is not None and (self.status is None or {self.met, self.missed, self.failed} != {None}):
            raise ValueError("a gate condition has a status (met, failed or not_measured) and nothing else")
        return self


class Rule(_Strict):
    verdict: Verdict
    outcome: str
    all: list[Condition] | None = None
    any: list[Condition] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Rule:
        if self.all is not None and self.any is not None:
            raise ValueError("a rule has all: or any:, not both")
        return self

    @property
    def conditions(self) -> list[Condition]:
        return self.all or self.any or []

    @property
    def unconditional(self) -> bool:
        return self.all is None and self.any is None


class PhaseSpec(_Strict):
    title: str
    plan: str = ""
    window_h: Annotated[int, Field(ge=1)] | None = None
    groups: Annotated[dict[str, GroupSpec], Field(min_length=1)]
    decision: Annotated[list[Rule], Field(min_length=1)]

    @model_validator(mode="after")
    def _rules_refer_to_known_names(self) -> PhaseSpec:
        gates = {g.name for group in self.groups.values() for g in group.gates}
        for i, rule in enumerate(self.decision):
            last = i == len(self.decision) - 1
            if rule.unconditional != last:
                raise ValueError("the last decision rule, and only it, must have no conditions")
            for cond in rule.conditions:
                if cond.group is not None and cond.group not in self.groups:
                    raise ValueError(f"decision rule {i + 1} names unknown group {cond.group!r}")
                if cond.gate is not None and cond.gate not in gates:
                    raise ValueError(f"decision rule {i + 1} names unknown gate {cond.gate!r}")
                size = len(self.groups[cond.group].gates) if cond.group else 1
                for count in (cond.met, cond.missed, cond.failed):
                    if isinstance(count, int) and count > size:
                        raise ValueError(
                            f"decision rule {i + 1}: {count} is more than {cond.group}'s {size} gates"
                        )
        for name, group in self.groups.items():
            if group.minimum is not None and group.minimum > len(group.gates):
                raise ValueError(
                    f"group {name}: minimum {group.minimum} is more than its {len(group.gates)} gates"
                )
        return self


class GatesFile(_Strict):
    version: Annotated[int, Field(ge=1)]
    window_h: Annotated[int, Field(ge=1)] = 168
    metrics: dict[str, MetricSpec]
    phases: Annotated[dict[str, PhaseSpec], Field(min_length=1)]

    @model_validator(mode="after")
    def _gates_use_known_metrics(self) -> GatesFile:
        for phase_name, phase in self.phases.items():
            for group_name, group in phase.groups.items():
                for gate in group.gates:
                    if gate.metric not in self.metrics:
                        raise ValueError(
                            f"phases.{phase_name}.groups.{group_name}: gate {gate.name!r} uses unknown "
                            f"metric {gate.metric!r}"
                        )
        return self

    def phase(self, name: str) -> PhaseSpec:
        try:
            return self.phases[name]
        except KeyError:
            raise KeyError(f"no phase {name!r} (phases: {', '.join(self.phases)})") from None

    def external_metrics(self) -> dict[str, MetricSpec]:
        return {name: m for name, m in self.metrics.items() if m.source == "external"}


@functools.lru_cache(maxsize=8)
def load_gates(path: Path | None = None) -> GatesFile:
    """The gates file at ``path`` (default: the bundled one), validated."""
    target = path or BUNDLED_GATES_FILE
    data = read_yaml(target, f"gates file {target}")
    try:
        return GatesFile.model_validate(data)
    except ValidationError as e:
        raise ConfigError(describe_validation(e, f"gates file {target}")) from e
