"""The fine-tune trigger as plain functions: level, confidence, urgency, method, decision.

From the plan (LLM monitoring system, "auto fine-tuning"): trigger when confidence >= 0.7, urgency
>= 0.5, the level is WARNING or CRITICAL and the model's cooldown has passed (the cooldown is the
database's business, see ``cooldown``). Method: urgency > 0.8 -> text-to-LoRA (fastest); else
confidence > 0.8 -> Transformer² (most effective); else text-to-LoRA. All thresholds are settings.

How coachline measures what the plan names (its own choices, documented here). The window (an
hour by default) is split into slices (four of 15 minutes: the health view's window):

- **level** and **health score**: ``scheduler.health.assess_health`` on the latest slice with data
  -- the model's state now, as ``coachline status`` shows it. The whole window's level is reported
  too, for context.
- **confidence** (how reliable the evidence is) = sample factor x consistency. Consistency is the
  share of the window's slices that agree with the current level on "needs work" (level >= WARNING)
  or not; a slice without data does not agree, so one bad quarter-hour is not enough. The sample
  factor is ``n / full_confidence_samples`` (at most 1), ``n`` being the samples, over the agreeing
  slices, of the metric that sets the level (feedback for ratings and corrections, latencies for
  response time, judge scores for relevance).
- **urgency** (severity and trend) = 0.8 x severity + 0.2 x trend, clamped to 0..1. Severity is
  ``1 - score`` of the current worst metric (the health scales put the WARNING threshold at 0.5
  and CRITICAL at 0.75). Trend is the fitted change of the health score across the slices, as a
  share of ``TREND_FULL_SCALE`` (-1..1, positive when worsening): a stable CRITICAL model is
  urgent, a worsening WARNING one becomes urgent, a recovering one less so.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from coachline.settings import Settings
from scheduler.finetune.evidence import ModelEvidence
from scheduler.health import HealthInput, HealthLevel, HealthReport, assess_health
from scheduler.rollup import Acc

SEVERITY_WEIGHT = 0.8
# A fall of this much in health score across the window is the steepest trend that counts.
TREND_FULL_SCALE = 0.3
TRIGGER_LEVELS = (HealthLevel.WARNING, HealthLevel.CRITICAL)


class Method(enum.StrEnum):
    TEXT_TO_LORA = "text_to_lora"  # fastest: an adapter generated from the task description
    TRANSFORMER2 = "transformer2"  # most effective: Transformer² (self-adaptive) expert vectors

    @property
    def label(self) -> str:
        return {"text_to_lora": "text-to-LoRA", "transformer2": "Transformer²"}[self.value]


@dataclass(frozen=True)
class TriggerPolicy:
    min_confidence: float = 0.7
    min_urgency: float = 0.5
    fast_method_urgency: float = 0.8
    effective_method_confidence: float = 0.8
    full_confidence_samples: int = 50
    cooldown_s: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> TriggerPolicy:
        return cls(
            min_confidence=settings.finetune_min_confidence,
            min_urgency=settings.finetune_min_urgency,
            fast_method_urgency=settings.finetune_fast_method_urgency,
            effective_method_confidence=settings.finetune_effective_method_confidence,
            full_confidence_samples=settings.finetune_full_confidence_samples,
            cooldown_s=settings.finetune_cooldown_s,
        )


# How many samples stand behind each health metric of a rollup.
_SAMPLES: dict[str, Callable[[Acc], int]] = {
    "relevance": lambda acc: acc.evaluator_mean("relevance", prefix="judge")[1],
    "accuracy": lambda acc: 0,
    "response_time_s": lambda acc: acc.latency_samples,
    "user_rating": lambda acc: acc.feedback_count,
    "correction_rate": lambda acc: acc.feedback_count,
}


@dataclass(frozen=True)
class Assessment:
    model: str
    level: HealthLevel | None
    score: float | None
    confidence: float
    urgency: float
    severity: float
    trend: float
    samples: int
    consistency: float
    slice_levels: list[str | None]
    slice_scores: list[float | None]
    window_level: str | None
    window_score: float | None
    # The report the level comes from (the latest slice with data; the window when none has).
    health: HealthReport = field(compare=False)

    @property
    def level_name(self) -> str | None:
        return None if self.level is None else self.level.name

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["health"]
        out["level"] = self.level_name
        out["findings"] = [
            {
                "metric": f.metric,
                "value": f.value,
                "level": f.level.name if f.level else None,
                "score": f.score,
            }
            for f in self.health.findings
        ]
        out["reasons"] = self.health.reasons
        return out


def fitted_change(points: Sequence[tuple[float, float]]) -> float:
    """The change of ``y`` from the first to the last ``x`` along the least-squares line."""
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    return slope * (max(xs) - min(xs))


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def assess(evidence: ModelEvidence, policy: TriggerPolicy) -> Assessment:
    """Level, health score, confidence and urgency of one model (see the module docstring)."""
    reports = [
        None if part is None else assess_health(HealthInput.from_rollup(part)) for part in evidence.slices
    ]
    window = assess_health(HealthInput.from_rollup(evidence.total))
    slice_levels = [None if r is None or r.level is None else r.level.name for r in reports]
    slice_scores = [None if r is None else r.score for r in reports]
    measured = [i for i, r in enumerate(reports) if r is not None and r.level is not None]
    current = reports[measured[-1]] if measured else None  # the latest slice with data: the state now
    if current is None or current.level is None or current.score is None:
        return Assessment(
            model=evidence.model,
            level=None,
            score=None,
            confidence=0.0,
            urgency=0.0,
            severity=0.0,
            trend=0.0,
            samples=0,
            consistency=0.0,
            slice_levels=slice_levels,
            slice_scores=slice_scores,
            window_level=None if window.level is None else window.level.name,
            window_score=window.score,
            health=window,
        )
    needs_work = current.level >= HealthLevel.WARNING
    levels = {i: r.level for i, r in enumerate(reports) if r is not None and r.level is not None}
    agreeing = [i for i, level in levels.items() if (level >= HealthLevel.WARNING) == needs_work]
    consistency = len(agreeing) / len(reports)
    crossed = [f.metric for f in current.findings if f.level is not None and f.level == current.level]
    deciding = crossed or [f.metric for f in current.findings]
    samples = 0
    for i in agreeing:
        part = evidence.slices[i]
        assert part is not None
        samples += max(_SAMPLES[m](part) for m in deciding)
    sample_factor = min(1.0, samples / policy.full_confidence_samples)
    severity = 1.0 - min(f.score for f in current.findings)
    points = [(float(i), s) for i, s in enumerate(slice_scores) if s is not None]
    trend = _clamp(-fitted_change(points) / TREND_FULL_SCALE, -1.0, 1.0)
    urgency = _clamp(SEVERITY_WEIGHT * severity + (1 - SEVERITY_WEIGHT) * trend, 0.0, 1.0)
    return Assessment(
        model=evidence.model,
        level=current.level,
        score=current.score,
        confidence=round(sample_factor * consistency, 4),
        urgency=round(urgency, 4),
        severity=round(severity, 4),
        trend=round(trend, 4),
        samples=samples,
        consistency=round(consistency, 4),
        slice_levels=slice_levels,
        slice_scores=slice_scores,
        window_level=None if window.level is None else window.level.name,
        window_score=window.score,
        health=current,
    )


def select_method(*, confidence: float, urgency: float, policy: TriggerPolicy) -> tuple[Method, str]:
    """The plan's method rule, with the reason for the choice."""
    if urgency > policy.fast_method_urgency:
        return Method.TEXT_TO_LORA, (
            f"urgency {urgency:.2f} > {policy.fast_method_urgency:g}: text-to-LoRA, the fastest method"
        )
    if confidence > policy.effective_method_confidence:
        return Method.TRANSFORMER2, (
            f"confidence {confidence:.2f} > {policy.effective_method_confidence:g}: "
            "Transformer², the most effective method"
        )
    return Method.TEXT_TO_LORA, "neither urgent nor certain enough for another choice: text-to-LoRA"


@dataclass(frozen=True)
class Decision:
    """Whether the thresholds call for a fine-tune (the cooldown is checked after, in the database).

    ``outcome``: triggered | no_data | healthy | attention | below_threshold | no_skill.
    """

    trigger: bool
    outcome: str
    reasons: list[str]
    method: Method | None = None


def decide(assessment: Assessment, *, has_skills: bool, policy: TriggerPolicy) -> Decision:
    a = assessment
    if a.level is None:
        return Decision(False, "no_data", ["nothing measured for this model in the window"])
    evidence = (
        f"level {a.level.name} (score {a.score:.2f}), confidence {a.confidence:.2f}, urgency {a.urgency:.2f}"
    )
    if a.level not in TRIGGER_LEVELS:
        outcome = "attention" if a.level == HealthLevel.ATTENTION else "healthy"
        return Decision(False, outcome, [f"{evidence}: the level is below WARNING"])
    short = []
    if a.confidence < policy.min_confidence:
        short.append(f"confidence {a.confidence:.2f} < {policy.min_confidence:g}")
    if a.urgency < policy.min_urgency:
        short.append(f"urgency {a.urgency:.2f} < {policy.min_urgency:g}")
    if short:
        return Decision(False, "below_threshold", [f"{evidence}: " + " and ".join(short)])
    if not has_skills:
        return Decision(
            False,
            "no_skill",
            [f"{evidence}, but no trainable weakness: {'; '.join(a.health.reasons)} is a serving problem"],
        )
    method, why = select_method(confidence=a.confidence, urgency=a.urgency, policy=policy)
    return Decision(
        True,
        "triggered",
        [
            f"{evidence}: level WARNING or CRITICAL, confidence >= {policy.min_confidence:g}, "
            f"urgency >= {policy.min_urgency:g}",
            why,
        ],
        method,
    )
