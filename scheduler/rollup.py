"""One rollup as plain data: what a window's requests, feedback and scores add up to.

``Acc`` accumulates facts (from rows of one minute) or merges other rollups (for an hour, a day, or
a rule's window). Counts and sums merge exactly; percentiles are exact while the raw values are at
hand and come from the merged sketches otherwise (see ``scheduler.sketch``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from coachline.db.monitoring import ALL
from scheduler.sketch import Sketch, nearest_rank

SCORE_DIMENSIONS = ("relevance", "coherence", "completeness")


class Dims(NamedTuple):
    tier: str
    pool: str
    model: str


TOTAL = Dims(ALL, ALL, ALL)


def grouping_sets(dims: Dims) -> tuple[Dims, ...]:
    """The rows one request counts in: its own, its model's, and the total."""
    return (dims, Dims(ALL, ALL, dims.model), TOTAL)


@dataclass(frozen=True)
class RequestFacts:
    """One request that reached a terminal state, as the aggregation counts it."""

    dims: Dims
    succeeded: bool
    error: bool  # failed or expired (cancelled is neither)
    fallback: bool  # more than one attempt, or an attempt in another processing mode than decided
    local: bool  # served by a local pool
    latency_ms: float | None
    ttft_ms: float | None
    tokens_in: int
    tokens_out: int
    cost_usd: float
    cloud_equivalent_usd: float | None


class RollupLike(Protocol):
    """What ``Acc.from_row`` reads: a stored ``Rollup`` row has these attributes."""

    requests: int
    succeeded: int
    errors: int
    fallbacks: int
    local_requests: int
    privacy_violations: int
    latency_sum_ms: float
    latency_sketch: dict[str, Any]
    ttft_sketch: dict[str, Any]
    tokens_in: int
    tokens_out: int
    cost_usd: float
    cloud_equivalent_usd: float | None
    feedback_count: int
    rating_sum: int
    corrections: int
    clarifications: int
    evaluator_scores: dict[str, Any]


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


@dataclass
class Acc:
    requests: int = 0
    succeeded: int = 0
    errors: int = 0
    fallbacks: int = 0
    local_requests: int = 0
    privacy_violations: int = 0
    latency_sum_ms: float = 0.0
    # Raw values while they are known (one minute); None once built from stored rollups.
    latencies: list[float] | None = field(default_factory=list)
    ttfts: list[float] | None = field(default_factory=list)
    latency_sketch: Sketch = field(default_factory=Sketch)
    ttft_sketch: Sketch = field(default_factory=Sketch)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    cloud_equivalent_usd: float | None = None
    feedback_count: int = 0
    rating_sum: int = 0
    corrections: int = 0
    clarifications: int = 0
    # evaluator -> {"n": count, "relevance": sum, "coherence": sum, "completeness": sum}
    evaluator_scores: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def merged(cls) -> Acc:
        """An empty accumulator for merging stored rollups (no raw values)."""
        return cls(latencies=None, ttfts=None)

    @classmethod
    def from_row(cls, row: RollupLike) -> Acc:
        return cls(
            requests=row.requests,
            succeeded=row.succeeded,
            errors=row.errors,
            fallbacks=row.fallbacks,
            local_requests=row.local_requests,
            privacy_violations=row.privacy_violations,
            latency_sum_ms=row.latency_sum_ms,
            latencies=None,
            ttfts=None,
            latency_sketch=Sketch.from_json(row.latency_sketch),
            ttft_sketch=Sketch.from_json(row.ttft_sketch),
            tokens_in=row.tokens_in,
            tokens_out=row.tokens_out,
            cost_usd=row.cost_usd,
            cloud_equivalent_usd=row.cloud_equivalent_usd,
            feedback_count=row.feedback_count,
            rating_sum=row.rating_sum,
            corrections=row.corrections,
            clarifications=row.clarifications,
            evaluator_scores={k: dict(v) for k, v in (row.evaluator_scores or {}).items()},
        )

    # -- adding facts -------------------------------------------------------------------------

    def add_request(self, facts: RequestFacts) -> None:
        self.requests += 1
        self.succeeded += facts.succeeded
        self.errors += facts.error
        self.fallbacks += facts.fallback
        self.local_requests += facts.local
        if facts.latency_ms is not None:
            self.latency_sum_ms += facts.latency_ms
            self.latency_sketch.add(facts.latency_ms)
            if self.latencies is not None:
                self.latencies.append(facts.latency_ms)
        if facts.ttft_ms is not None:
            self.ttft_sketch.add(facts.ttft_ms)
            if self.ttfts is not None:
                self.ttfts.append(facts.ttft_ms)
        self.tokens_in += facts.tokens_in
        self.tokens_out += facts.tokens_out
        self.cost_usd += facts.cost_usd
        if facts.cloud_equivalent_usd is not None:
            self.cloud_equivalent_usd = (self.cloud_equivalent_usd or 0.0) + facts.cloud_equivalent_usd

    def add_feedback(self, *, rating: int, correction: bool, clarification: bool) -> None:
        self.feedback_count += 1
        self.rating_sum += rating
        self.corrections += correction
        self.clarifications += clarification

    def add_score(self, evaluator: str, scores: dict[str, float]) -> None:
        entry = self.evaluator_scores.setdefault(evaluator, {"n": 0, **dict.fromkeys(SCORE_DIMENSIONS, 0.0)})
        entry["n"] += 1
        for dimension in SCORE_DIMENSIONS:
            entry[dimension] += scores[dimension]

    def merge(self, other: Acc) -> None:
        for name in (
            "requests",
            "succeeded",
            "errors",
            "fallbacks",
            "local_requests",
            "privacy_violations",
            "latency_sum_ms",
            "tokens_in",
            "tokens_out",
            "cost_usd",
            "feedback_count",
            "rating_sum",
            "corrections",
            "clarifications",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if self.latencies is not None:
            self.latencies = None if other.latencies is None else self.latencies + other.latencies
        if self.ttfts is not None:
            self.ttfts = None if other.ttfts is None else self.ttfts + other.ttfts
        self.latency_sketch.merge(other.latency_sketch)
        self.ttft_sketch.merge(other.ttft_sketch)
        if other.cloud_equivalent_usd is not None:
            self.cloud_equivalent_usd = (self.cloud_equivalent_usd or 0.0) + other.cloud_equivalent_usd
        for evaluator, entry in other.evaluator_scores.items():
            mine = self.evaluator_scores.setdefault(evaluator, dict.fromkeys(entry, 0.0))
            for key, value in entry.items():
                mine[key] = mine.get(key, 0.0) + value

    # -- derived values -----------------------------------------------------------------------

    @property
    def error_rate(self) -> float | None:
        return _ratio(self.errors, self.requests)

    @property
    def fallback_rate(self) -> float | None:
        return _ratio(self.fallbacks, self.requests)

    @property
    def local_processing_rate(self) -> float | None:
        return _ratio(self.local_requests, self.succeeded)

    @property
    def cost_savings_percentage(self) -> float | None:
        if not self.cloud_equivalent_usd:
            return None
        return 100.0 * (self.cloud_equivalent_usd - self.cost_usd) / self.cloud_equivalent_usd

    @property
    def mean_rating(self) -> float | None:
        return _ratio(self.rating_sum, self.feedback_count)

    @property
    def correction_rate(self) -> float | None:
        return _ratio(self.corrections, self.feedback_count)

    @property
    def clarification_rate(self) -> float | None:
        return _ratio(self.clarifications, self.feedback_count)

    @property
    def latency_samples(self) -> int:
        return self.latency_sketch.count

    @property
    def latency_mean_ms(self) -> float | None:
        return _ratio(self.latency_sum_ms, self.latency_sketch.count)

    def latency_quantile_ms(self, q: float) -> float | None:
        if self.latencies is not None:
            return nearest_rank(sorted(self.latencies), q)
        return self.latency_sketch.quantile(q)

    def ttft_quantile_ms(self, q: float) -> float | None:
        if self.ttfts is not None:
            return nearest_rank(sorted(self.ttfts), q)
        return self.ttft_sketch.quantile(q)

    def evaluator_mean(self, dimension: str, *, prefix: str = "") -> tuple[float | None, int]:
        """Mean score of ``dimension`` over evaluators whose name starts with ``prefix``, and its count."""
        total = count = 0.0
        for evaluator, entry in self.evaluator_scores.items():
            if evaluator.startswith(prefix):
                total += entry.get(dimension, 0.0)
                count += entry.get("n", 0)
        return _ratio(total, count), int(count)

    def values(self) -> dict[str, Any]:
        """The stored columns of this rollup (without window and dimensions)."""
        return {
            "requests": self.requests,
            "succeeded": self.succeeded,
            "errors": self.errors,
            "fallbacks": self.fallbacks,
            "local_requests": self.local_requests,
            "privacy_violations": self.privacy_violations,
            "error_rate": self.error_rate,
            "fallback_rate": self.fallback_rate,
            "local_processing_rate": self.local_processing_rate,
            "latency_sum_ms": self.latency_sum_ms,
            "latency_p50_ms": self.latency_quantile_ms(0.50),
            "latency_p95_ms": self.latency_quantile_ms(0.95),
            "latency_p99_ms": self.latency_quantile_ms(0.99),
            "ttft_p50_ms": self.ttft_quantile_ms(0.50),
            "ttft_p95_ms": self.ttft_quantile_ms(0.95),
            "ttft_p99_ms": self.ttft_quantile_ms(0.99),
            "latency_sketch": self.latency_sketch.to_json(),
            "ttft_sketch": self.ttft_sketch.to_json(),
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost_usd": self.cost_usd,
            "cloud_equivalent_usd": self.cloud_equivalent_usd,
            "cost_savings_percentage": self.cost_savings_percentage,
            "feedback_count": self.feedback_count,
            "rating_sum": self.rating_sum,
            "corrections": self.corrections,
            "clarifications": self.clarifications,
            "mean_rating": self.mean_rating,
            "correction_rate": self.correction_rate,
            "clarification_rate": self.clarification_rate,
            "evaluator_scores": self.evaluator_scores,
        }
