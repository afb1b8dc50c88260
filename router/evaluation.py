"""Routing evaluation on labelled traffic: the privacy invariant and the decision time of the
whole policy (scoring + tier + pool), on top of the scoring report of ``router.scoring.evaluate``."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from coachline.pools import PoolsConfig
from coachline.stats import percentile
from router.policy import Thresholds, decide


@dataclass(frozen=True)
class RoutingReport:
    cases: int
    # Labelled sensitive, yet decided for the cloud or allowed to reach it: must be empty.
    violations: list[str]
    tiers: dict[str, int]
    local_rate: float
    decision_p50_ms: float
    decision_p99_ms: float
    per_label_local: dict[str, float] = field(default_factory=dict)


def evaluate_routing(
    cases: Iterable[Mapping[str, Any]], pools: PoolsConfig, thresholds: Thresholds, *, repeats: int = 5
) -> RoutingReport:
    """Decide every case (``repeats`` times, for stable timings) under the default tenant policy."""
    items = list(cases)
    if not items:
        raise ValueError("no cases to evaluate")
    timings: list[float] = []
    tiers: Counter[str] = Counter()
    violations: list[str] = []
    local_by_label: dict[str, list[bool]] = {}
    # Whole passes over the cases, so that no two consecutive calls see the same text.
    for _ in range(repeats - 1):
        for case in items:
            started = time.perf_counter()
            decide(case["messages"], case.get("routing_hints", {}), pools, thresholds)
            timings.append((time.perf_counter() - started) * 1000)
    for case in items:
        started = time.perf_counter()
        decision = decide(case["messages"], case.get("routing_hints", {}), pools, thresholds)
        timings.append((time.perf_counter() - started) * 1000)
        tiers[decision.tier.value] += 1
        label = case.get("privacy", "unlabelled")
        local_by_label.setdefault(label, []).append(decision.tier.is_local)
        if label == "sensitive" and (not decision.tier.is_local or decision.cloud_allowed):
            violations.append(str(case.get("id", "?")))
    local = sum(1 for flags in local_by_label.values() for f in flags if f)
    return RoutingReport(
        cases=len(items),
        violations=violations,
        tiers=dict(sorted(tiers.items())),
        local_rate=local / len(items),
        decision_p50_ms=percentile(timings, 50),
        decision_p99_ms=percentile(timings, 99),
        per_label_local={k: sum(v) / len(v) for k, v in sorted(local_by_label.items())},
    )


def format_routing(report: RoutingReport) -> str:
    lines = [
        f"sensitive routed to cloud   {len(report.violations)}"
        + (f"  ({', '.join(report.violations)})" if report.violations else "  (zero violations)"),
        "tier mix                    " + ", ".join(f"{k} {n}" for k, n in report.tiers.items()),
        f"local processing rate       {report.local_rate * 100:.1f}%  ("
        + ", ".join(f"{k} {v * 100:.0f}% local" for k, v in report.per_label_local.items())
        + ")",
        f"decision time               p50 {report.decision_p50_ms:.3f} ms"
        f"   p99 {report.decision_p99_ms:.3f} ms",
    ]
    return "\n".join(lines)
