"""The alert rules file: rules and escalation policies as versioned data.

``load_rules(path)`` reads and validates it; a mistake raises ConfigError naming the field. The
same file is what the scheduler evaluates and what ``coachline alerts export-prometheus`` turns
into a Prometheus rules file.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from coachline.errors import ConfigError, describe_validation
from coachline.yamlfile import read_yaml
from scheduler.alerts.signals import SIGNALS

BUNDLED_RULES_FILE = Path(__file__).parent / "rules.yaml"

_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ALERT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
Op = Literal[">", ">=", "<", "<="]
Level = Literal["critical", "warning"]


def parse_duration(value: str) -> dt.timedelta:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"2d"`` (Prometheus's units, one unit per value)."""
    match = _DURATION.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a duration like 30s, 5m, 1h or 2d")
    return dt.timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


Duration = Annotated[str, Field(description="a duration like 30s, 5m, 1h, 2d")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EscalationStep(_Strict):
    """Unacknowledged ``after`` this long since the alert fired, it escalates to ``level``."""

    level: Annotated[int, Field(ge=1)]
    after: Duration
    stakeholders: Annotated[list[str], Field(min_length=1)]

    @field_validator("after")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def after_td(self) -> dt.timedelta:
        return parse_duration(self.after)


class Defaults(_Strict):
    keep_firing_for: Duration = "5m"
    min_samples: Annotated[int, Field(ge=1)] = 1


class Rule(_Strict):
    name: str
    summary: str
    metric: str
    op: Op
    threshold: float
    window: Duration = "5m"
    for_: Duration = Field("0s", alias="for")
    keep_firing_for: Duration | None = None
    min_samples: Annotated[int, Field(ge=1)] | None = None
    baseline: Duration | None = None
    level: Level
    channels: Annotated[list[str], Field(min_length=1)]
    escalation: str
    by: list[Literal["model"]] = Field(default_factory=list)
    source: str = ""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _ALERT_NAME.match(value):
            raise ValueError("must be letters, digits and underscores, not starting with a digit")
        return value

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        if value not in SIGNALS:
            raise ValueError(f"unknown metric; known: {', '.join(sorted(SIGNALS))}")
        return value

    @field_validator("window", "for_", "keep_firing_for", "baseline")
    @classmethod
    def _durations(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        window = parse_duration(self.window)
        if window < dt.timedelta(minutes=1) or window.total_seconds() % 60:
            raise ValueError("window must be whole minutes (rules read 1-minute rollups)")
        needs_baseline = SIGNALS[self.metric].needs_baseline
        if needs_baseline and self.baseline is None:
            raise ValueError(f"metric {self.metric} compares against a baseline: give `baseline`")
        if not needs_baseline and self.baseline is not None:
            raise ValueError(f"metric {self.metric} takes no baseline")
        return self

    @property
    def expression(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"

    @property
    def window_td(self) -> dt.timedelta:
        return parse_duration(self.window)

    @property
    def for_td(self) -> dt.timedelta:
        return parse_duration(self.for_)

    @property
    def baseline_td(self) -> dt.timedelta | None:
        return None if self.baseline is None else parse_duration(self.baseline)

    def breached(self, value: float) -> bool:
        return {
            ">": value > self.threshold,
            ">=": value >= self.threshold,
            "<": value < self.threshold,
            "<=": value <= self.threshold,
        }[self.op]


class RuleSet(_Strict):
    version: Annotated[int, Field(ge=1)]
    defaults: Defaults = Field(default_factory=Defaults)
    escalation_policies: dict[str, Annotated[list[EscalationStep], Field(min_length=1)]]
    rules: list[Rule]

    @model_validator(mode="after")
    def _references(self) -> RuleSet:
        names = [r.name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names must be unique; repeated: {', '.join(dupes)}")
        for rule in self.rules:
            if rule.escalation not in self.escalation_policies:
                raise ValueError(
                    f"rule {rule.name}: no escalation policy {rule.escalation!r} "
                    f"(policies: {', '.join(sorted(self.escalation_policies))})"
                )
        for name, steps in self.escalation_policies.items():
            levels = [s.level for s in steps]
            afters = [s.after_td for s in steps]
            if levels != list(range(1, len(steps) + 1)) or afters != sorted(afters):
                raise ValueError(f"escalation policy {name}: levels must be 1, 2, ... with growing `after`")
        return self

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def keep_firing_for(self, rule: Rule) -> dt.timedelta:
        return parse_duration(rule.keep_firing_for or self.defaults.keep_firing_for)

    def min_samples(self, rule: Rule) -> int:
        return rule.min_samples or self.defaults.min_samples


def parse_rules(data: object, source: str = "alert rules") -> RuleSet:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with version, escalation_policies and rules")
    try:
        return RuleSet.model_validate(data)
    except ValidationError as e:
        raise ConfigError(describe_validation(e, source)) from e


def load_rules(path: Path | None = None) -> RuleSet:
    """Read and validate a rules file (default: the bundled one)."""
    path = path or BUNDLED_RULES_FILE
    source = f"alert rules {path}"
    return parse_rules(read_yaml(path, source), source=source)
