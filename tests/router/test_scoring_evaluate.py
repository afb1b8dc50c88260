"""The evaluation behind ``coachline router eval FILE.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from router.scoring.evaluate import evaluate, format_report, load_cases


def case(case_id: str, text: str, privacy: str, complexity: str | None = None) -> dict[str, object]:
    row: dict[str, object] = {
        "id": case_id,
        "messages": [{"role": "user", "content": text}],
        "privacy": privacy,
    }
    if complexity:
        row["complexity"] = complexity
    return row


CASES = [
    case("a", "How do I handle stress at work?", "public", "low"),
    case("b", "I was diagnosed with depression last year.", "sensitive", "low"),
    case("c", "Write to me at jenna@example.com", "private", "low"),
    case("d", "My SSN is 123-45-6789", "private", "low"),  # mislabelled on purpose: detected sensitive
    case("e", "What is the history of the Ramadan fast?", "sensitive"),  # a miss, on purpose
]


def test_report_counts_recall_false_positives_and_the_confusion_matrix() -> None:
    report = evaluate(CASES)
    assert report.cases == 5
    assert report.sensitive_recall == 0.5
    assert report.missed_sensitive == ["e"]
    assert report.public_false_positive_rate == 0.0
    assert report.confusion["private"] == {"public": 0, "private": 1, "sensitive": 1}
    assert report.confusion["sensitive"] == {"public": 1, "private": 0, "sensitive": 1}
    assert report.complexity_cases == 4
    assert report.complexity_agreement == 1.0
    assert 0 < report.scoring_p50_ms <= report.scoring_p99_ms


def test_public_request_flagged_counts_as_a_false_positive() -> None:
    report = evaluate(
        [case("x", "Call me at (212) 555-0199", "public"), case("y", "Tips for sleep?", "public")]
    )
    assert report.public_false_positive_rate == 0.5
    assert report.flagged_public == ["x"]
    assert report.sensitive_recall is None


def test_format_report_is_a_readable_table() -> None:
    text = format_report(evaluate(CASES))
    assert "sensitive recall            50.0%" in text
    assert "public flagged non-public   0.0%" in text
    assert "label           public    private  sensitive" in text
    assert "sensitive            1          0          1" in text
    assert "missed sensitive: e" in text
    assert "low < " in text and "<= high" in text


def test_load_cases_reads_jsonl_skips_blank_lines_and_names_unnamed_cases(tmp_path: Path) -> None:
    unnamed = {k: v for k, v in CASES[1].items() if k != "id"}
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps(CASES[0]) + "\n\n" + json.dumps(unnamed) + "\n", encoding="utf-8")
    assert [c["id"] for c in load_cases(path)] == ["a", "line-3"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "expected a JSON object"),
        ('{"messages": [], "privacy": "public"}', "'messages' must be a non-empty list"),
        ('{"messages": [{"role": "user"}], "privacy": "public"}', "string 'content'"),
        (
            '{"messages": [{"role": "user", "content": "hi"}], "privacy": "secret"}',
            "'privacy' must be one of",
        ),
        (
            '{"messages": [{"role": "user", "content": "hi"}], "privacy": "public", "complexity": "huge"}',
            "'complexity' must be one of",
        ),
    ],
)
def test_malformed_line_raises_with_its_line_number(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps(CASES[0]) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"line 2: .*{message}"):
        load_cases(path)
