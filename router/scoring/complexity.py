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
from functools import cache
from typing import Any

from router.scoring.privacy import message_text
from router.scoring.scan import Vocabulary
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

_WORDS: dict[str, tuple[str, ...]] = {
    "reasoning": (
        "analy*", "evaluat*", "compar*", "contrast*", "trade off*", "tradeoff*", "justif*", "reason*",
        "why", "root cause*", "hypothes*", "sensitivity analysis", "step by step", "pros and cons",
        "implication*", "strateg*", "prioriti*", "recommend*", "decision*", "decid*", "weigh*",
        "assess*", "critique*", "consider*", "risk*", "mitigat*", "diagnos*", "statistic*", "evidence",
        "falsifiable", "when to use", "interpret*", "analiza*", "compara*", "evalua*", "por que",
        "paso a paso", "ventajas", "desventajas", "riesgo*", "analysier*", "vergleich*", "bewerte*",
        "begrund*", "warum", "schritt fur schritt", "risiko*", "analyse*", "evalue*", "pourquoi",
        "etape par etape", "risque*",
    ),
    "tasks": (
        "build*", "design*", "create*", "propose*", "identify*", "write*", "list*", "draft*", "plan*",
        "outline*", "summari*", "estimate*", "schedule*", "combine*", "suggest*", "include*", "cover*",
        "develop*", "measure*", "adapt*", "lay out", "map out", "break down", "explain*", "construct*",
        "crea*", "disena*", "propon*", "identifica*", "escribe*", "resume*", "incluye*", "construye*",
        "explica*", "erstell*", "entwirf*", "entwickle*", "schreib*", "plane*", "nenne*",
        "identifiziere*", "erklar*", "construis*", "redige*", "ecris*", "identifie*", "planifie*",
        "explique*",
    ),
    "structure": (
        "plan", "plans", "weekly", "milestone*", "template*", "curriculum", "framework*", "matrix",
        "metric*", "kpi*", "checkpoint*", "roadmap*", "timeline*", "program*", "indicator*", "criteria",
        "phase*", "week by week", "semanal*", "hito*", "wochentlich*", "meilenstein*", "hebdomadaire*",
        "jalon*", "calendrier",
    ),
    "code": (
        "python", "javascript", "typescript", "sql", "script", "code", "function", "regex", "api", "csv",
        "json", "bash", "excel formula", "algorithm", "debug*", "compile*",
    ),
    "brevity": (
        "quick", "quickly", "short", "brief", "briefly", "one paragraph", "one sentence", "two sentence",
        "simple", "in a nutshell", "one word", "tl;dr", "rapido", "breve", "corto", "kurz", "kurze",
        "rapide", "court", "courte",
    ),
    "domain:legal": (
        "contract*", "lawsuit*", "lawyer*", "attorney*", "court", "custody", "divorce*", "visa",
        "immigration", "liabilit*", "gdpr", "compliance", "non compete", "severance", "litigation",
        "legal*", "dui", "abogad*", "contrato*", "vertrag*", "anwalt*", "klage", "avocat*", "contrat*",
        "juridique*",
    ),
    "domain:medical": (
        "diagnos*", "medication*", "symptom*", "dosage", "dose", "diabet*", "hba1c", "glucose",
        "depress*", "anxiety", "adhd", "bipolar", "chemo*", "therap*", "psychiatr*", "doctor",
        "clinical", "blood pressure", "bmi", "pregnan*", "sertralin*", "antidepress*", "insulin",
        "medical*", "sintoma*", "krank*", "arzt*", "medecin*", "maladie*",
    ),
    "domain:financial": (
        "budget*", "debt*", "loan*", "mortgage*", "interest", "invest*", "portfolio*", "tax*",
        "retirement", "401k", "ira", "pension*", "savings", "credit card*", "stock*", "equity",
        "valuation", "cash flow", "deuda*", "presupuesto*", "inversion*", "impuesto*", "schulden",
        "steuer*", "investition*", "dette*", "impot*", "epargne",
    ),
    "domain:technical": (
        "python", "javascript", "sql", "database*", "kubernetes", "docker", "api", "architecture",
        "algorithm*", "microservice*", "latency", "deploy*", "server*", "machine learning",
        "statistical power", "regression", "csv", "script", "code", "backend", "frontend",
        "infrastructure", "datenbank*", "base de datos",
    ),
}  # fmt: skip
_DOMAINS = tuple(kind.split(":", 1)[1] for kind in _WORDS if kind.startswith("domain:"))

_FENCE = re.compile(r"```")
_LIST_ITEM = re.compile(r"(?m)^\s*(?:[-*•]|\d+[.)])\s+")
_PARTS = re.compile(r"[,;:](?=\s)")
_NUMBER = re.compile(r"\d+")


@cache
def _vocabulary() -> Vocabulary:
    entries: dict[str, set[tuple[str, str]]] = {}
    for kind, words in _WORDS.items():
        for word in words:
            entries.setdefault(word, set()).add((kind, ""))
    return Vocabulary({word: frozenset(tags) for word, tags in entries.items()})


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
    raw["parts"] = float(len(_PARTS.findall(user_text)))
    raw["constraints"] = float(len(_NUMBER.findall(user_text)))
    raw["depth"] = float(max(0, len(messages) - 1))
    raw["code"] = 2.0 * (len(_FENCE.findall(user_text)) // 2)  # a fenced block counts twice
    domains = dict.fromkeys(_DOMAINS, 0)
    tasks: set[str] = set()
    vocab = _vocabulary()
    for m in vocab.regex.finditer(fold(user_text)):
        for kind, _ in vocab.tags(m.group()):
            if kind.startswith("domain:"):
                domains[kind[len("domain:") :]] += 1
            elif kind == "tasks":
                tasks.add(m.group())
            else:
                raw[kind] += 1
    raw["tasks"] = float(len(tasks) + len(_LIST_ITEM.findall(user_text)))
    return raw, domains


def score_complexity(messages: Sequence[Mapping[str, Any]]) -> ComplexityResult:
    """Complexity of a conversation, mostly from its user turns (the asks)."""
    raw, domains = _signals(messages)
    domain, domain_terms = max(domains.items(), key=lambda kv: kv[1])
    if domain_terms < DOMAIN_MIN_TERMS or list(domains.values()).count(domain_terms) > 1:
        domain = None
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
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
