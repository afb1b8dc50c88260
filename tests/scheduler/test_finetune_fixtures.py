"""Building blocks shared by the fine-tune tests (rollups and evidence as plain data); no tests here."""

from __future__ import annotations

import datetime as dt
from typing import Any

from scheduler.finetune.evidence import ModelEvidence
from scheduler.rollup import TOTAL, Acc, RequestFacts

MODEL = "mistralai/Mistral-7B-Instruct-v0.3"
START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def acc(
    *,
    rating: float = 4.8,
    n: int = 20,
    corrections: float = 0.0,
    clarifications: float = 0.0,
    latency_ms: float = 1000.0,
    relevance: float | None = 0.9,
    coherence: float = 0.9,
    completeness: float = 0.9,
) -> Acc:
    """``n`` rated, judged requests whose mean rating is ``rating`` (fractions as rates)."""
    out = Acc.merged()
    low = int(rating)
    ups = round((rating - low) * n)
    ratings = [min(5, low + 1)] * ups + [low] * (n - ups)
    for i, r in enumerate(ratings):
        out.add_request(
            RequestFacts(
                dims=TOTAL,
                succeeded=True,
                error=False,
                fallback=False,
                local=True,
                latency_ms=latency_ms,
                ttft_ms=50.0,
                tokens_in=100,
                tokens_out=200,
                cost_usd=0.0001,
                cloud_equivalent_usd=None,
            )
        )
        out.add_feedback(rating=r, correction=i < corrections * n, clarification=i >= n - clarifications * n)
        if relevance is not None:
            out.add_score(
                "judge:gpt-4o-mini",
                {"relevance": relevance, "coherence": coherence, "completeness": completeness},
            )
    return out


# Keyword arguments of `acc` for a model in each state.
HEALTHY: dict[str, Any] = {"rating": 4.8, "relevance": 0.92, "latency_ms": 1000.0}
WARNING: dict[str, Any] = {"rating": 2.6, "relevance": 0.45, "corrections": 0.35, "latency_ms": 2500.0}
CRITICAL: dict[str, Any] = {"rating": 1.5, "relevance": 0.2, "corrections": 0.55, "latency_ms": 3000.0}


def evidence(
    *slices: Acc | None, by_tier: dict[str, Acc] | None = None, model: str = MODEL, window_s: float = 3600
) -> ModelEvidence:
    total = Acc.merged()
    for part in slices:
        if part is not None:
            total.merge(part)
    return ModelEvidence(
        model=model,
        window_start=START,
        window_end=START + dt.timedelta(seconds=window_s),
        total=total,
        slices=list(slices),
        by_tier=by_tier or {},
    )
