"""Model health: five monitoring levels and a 0..1 score, from the product plan's thresholds.

``assess_health(HealthInput(...))`` is a plain function: no database, no clock. The status views
call it per model over a trailing window; the fine-tune trigger (issue 6) calls it on the same
input to decide whether a model needs work.

Levels, from the plan (LLM monitoring system, "alert thresholds"):

===================  =========  =========  =========
metric               ATTENTION  WARNING    CRITICAL
===================  =========  =========  =========
relevance (0..1)     < 0.7      < 0.5      < 0.3
accuracy (0..1)      < 0.8      < 0.6      < 0.4
response time (s)    > 3        > 5        > 10
user rating (1..5)   < 4.0      < 3.0      < 2.0
correction rate      > 20 %     > 30 %     > 50 %
===================  =========  =========  =========

The level is the worst threshold any measured metric crosses. When none is crossed the model is
EXCELLENT if its score is at least ``EXCELLENT_SCORE``, else HEALTHY (the plan names the level but
gives no threshold; 0.9 is coachline's choice, consistent with the plan's example of 0.94 for a
model with "no issues detected").

The score: each measured metric maps to 0..1 by linear interpolation between anchor points --
ideal -> 1.0, the attention threshold -> 0.75, warning -> 0.5, critical -> 0.25, worst -> 0.0 --
and the health score is their unweighted mean. A metric that was not measured (None) counts for
neither level nor score; with nothing measured there is no level and no score.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field
from typing import Protocol


class HealthLevel(enum.IntEnum):
    """Ordered: a higher value is worse. The value is what the health gauge exports."""

    EXCELLENT = 0
    HEALTHY = 1
    ATTENTION = 2
    WARNING = 3
    CRITICAL = 4


EXCELLENT_SCORE = 0.9


@dataclass(frozen=True)
class MetricScale:
    """Thresholds of one metric; ``higher_is_better`` says which side of them is bad."""

    name: str
    higher_is_better: bool
    ideal: float
    attention: float
    warning: float
    critical: float
    worst: float

    def level(self, value: float) -> HealthLevel | None:
        """The worst level whose threshold ``value`` crosses (strictly), or None."""
        for level, bound in (
            (HealthLevel.CRITICAL, self.critical),
            (HealthLevel.WARNING, self.warning),
            (HealthLevel.ATTENTION, self.attention),
        ):
            if (value < bound) if self.higher_is_better else (value > bound):
                return level
        return None

    def score(self, value: float) -> float:
        points = [
            (self.ideal, 1.0),
            (self.attention, 0.75),
            (self.warning, 0.5),
            (self.critical, 0.25),
            (self.worst, 0.0),
        ]
        if self.higher_is_better:
            # Interpolate on the negated value so x grows along the list in both cases.
            value, points = -value, [(-x, y) for x, y in points]
        if value <= points[0][0]:
            return 1.0
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            if value <= x1:
                return y0 + (y1 - y0) * (value - x0) / (x1 - x0)
        return 0.0


# The plan's thresholds; the ideal and worst anchors are coachline's (they only shape the score).
RELEVANCE = MetricScale("relevance", True, ideal=1.0, attention=0.7, warning=0.5, critical=0.3, worst=0.0)
ACCURACY = MetricScale("accuracy", True, ideal=1.0, attention=0.8, warning=0.6, critical=0.4, worst=0.0)
RESPONSE_TIME = MetricScale(
    "response_time_s", False, ideal=0.0, attention=3.0, warning=5.0, critical=10.0, worst=30.0
)
USER_RATING = MetricScale("user_rating", True, ideal=5.0, attention=4.0, warning=3.0, critical=2.0, worst=1.0)
CORRECTION_RATE = MetricScale(
    "correction_rate", False, ideal=0.0, attention=0.2, warning=0.3, critical=0.5, worst=1.0
)
SCALES = (RELEVANCE, ACCURACY, RESPONSE_TIME, USER_RATING, CORRECTION_RATE)


@dataclass(frozen=True)
class HealthInput:
    """What health is judged on; None means "not measured"."""

    relevance: float | None = None
    accuracy: float | None = None
    response_time_s: float | None = None
    user_rating: float | None = None
    correction_rate: float | None = None

    @classmethod
    def from_rollup(cls, rollup: RollupHealth) -> HealthInput:
        """From a rollup (``scheduler.rollup.Acc``): mean latency as response time, mean rating,
        correction rate, and relevance as scored by a judge model. The lexical heuristic's
        relevance is left out on purpose: word overlap is too weak a proxy to set a health level.
        Accuracy is not measured by coachline."""
        relevance, _ = rollup.evaluator_mean("relevance", prefix="judge")
        latency_ms = rollup.latency_mean_ms
        return cls(
            relevance=relevance,
            accuracy=None,
            response_time_s=None if latency_ms is None else latency_ms / 1000,
            user_rating=rollup.mean_rating,
            correction_rate=rollup.correction_rate,
        )


class RollupHealth(Protocol):
    @property
    def latency_mean_ms(self) -> float | None: ...
    @property
    def mean_rating(self) -> float | None: ...
    @property
    def correction_rate(self) -> float | None: ...
    def evaluator_mean(self, dimension: str, *, prefix: str = "") -> tuple[float | None, int]: ...


@dataclass(frozen=True)
class Finding:
    metric: str
    value: float
    level: HealthLevel | None  # the threshold it crossed, if any
    score: float


@dataclass(frozen=True)
class HealthReport:
    level: HealthLevel | None  # None: nothing was measured
    score: float | None
    findings: list[Finding] = field(default_factory=list)
    unmeasured: list[str] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        """The crossed thresholds, worst first, as short phrases."""
        crossed = [f for f in self.findings if f.level is not None]
        crossed.sort(key=lambda f: -int(f.level or 0))
        return [f"{f.metric} {f.value:.3g} ({f.level.name})" for f in crossed if f.level is not None]


def assess_health(inputs: HealthInput) -> HealthReport:
    """The monitoring level and health score of a model (see the module docstring)."""
    findings: list[Finding] = []
    unmeasured: list[str] = []
    for scale in SCALES:
        value = getattr(inputs, scale.name)
        if value is None:
            unmeasured.append(scale.name)
            continue
        findings.append(Finding(scale.name, value, scale.level(value), scale.score(value)))
    if not findings:
        return HealthReport(level=None, score=None, findings=[], unmeasured=unmeasured)
    score = sum(f.score for f in findings) / len(findings)
    crossed = [f.level for f in findings if f.level is not None]
    if crossed:
        level = max(crossed)
    else:
        level = HealthLevel.EXCELLENT if score >= EXCELLENT_SCORE else HealthLevel.HEALTHY
    return HealthReport(level=level, score=round(score, 4), findings=findings, unmeasured=unmeasured)
