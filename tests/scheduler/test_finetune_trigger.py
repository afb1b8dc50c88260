"""The fine-tune trigger as plain functions: level, confidence, urgency, method and decision."""

from __future__ import annotations

from typing import Any

import pytest

from coachline.settings import Settings
from scheduler.finetune.service import evaluate
from scheduler.finetune.trigger import (
    Method,
    TriggerPolicy,
    assess,
    decide,
    fitted_change,
    select_method,
)
from scheduler.health import HealthLevel
from tests.scheduler.test_finetune_fixtures import CRITICAL, HEALTHY, WARNING, acc, evidence

POLICY = TriggerPolicy()


def test_a_healthy_model_is_not_fine_tuned() -> None:
    ev = evidence(*(acc(**HEALTHY) for _ in range(4)))
    result = evaluate(ev, POLICY)
    assert result.assessment.level == HealthLevel.EXCELLENT
    assert result.assessment.score is not None and result.assessment.score > 0.9
    assert (result.decision.trigger, result.decision.outcome) == (False, "healthy")
    assert result.skills == []


def test_consistent_worsening_critical_evidence_triggers_the_fastest_method() -> None:
    ev = evidence(acc(**WARNING), acc(**CRITICAL), acc(**CRITICAL), acc(**CRITICAL))
    a = assess(ev, POLICY)
    assert a.level == HealthLevel.CRITICAL
    assert a.consistency == 1.0 and a.samples >= POLICY.full_confidence_samples and a.confidence == 1.0
    # Severity is 1 - the worst metric's score: a 1.5 rating scores 0.125 on the health scale.
    assert a.severity == pytest.approx(0.875)
    assert a.trend > 0  # worsening
    assert a.urgency > 0.8
    decision = decide(a, has_skills=True, policy=POLICY)
    assert decision.trigger and decision.method == Method.TEXT_TO_LORA
    assert "text-to-LoRA" in decision.reasons[-1]


def test_stable_critical_with_certain_evidence_gets_transformer2() -> None:
    a = assess(evidence(*(acc(**CRITICAL) for _ in range(4))), POLICY)
    assert a.trend == 0.0
    assert a.urgency == pytest.approx(0.8 * 0.875)  # severity only
    decision = decide(a, has_skills=True, policy=POLICY)
    assert decision.method == Method.TRANSFORMER2 and "Transformer²" in decision.reasons[-1]


def test_one_bad_quarter_hour_is_not_consistent_enough() -> None:
    a = assess(evidence(acc(**HEALTHY), acc(**HEALTHY), acc(**HEALTHY), acc(**CRITICAL)), POLICY)
    assert a.level == HealthLevel.CRITICAL  # the level is the state now...
    assert a.window_level != "CRITICAL"  # ...the whole window is not that bad yet
    # One agreeing slice of four, and only its 20 ratings behind the level (of the 50 for full weight).
    assert a.consistency == 0.25 and a.samples == 20
    assert a.confidence == pytest.approx(0.25 * 20 / 50)
    decision = decide(a, has_skills=True, policy=POLICY)
    assert (decision.trigger, decision.outcome) == (False, "below_threshold")
    assert "confidence 0.10 < 0.7" in decision.reasons[0]


def test_slices_without_data_do_not_count_as_agreeing() -> None:
    a = assess(evidence(None, None, acc(**CRITICAL, n=30), acc(**CRITICAL, n=30)), POLICY)
    assert a.consistency == 0.5 and a.samples == 60 and a.confidence == 0.5


def test_few_samples_make_low_confidence() -> None:
    # Four consistent critical slices, but 3 ratings each: 12 of the 50 samples that give full weight.
    a = assess(evidence(*(acc(**CRITICAL, n=3) for _ in range(4))), POLICY)
    assert a.consistency == 1.0
    assert a.samples == 12 and a.confidence == pytest.approx(12 / 50)
    assert not decide(a, has_skills=True, policy=POLICY).trigger


def test_a_stable_warning_is_not_urgent_but_a_worsening_one_is() -> None:
    stable = assess(evidence(*(acc(**WARNING) for _ in range(4))), POLICY)
    assert stable.level == HealthLevel.WARNING and stable.confidence == 1.0
    assert stable.urgency < 0.5
    assert decide(stable, has_skills=True, policy=POLICY).outcome == "below_threshold"
    worsening = assess(
        evidence(acc(**HEALTHY), acc(**WARNING), acc(**WARNING), acc(**WARNING)),
        TriggerPolicy(min_confidence=0.7),
    )
    assert worsening.urgency > stable.urgency and worsening.urgency >= 0.5


def test_recovery_lowers_urgency() -> None:
    recovering = assess(evidence(acc(**CRITICAL), acc(**CRITICAL), acc(**WARNING), acc(**WARNING)), POLICY)
    stable = assess(evidence(*(acc(**WARNING) for _ in range(4))), POLICY)
    assert recovering.trend < 0 and recovering.urgency < stable.urgency


def test_the_thresholds_are_inclusive_and_configurable() -> None:
    a = assess(evidence(*(acc(**CRITICAL) for _ in range(4))), POLICY)
    at_bounds = TriggerPolicy(min_confidence=a.confidence, min_urgency=a.urgency)
    assert decide(a, has_skills=True, policy=at_bounds).trigger
    stricter = TriggerPolicy(min_urgency=a.urgency + 0.01)
    assert decide(a, has_skills=True, policy=stricter).outcome == "below_threshold"


@pytest.mark.parametrize(
    ("confidence", "urgency", "method"),
    [
        (0.75, 0.81, Method.TEXT_TO_LORA),  # urgent: fastest
        (0.95, 0.81, Method.TEXT_TO_LORA),  # urgency wins over confidence
        (0.81, 0.80, Method.TRANSFORMER2),  # not urgent (> 0.8 is strict), certain: most effective
        (0.80, 0.80, Method.TEXT_TO_LORA),  # neither: the default
        (0.70, 0.50, Method.TEXT_TO_LORA),
    ],
)
def test_method_selection_follows_the_plan(confidence: float, urgency: float, method: Method) -> None:
    assert select_method(confidence=confidence, urgency=urgency, policy=POLICY)[0] == method


def test_method_thresholds_are_settings() -> None:
    policy = TriggerPolicy.from_settings(
        Settings(finetune_fast_method_urgency=0.95, finetune_effective_method_confidence=0.5)
    )
    assert select_method(confidence=0.6, urgency=0.9, policy=policy)[0] == Method.TRANSFORMER2


def test_latency_alone_is_not_a_reason_to_fine_tune() -> None:
    slow: dict[str, Any] = {"rating": 4.8, "relevance": 0.92, "latency_ms": 12_000.0}
    result = evaluate(evidence(*(acc(**slow) for _ in range(4))), POLICY)
    assert result.assessment.level == HealthLevel.CRITICAL and result.assessment.confidence == 1.0
    assert result.skills == []
    assert (result.decision.trigger, result.decision.outcome) == (False, "no_skill")
    assert "response_time_s" in result.decision.reasons[0]


def test_no_data_means_no_decision() -> None:
    result = evaluate(evidence(None, None, None, None), POLICY)
    assert result.assessment.level is None
    assert (result.decision.trigger, result.decision.outcome) == (False, "no_data")


def test_attention_is_watched_not_fine_tuned() -> None:
    attention: dict[str, Any] = {"rating": 3.6, "relevance": 0.85}
    result = evaluate(evidence(*(acc(**attention) for _ in range(4))), POLICY)
    assert result.assessment.level == HealthLevel.ATTENTION
    assert result.decision.outcome == "attention" and not result.decision.trigger


def test_fitted_change_reads_the_line_through_the_points() -> None:
    assert fitted_change([(0, 0.9), (1, 0.7), (2, 0.5), (3, 0.3)]) == pytest.approx(-0.6)
    assert fitted_change([(0, 0.5), (3, 0.5)]) == 0.0
    assert fitted_change([(2, 0.5)]) == 0.0
