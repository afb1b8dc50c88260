"""Complexity scoring, its bands and the threshold calibration."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.scoring import calibrate_threshold, score_complexity
from router.scoring.complexity import LOW_MAX, MEDIUM_MAX, complexity_band

LOW = "What does the Pomodoro technique mean?"
MEDIUM = (
    "Help me prepare for a salary negotiation conversation with my manager: give an opening statement, "
    "three arguments, and how to answer 'we have no budget'."
)
HIGH = (
    "I lead a 12-person product team that missed its last three quarterly goals. Analyse likely root causes "
    "across planning, staffing and stakeholder management, propose a 90-day turnaround plan with milestones "
    "and weekly metrics, identify the top five risks with mitigations, and explain the trade-offs between "
    "moving fast and rebuilding trust."
)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize(("text", "band"), [(LOW, "low"), (MEDIUM, "medium"), (HIGH, "high")])
def test_score_falls_in_the_expected_band(text: str, band: str) -> None:
    assert complexity_band(score_complexity(user(text)).score) == band


def test_multi_step_reasoning_scores_above_a_short_question() -> None:
    assert (
        score_complexity(user(HIGH)).score
        > score_complexity(user(MEDIUM)).score
        > score_complexity(user(LOW)).score
    )


def test_signals_are_named_counts_and_hold_no_text() -> None:
    result = score_complexity(user(HIGH))
    assert set(result.signals) == {
        "words", "questions", "reasoning", "tasks", "parts", "structure", "constraints", "code", "domain",
        "depth", "brevity",
    }  # fmt: skip
    assert all(isinstance(v, float) and v >= 0 for v in result.signals.values())
    assert result.signals["words"] == len(HIGH.split())
    assert result.signals["reasoning"] >= 4  # analyse, root causes, risks, mitigations, trade-offs…


def test_brevity_cues_lower_the_score() -> None:
    ask = "Give me tips for my morning routine and my evening routine"
    assert score_complexity(user(f"{ask}, quick and short.")).score < score_complexity(user(f"{ask}.")).score


def test_code_request_counts_code_and_names_the_technical_domain() -> None:
    result = score_complexity(
        user("Write a Python script that reads a CSV of my habits and computes weekly completion rates.")
    )
    assert result.signals["code"] >= 2
    assert result.domain == "technical"


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        ("My lawyer says the custody hearing and the divorce contract need review; plan my week.", "legal"),
        ("My doctor changed my medication dosage after the diagnosis; plan my mornings.", "medical"),
        ("Build a budget to pay off my credit card debt and a car loan, with savings.", "financial"),
        ("Give me three tips to stay focused.", None),
    ],
)
def test_specialist_domain_is_named_only_when_it_dominates(text: str, domain: str | None) -> None:
    assert score_complexity(user(text)).domain == domain


def test_conversation_depth_and_only_user_turns_are_counted() -> None:
    messages = [
        {"role": "system", "content": "Analyse, compare and evaluate every trade-off step by step."},
        {"role": "user", "content": "Help me plan my week."},
        {"role": "assistant", "content": "Sure, what are your priorities?"},
        {"role": "user", "content": "The report and the gym."},
    ]
    result = score_complexity(messages)
    assert result.signals["depth"] == 3
    assert result.signals["reasoning"] == 0  # the system prompt is not the ask


def test_bands_cut_at_the_documented_points() -> None:
    assert complexity_band(0.0) == "low"
    assert complexity_band(math.nextafter(LOW_MAX, 0)) == "low"
    assert complexity_band(LOW_MAX) == "medium"
    assert complexity_band(MEDIUM_MAX) == "high"
    assert complexity_band(1.0) == "high"


def test_calibrated_threshold_sends_the_target_share_to_the_cloud() -> None:
    scores = [i / 100 for i in range(100)]
    threshold = calibrate_threshold(scores, 0.2)
    assert sum(s > threshold for s in scores) == 20
    assert calibrate_threshold(scores, 0.0) == max(scores)  # nothing is above the maximum
    assert all(s > calibrate_threshold(scores, 1.0) for s in scores)


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.lists(st.floats(0, 1), min_size=1, max_size=200, unique=True),
    st.floats(0, 1),
)
def test_calibrated_share_is_within_one_request_of_the_target(scores: list[float], share: float) -> None:
    threshold = calibrate_threshold(scores, share)
    sent = sum(s > threshold for s in scores) / len(scores)
    assert abs(sent - share) <= 1 / len(scores) + 1e-9


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=50), st.floats(0, 1), st.floats(0, 1))
def test_a_larger_cloud_share_never_raises_the_threshold(scores: list[float], a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert calibrate_threshold(scores, high) <= calibrate_threshold(scores, low)


@pytest.mark.parametrize(
    ("scores", "share", "message"),
    [
        ([], 0.3, "empty sample"),
        ([0.1, 0.2], -0.1, "between 0 and 1"),
        ([0.1, 0.2], 1.5, "between 0 and 1"),
        ([0.1, 0.2], float("nan"), "between 0 and 1"),
    ],
)
def test_calibration_rejects_bad_input_with_a_sentence(
    scores: list[float], share: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        calibrate_threshold(scores, share)
