"""Weak skills, the fine-tuning prompt and the estimated improvement, from failing signals."""

from __future__ import annotations

import pytest

from scheduler.finetune.evidence import ModelEvidence
from scheduler.finetune.skills import MIN_SAMPLES, detect_skills, estimate_improvement, write_prompt
from scheduler.finetune.trigger import Method
from scheduler.health import HealthInput, assess_health
from tests.scheduler.test_finetune_fixtures import CRITICAL, HEALTHY, MODEL, acc, evidence


def _names(ev: ModelEvidence) -> list[str]:
    return [s.name for s in detect_skills(ev, assess_health(HealthInput.from_rollup(ev.total)))]


def test_each_failing_signal_names_its_skill() -> None:
    ev = evidence(
        acc(rating=2.5, relevance=0.4, coherence=0.5, completeness=0.6, corrections=0.4, clarifications=0.3)
    )
    assert _names(ev) == ["relevance", "coherence", "completeness", "helpfulness", "correctness", "clarity"]


def test_healthy_signals_name_no_skill() -> None:
    assert _names(evidence(acc(**HEALTHY))) == []


def test_signals_with_too_few_samples_are_not_evidence() -> None:
    assert _names(evidence(acc(**CRITICAL, n=MIN_SAMPLES - 1))) == []
    assert "helpfulness" in _names(evidence(acc(**CRITICAL, n=MIN_SAMPLES)))


def test_without_a_judge_the_skills_come_from_users() -> None:
    names = _names(evidence(acc(rating=2.0, relevance=None, corrections=0.5)))
    assert names == ["helpfulness", "correctness"]


def test_a_tier_weak_while_another_is_fine_is_a_domain_weakness() -> None:
    weak, fine = acc(**CRITICAL), acc(**HEALTHY)
    ev = evidence(weak, fine, by_tier={"LOCAL_STANDARD": weak, "LOCAL_FAST": fine})
    skills = detect_skills(ev, assess_health(HealthInput.from_rollup(ev.total)))
    (domain,) = [s for s in skills if s.name.startswith("domain:")]
    assert domain.name == "domain:LOCAL_STANDARD"
    assert "standard coaching conversations" in domain.focus
    assert "LOCAL_STANDARD is CRITICAL" in domain.evidence and "LOCAL_FAST is not" in domain.evidence


def test_weak_everywhere_is_not_a_domain_weakness() -> None:
    weak = acc(**CRITICAL)
    ev = evidence(weak, weak, by_tier={"LOCAL_STANDARD": weak, "LOCAL_FAST": weak})
    assert not [n for n in _names(ev) if n.startswith("domain:")]


def test_a_tier_that_is_only_slow_is_not_a_domain_to_train() -> None:
    slow, fine = acc(**{**HEALTHY, "latency_ms": 12_000.0}), acc(**HEALTHY)
    ev = evidence(slow, fine, by_tier={"LOCAL_STANDARD": slow, "LOCAL_FAST": fine})
    assert not [n for n in _names(ev) if n.startswith("domain:")]


def test_the_prompt_names_what_to_excel_at_and_the_evidence() -> None:
    ev = evidence(acc(rating=2.5, relevance=0.4, corrections=0.4))
    skills = detect_skills(ev, assess_health(HealthInput.from_rollup(ev.total)))
    prompt = write_prompt(MODEL, skills, window_s=3600)
    assert prompt.startswith(f"Make {MODEL} excel at coaching conversations: improve response relevance")
    assert "judge relevance 0.40 < 0.7 (20 scores)" in prompt
    assert "correction rate 40% > 20%" in prompt
    assert "last 60 minutes" in prompt and "the correction is the target" in prompt


def test_the_more_effective_method_is_expected_to_improve_more() -> None:
    health = assess_health(HealthInput(user_rating=1.5, correction_rate=0.55, response_time_s=4.0))
    fast = estimate_improvement(health, Method.TEXT_TO_LORA)
    deep = estimate_improvement(health, Method.TRANSFORMER2)
    assert fast is not None and deep is not None and health.score is not None
    assert health.score < fast.expected_score < deep.expected_score < 0.9
    assert fast.relative == pytest.approx((fast.expected_score - health.score) / health.score, abs=1e-3)
    assert "coachline's prior" in fast.reason


def test_latency_is_not_expected_to_improve_by_training() -> None:
    health = assess_health(HealthInput(response_time_s=12.0))
    estimate = estimate_improvement(health, Method.TRANSFORMER2)
    assert estimate is not None and estimate.relative == 0.0
    assert estimate_improvement(assess_health(HealthInput()), Method.TRANSFORMER2) is None
