"""Model health levels and score: the plan's thresholds, each side of every boundary."""

from __future__ import annotations

import pytest

from scheduler.health import EXCELLENT_SCORE, HealthInput, HealthLevel, assess_health
from scheduler.rollup import TOTAL, Acc, RequestFacts

A, W, C = HealthLevel.ATTENTION, HealthLevel.WARNING, HealthLevel.CRITICAL


@pytest.mark.parametrize(
    ("field", "values"),
    [
        # (value, level): just inside and just past each threshold of the plan.
        ("user_rating", [(4.0, None), (3.99, A), (3.0, A), (2.99, W), (2.0, W), (1.99, C)]),
        ("correction_rate", [(0.2, None), (0.21, A), (0.3, A), (0.31, W), (0.5, W), (0.51, C)]),
        ("response_time_s", [(3.0, None), (3.1, A), (5.0, A), (5.1, W), (10.0, W), (10.1, C)]),
        ("relevance", [(0.7, None), (0.69, A), (0.5, A), (0.49, W), (0.3, W), (0.29, C)]),
        ("accuracy", [(0.8, None), (0.79, A), (0.6, A), (0.59, W), (0.4, W), (0.39, C)]),
    ],
)
def test_levels_follow_the_plans_thresholds(
    field: str, values: list[tuple[float, HealthLevel | None]]
) -> None:
    for value, expected in values:
        report = assess_health(HealthInput(**{field: value}))
        if expected is None:
            assert report.level in (HealthLevel.EXCELLENT, HealthLevel.HEALTHY), (field, value, report)
        else:
            assert report.level == expected, (field, value, report)


def test_the_worst_metric_sets_the_level_and_is_named() -> None:
    report = assess_health(HealthInput(user_rating=4.6, response_time_s=11.0, correction_rate=0.25))
    assert report.level == HealthLevel.CRITICAL
    assert report.reasons[0].startswith("response_time_s 11") and "CRITICAL" in report.reasons[0]
    assert any("correction_rate" in r and "ATTENTION" in r for r in report.reasons)


def test_score_anchors_and_excellent_versus_healthy() -> None:
    perfect = assess_health(HealthInput(user_rating=5.0, response_time_s=0.0, correction_rate=0.0))
    assert (perfect.level, perfect.score) == (HealthLevel.EXCELLENT, 1.0)
    # Exactly at the attention thresholds: nothing crossed, every metric scores 0.75.
    edge = assess_health(HealthInput(user_rating=4.0, response_time_s=3.0, correction_rate=0.2))
    assert edge.score == pytest.approx(0.75)
    assert edge.level == HealthLevel.HEALTHY and edge.score < EXCELLENT_SCORE
    at_critical = assess_health(HealthInput(user_rating=2.0))
    assert at_critical.score == pytest.approx(0.25)


def test_score_falls_as_a_metric_worsens() -> None:
    scores = [assess_health(HealthInput(response_time_s=t)).score for t in (0.5, 2, 4, 7, 12, 40)]
    assert scores == sorted(scores, reverse=True) and scores[-1] == 0.0


def test_nothing_measured_means_no_level() -> None:
    report = assess_health(HealthInput())
    assert (report.level, report.score) == (None, None)
    assert "accuracy" in report.unmeasured


def test_from_rollup_reads_latency_ratings_and_only_judge_relevance() -> None:
    acc = Acc()
    for latency in (1000.0, 3000.0):
        acc.add_request(RequestFacts(TOTAL, True, False, False, True, latency, 50.0, 10, 10, 0.0, None))
    acc.add_feedback(rating=4, correction=True, clarification=False)
    acc.add_feedback(rating=2, correction=False, clarification=False)
    acc.add_score("lexical-overlap-v1", {"relevance": 0.1, "coherence": 1.0, "completeness": 1.0})
    inputs = HealthInput.from_rollup(acc)
    assert (inputs.response_time_s, inputs.user_rating, inputs.correction_rate) == (2.0, 3.0, 0.5)
    assert inputs.relevance is None  # the heuristic never sets a health level
    acc.add_score("judge:gpt-4o-mini", {"relevance": 0.4, "coherence": 1.0, "completeness": 1.0})
    assert HealthInput.from_rollup(acc).relevance == pytest.approx(0.4)
