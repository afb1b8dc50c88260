"""Complexity scoring: a 0..1 score from cheap textual signals, and threshold calibration.

The score is a weighted sum of saturating signals (each ``min(1, value / saturation)``) minus a
brevity penalty, clipped to [0, 1]. Signals are counted over the user turns (the asks):

===============  ===================================================================  ===========
signal           counts                                                               saturation
===============  ===================================================================  ===========
``words``        words                                                                60
``questions``    question marks                                                       3
``reasoning``    analyse, compare, trade-off, justify, why, step by step, risks, …    3
``tasks``        distinct task verbs (build, list, propose, write, …) and list items  4
``parts``        commas, semicolons and colons joining the parts of an ask            6
``structure``    plan, weekly, milestones, template, curriculum, metrics, …           3
``constraints``  numbers ("12 weeks", "40 employees", "3 time zones")                 4
``code``         code words (python, script, SQL, CSV, …) and code fences             2
``domain``       legal / medical / financial / technical expertise terms              3
``depth``        earlier messages in the conversation                                 6
``brevity``      "quick", "short", "one paragraph", "simple" … (subtracted)           2
===============  ===================================================================  ===========

``domain`` names the specialist domain (for the CLOUD_SPECIALIZED tier) when one has at least
``DOMAIN_MIN_TERMS`` terms and more than any other. The low / medium / high bands of a score are cut
at ``LOW_MAX`` and ``MEDIUM_MAX``; the weights and the two cut-points were set on labelled requests
(the shared sample and tests/router/data/privacy_cases.jsonl) and rounded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from router.scoring import cues
from router.scoring.privacy import message_text
from router.scoring.scan import scan_text
from router.scoring.text import fold

LOW_MAX = 0.15  # score < LOW_MAX → "low"
MEDIUM_MAX = 0.42  # LOW_MAX ≤ score < MEDIUM_MAX → "medium"; from MEDIUM_MAX on → "high"
DOMAIN_MIN_TERMS = 2

_WEIGHTS = {
    "words": 0.33,
    "questions": 0.02,
    "reasoning": 0.17,
    "tasks": 0.17,
    "parts": 0.05,
    "structure": 0.1,
    "constraints": 0.02,
    "code": 0.1,
    "domain": 0.06,
    "depth": 0.04,
    "brevity": -0.08,
}
_SATURATION = {
    "words": 60.0,
    "questions": 3.0,
    "reasoning": 3.0,
    "tasks": 4.0,
    "parts": 6.0,
    "structure": 3.0,
    "constraints": 4.0,
    "code": 2.0,
    "domain": 3.0,
    "depth": 6.0,
    "brevity": 2.0,
}


_DOMAINS = tuple(kind.split(":", 1)[1] for kind in cues.COMPLEXITY_WORDS if kind.startswith("domain:"))

_LIST_ITEM = re.compile(r"(?m)^\s*(?:[-*•]|\d+[.)])\s+")
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class ComplexityResult:
    """Score in 0..1, the signals that drove it (name → count, never text), the specialist domain."""

    score: float
    signals: dict[str, float] = field(default_factory=dict)
    domain: str | None = None


def _signals(messages: Sequence[Mapping[str, Any]]) -> tuple[dict[str, float], dict[str, int]]:
    user_text = "\n".join(message_text(m) for m in messages if m.get("role", "user") == "user")
    raw = dict.fromkeys(_WEIGHTS, 0.0)
    raw["words"] = float(len(user_text.split()))
    raw["questions"] = float(user_text.count("?"))
    raw["parts"] = float(sum(user_text.count(p) for p in (", ", "; ", ": ")))
    raw["constraints"] = float(len(_NUMBER.findall(user_text)))
    raw["depth"] = float(max(0, len(messages) - 1))
    raw["code"] = 2.0 * (user_text.count("```") // 2)  # a fenced block counts twice
    # The privacy scan of a one-message request is the same text: scan_text reuses it.
    folded = fold(user_text)
    scan = scan_text(folded)
    for kind in ("reasoning", "structure", "code", "brevity"):
        raw[kind] += len(scan.of(f"cx:{kind}"))
    tasks = {folded[start:end] for start, end, _ in scan.of("cx:tasks")}
    list_items = len(_LIST_ITEM.findall(user_text)) if "\n" in user_text else 0
    raw["tasks"] = float(len(tasks) + list_items)
    domains = {domain: len(scan.of(f"cx:domain:{domain}")) for domain in _DOMAINS}
    return raw, domains


def score_complexity(messages: Sequence[Mapping[str, Any]]) -> ComplexityResult:
    """Complexity of a conversation, mostly from its user turns (the asks)."""
    raw, domains = _signals(messages)
    top, domain_terms = max(domains.items(), key=lambda kv: kv[1])
    # A specialist domain only when it dominates: enough terms, and no tie with another domain.
    dominant = domain_terms >= DOMAIN_MIN_TERMS and list(domains.values()).count(domain_terms) == 1
    domain = top if dominant else None
    raw["domain"] = float(domain_terms)
    score = sum(_WEIGHTS[k] * min(1.0, raw[k] / _SATURATION[k]) for k in _WEIGHTS)
    return ComplexityResult(score=round(min(1.0, max(0.0, score)), 4), signals=raw, domain=domain)


def complexity_band(score: float) -> str:
    """The low / medium / high band of a score (cut-points ``LOW_MAX`` and ``MEDIUM_MAX``)."""
    if score < LOW_MAX:
        return "low"
    if score < MEDIUM_MAX:
        return "medium"
    return "high"


def calibrate_threshold(scores: Sequence[float], cloud_share: float) -> float:
    """Threshold sending about ``cloud_share`` of traffic like ``scores`` to the cloud.

    It is the (1 - cloud_share) quantile of the sample, linearly interpolated (numpy's default);
    route to the cloud when ``score > threshold``. On a sample of distinct scores the share above the
    threshold is within 1/len(scores) of ``cloud_share``; ties can only lower it.
    """
    if math.isnan(cloud_share) or not 0.0 <= cloud_share <= 1.0:
        raise ValueError(f"cloud_share must be between 0 and 1, got {cloud_share!r}.")
    ordered = sorted(float(s) for s in scores)
    if not ordered:
        raise ValueError("Cannot calibrate a threshold from an empty sample of scores.")
    if cloud_share == 1.0:  # everything, ties with the minimum included
        return math.nextafter(ordered[0], -math.inf)
    position = (1.0 - cloud_share) * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    threshold = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    if position > low and ordered[high] > ordered[low]:
        # Between two scores the upper one must stay above the threshold, even when rounding
        # (scores a few ulps apart) would land the interpolation on it.
        threshold = min(threshold, math.nextafter(ordered[high], -math.inf))
    return threshold
