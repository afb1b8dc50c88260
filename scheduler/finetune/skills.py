"""Weak skills, the targeted fine-tuning prompt and the estimated improvement: plain functions.

A skill is a weakness a fine-tune can address, read from the failing signals of the window:

=====================  =================================================  ========================
skill                  signal                                             threshold
=====================  =================================================  ========================
relevance              judge relevance (0..1)                             < 0.7 (plan: ATTENTION)
factual_accuracy       accuracy (0..1), where measured                    < 0.8 (plan: ATTENTION)
coherence              judge coherence (0..1)                             < 0.7 (coachline)
completeness           judge completeness (0..1)                          < 0.7 (coachline)
helpfulness            mean user rating (1..5)                            < 4.0 (plan: ATTENTION)
correctness            correction rate                                    > 20 % (plan: ATTENTION)
clarity                clarification requests per rating                  > 20 % (coachline)
domain:<tier>          one tier's level >= WARNING while another's is not
=====================  =================================================  ========================

Response time is not a skill: a slow model needs capacity, not training, so a model whose only
problem is latency is never fine-tuned (``trigger.decide`` says so). The lexical heuristic's scores
are not used, for the reason health ignores them (``scheduler.quality``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scheduler.finetune.evidence import ModelEvidence
from scheduler.finetune.trigger import Method
from scheduler.health import (
    CORRECTION_RATE,
    EXCELLENT_SCORE,
    RELEVANCE,
    USER_RATING,
    HealthInput,
    HealthLevel,
    HealthReport,
    assess_health,
)
from scheduler.rollup import Acc

# Fewer samples than this behind a signal: not evidence of a skill.
MIN_SAMPLES = 5
JUDGE_FLOOR = 0.7
CLARIFICATION_CEILING = 0.2
# What a tier's traffic is about (the plan's processing tiers).
TIER_DOMAINS = {
    "LOCAL_FAST": "simple coaching replies",
    "LOCAL_STANDARD": "standard coaching conversations",
    "CLOUD_ENHANCED": "complex reasoning",
    "CLOUD_SPECIALIZED": "domain expertise",
    "CLOUD_FALLBACK": "error recovery",
}
# The share of each trainable metric's gap to EXCELLENT a method is expected to close: coachline's
# prior until finished jobs say otherwise (the plan ranks the methods, it gives no figures).
METHOD_EFFICACY = {Method.TEXT_TO_LORA: 0.5, Method.TRANSFORMER2: 0.7}
UNTRAINABLE = frozenset({"response_time_s"})


@dataclass(frozen=True)
class Skill:
    name: str
    focus: str  # what the fine-tune should make the model excel at
    evidence: str  # the signal that failed, its value and its threshold

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _judge(acc: Acc, dimension: str) -> tuple[float | None, int]:
    return acc.evaluator_mean(dimension, prefix="judge")


def detect_skills(evidence: ModelEvidence, health: HealthReport) -> list[Skill]:
    """The weak skills of ``evidence``'s model, most specific signals first."""
    total = evidence.total
    skills: list[Skill] = []
    relevance, n = _judge(total, "relevance")
    if relevance is not None and n >= MIN_SAMPLES and relevance < RELEVANCE.attention:
        skills.append(
            Skill(
                "relevance",
                "improve response relevance and context understanding",
                f"judge relevance {relevance:.2f} < {RELEVANCE.attention:g} ({n} scores)",
            )
        )
    for finding in health.findings:
        if finding.metric == "accuracy" and finding.level is not None:
            skills.append(
                Skill(
                    "factual_accuracy",
                    "enhance factual accuracy",
                    f"accuracy {finding.value:.2f} ({finding.level.name})",
                )
            )
    for dimension, focus in (
        ("coherence", "improve the logical flow and structure of answers"),
        ("completeness", "give complete, actionable answers"),
    ):
        value, n = _judge(total, dimension)
        if value is not None and n >= MIN_SAMPLES and value < JUDGE_FLOOR:
            skills.append(
                Skill(dimension, focus, f"judge {dimension} {value:.2f} < {JUDGE_FLOOR:g} ({n} scores)")
            )
    rated = total.feedback_count
    if rated >= MIN_SAMPLES:
        rating, corrections, clarifications = (
            total.mean_rating,
            total.correction_rate,
            total.clarification_rate,
        )
        if rating is not None and rating < USER_RATING.attention:
            skills.append(
                Skill(
                    "helpfulness",
                    "give coaching answers users rate as helpful",
                    f"mean rating {rating:.2f}/5 < {USER_RATING.attention:g} ({rated} ratings)",
                )
            )
        if corrections is not None and corrections > CORRECTION_RATE.attention:
            skills.append(
                Skill(
                    "correctness",
                    "answer right the first time, learning from the users' corrections",
                    f"correction rate {corrections:.0%} > {CORRECTION_RATE.attention:.0%} ({rated} ratings)",
                )
            )
        if clarifications is not None and clarifications > CLARIFICATION_CEILING:
            skills.append(
                Skill(
                    "clarity",
                    "give clear answers that need no follow-up question",
                    f"clarification requests {clarifications:.0%} > {CLARIFICATION_CEILING:.0%} "
                    f"({rated} ratings)",
                )
            )
    skills.extend(_domain_skills(evidence))
    return skills


def _domain_skills(evidence: ModelEvidence) -> list[Skill]:
    """Tiers where the model is weak while it is fine on others: a domain weakness, not a general one."""
    levels: dict[str, HealthLevel] = {}
    reasons: dict[str, list[str]] = {}
    for tier, acc in sorted(evidence.by_tier.items()):
        if max(acc.feedback_count, acc.latency_samples) < MIN_SAMPLES:
            continue
        report = assess_health(HealthInput.from_rollup(acc))
        if report.level is not None:
            levels[tier], reasons[tier] = report.level, report.reasons
    fine = [t for t, lvl in levels.items() if lvl < HealthLevel.WARNING]
    if not fine:
        return []
    return [
        Skill(
            f"domain:{tier}",
            f"handle {TIER_DOMAINS.get(tier, tier)} as well as the rest",
            f"{tier} is {level.name} ({'; '.join(reasons[tier])}) while {', '.join(fine)} is not",
        )
        for tier, level in levels.items()
        if level >= HealthLevel.WARNING and [r for r in reasons[tier] if not r.startswith("response_time_s")]
    ]


def write_prompt(model: str, skills: list[Skill], *, window_s: float) -> str:
    """The targeted fine-tuning prompt: what to excel at, the evidence, and how to read the data."""
    focus = "; ".join(s.focus for s in skills) or "the weaknesses described in the reason"
    evidence = "; ".join(s.evidence for s in skills) or "see the job's reason"
    return (
        f"Make {model} excel at coaching conversations: {focus}. "
        f"Evidence from the last {window_s / 60:g} minutes: {evidence}. "
        "Train on the attached conversations: where a user corrected an answer, the correction is the "
        "target; low-rated answers without a correction carry weight 0 and are context, not targets."
    )


@dataclass(frozen=True)
class Estimate:
    relative: float  # expected gain in health score, as a share of the current score
    expected_score: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate_improvement(health: HealthReport, method: Method) -> Estimate | None:
    """Each trainable metric closes ``METHOD_EFFICACY[method]`` of its gap to the EXCELLENT score;
    the health score is their mean again. None when nothing was measured."""
    if health.score is None or not health.findings:
        return None
    efficacy = METHOD_EFFICACY[method]
    after = [
        f.score if f.metric in UNTRAINABLE else f.score + efficacy * max(0.0, EXCELLENT_SCORE - f.score)
        for f in health.findings
    ]
    expected = sum(after) / len(after)
    relative = (expected - health.score) / health.score if health.score > 0 else 0.0
    reason = (
        f"{method.label} is expected to close {efficacy:.0%} of each trainable metric's gap to "
        f"{EXCELLENT_SCORE:g} (coachline's prior; recalibrate from finished jobs): health "
        f"{health.score:.2f} -> {expected:.2f} (+{relative:.0%})"
    )
    return Estimate(relative=round(relative, 4), expected_score=round(expected, 4), reason=reason)
