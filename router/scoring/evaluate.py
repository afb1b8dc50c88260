"""Evaluation of the scorers against labelled requests (``coachline router eval FILE.jsonl``).

A case is a JSON object per line: ``id``, ``messages`` (role/content), ``privacy`` (public, private
or sensitive) and optionally ``complexity`` (low, medium or high) and ``why``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from router.scoring.complexity import LOW_MAX, MEDIUM_MAX, complexity_band, score_complexity
from router.scoring.privacy import detect_privacy

LEVELS = ("public", "private", "sensitive")
BANDS = ("low", "medium", "high")


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Figures of one evaluation run; ``missed_sensitive`` and ``flagged_public`` hold case ids."""

    cases: int
    sensitive_recall: float | None
    public_false_positive_rate: float | None
    confusion: dict[str, dict[str, int]]
    complexity_agreement: float | None
    complexity_cases: int
    scoring_p50_ms: float
    scoring_p99_ms: float
    missed_sensitive: list[str] = field(default_factory=list)
    flagged_public: list[str] = field(default_factory=list)
    complexity_confusion: dict[str, dict[str, int]] = field(default_factory=dict)


def _validate(case: Any, where: str) -> dict[str, Any]:
    if not isinstance(case, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(case).__name__}.")
    messages = case.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"{where}: 'messages' must be a non-empty list.")
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise ValueError(f"{where}: every message needs a 'role' and a string 'content'.")
    if case.get("privacy") not in LEVELS:
        raise ValueError(f"{where}: 'privacy' must be one of {', '.join(LEVELS)}.")
    if "complexity" in case and case["complexity"] not in BANDS:
        raise ValueError(f"{where}: 'complexity' must be one of {', '.join(BANDS)}.")
    return case


def load_cases(path: str | Path) -> list[dict[str, Any]]:
    """Read labelled cases from a JSONL file; a malformed line raises ValueError naming its number."""
    cases = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}, line {number}"
            try:
                case = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{where}: not valid JSON ({e.msg}).") from e
            case = _validate(case, where)
            case.setdefault("id", f"line-{number}")
            cases.append(case)
    return cases


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def evaluate(cases: Iterable[dict[str, Any]]) -> EvalReport:
    """Score every case and compare with its labels (privacy and, when present, complexity)."""
    confusion = {label: dict.fromkeys(LEVELS, 0) for label in LEVELS}
    bands = {label: dict.fromkeys(BANDS, 0) for label in BANDS}
    timings_ms: list[float] = []
    missed: list[str] = []
    flagged: list[str] = []
    total = agree = labelled_bands = 0
    for case in cases:
        total += 1
        started = time.perf_counter()
        privacy = detect_privacy(case["messages"])
        complexity = score_complexity(case["messages"])
        timings_ms.append((time.perf_counter() - started) * 1000.0)
        label, detected = case["privacy"], privacy.level.value
        confusion[label][detected] += 1
        if label == "sensitive" and detected != "sensitive":
            missed.append(str(case.get("id")))
        if label == "public" and detected != "public":
            flagged.append(str(case.get("id")))
        if case.get("complexity") in BANDS:
            labelled_bands += 1
            band = complexity_band(complexity.score)
            bands[case["complexity"]][band] += 1
            agree += band == case["complexity"]
    sensitive = sum(confusion["sensitive"].values())
    public = sum(confusion["public"].values())
    timings_ms.sort()
    return EvalReport(
        cases=total,
        sensitive_recall=confusion["sensitive"]["sensitive"] / sensitive if sensitive else None,
        public_false_positive_rate=(public - confusion["public"]["public"]) / public if public else None,
        confusion=confusion,
        complexity_agreement=agree / labelled_bands if labelled_bands else None,
        complexity_cases=labelled_bands,
        scoring_p50_ms=_percentile(timings_ms, 0.50),
        scoring_p99_ms=_percentile(timings_ms, 0.99),
        missed_sensitive=missed,
        flagged_public=flagged,
        complexity_confusion=bands,
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _matrix(title: str, labels: tuple[str, ...], rows: dict[str, dict[str, int]]) -> list[str]:
    width = max(len(x) for x in (*labels, title)) + 2
    lines = [title.ljust(width) + "".join(d.rjust(width) for d in labels)]
    for label in labels:
        lines.append(label.ljust(width) + "".join(str(rows[label][d]).rjust(width) for d in labels))
    return lines


def format_report(report: EvalReport) -> str:
    """A readable table of the report."""
    lines = [
        f"cases                       {report.cases}",
        f"sensitive recall            {_pct(report.sensitive_recall)}",
        f"public flagged non-public   {_pct(report.public_false_positive_rate)}",
        f"complexity agreement        {_pct(report.complexity_agreement)}"
        f"  ({report.complexity_cases} labelled; low < {LOW_MAX} <= medium < {MEDIUM_MAX} <= high)",
        f"scoring time                p50 {report.scoring_p50_ms:.3f} ms"
        f"   p99 {report.scoring_p99_ms:.3f} ms",
        "",
        "privacy: labelled (rows) x detected (columns)",
        *_matrix("label", LEVELS, report.confusion),
    ]
    if report.complexity_cases:
        lines += ["", "complexity: labelled (rows) x scored band (columns)"]
        lines += _matrix("label", BANDS, report.complexity_confusion)
    if report.missed_sensitive:
        lines += ["", "missed sensitive: " + ", ".join(report.missed_sensitive)]
    if report.flagged_public:
        lines += ["", "public flagged: " + ", ".join(report.flagged_public)]
    return "\n".join(lines)
