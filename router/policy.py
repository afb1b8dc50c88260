"""Tier and pool selection: plain functions over plain data, no broker, no database."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from coachline.domain import PrivacyLevel, Tier
from coachline.pools import PoolsConfig, PoolSpec
from router.scoring import detect_privacy, score_complexity


@dataclass(frozen=True)
class Thresholds:
    fast_max: float
    standard_max: float


@dataclass(frozen=True)
class Decision:
    tier: Tier
    pool: str | None  # None when the cloud serves it
    privacy_level: PrivacyLevel
    privacy_categories: tuple[str, ...]
    complexity_score: float
    signals: dict[str, float]
    reasons: list[str] = field(default_factory=list)
    decision_ms: float = 0.0
    scoring_failed: bool = False

    @property
    def processing_mode(self) -> str:
        return "local" if self.tier.is_local else "cloud"


def tier_for_complexity(score: float, domain: str | None, thresholds: Thresholds) -> Tier:
    if score <= thresholds.fast_max:
        return Tier.LOCAL_FAST
    if score <= thresholds.standard_max:
        return Tier.LOCAL_STANDARD
    return Tier.CLOUD_SPECIALIZED if domain else Tier.CLOUD_ENHANCED


def pick_pool(pools: PoolsConfig, tier: Tier) -> PoolSpec:
    """The first pool that serves ``tier``; else the first that serves any local tier."""
    serving = pools.pools_for(tier)
    return serving[0] if serving else pools.pools[0]


def decide(
    messages: Sequence[Mapping[str, str]],
    hints: Mapping[str, Any],
    pools: PoolsConfig,
    thresholds: Thresholds,
) -> Decision:
    """Score a conversation and choose its tier and pool.

    Sensitive requests never get a cloud tier. If scoring raises, the request is treated as
    sensitive (fail closed) and the decision says so.
    """
    started = time.perf_counter()
    reasons: list[str] = []
    scoring_failed = False
    try:
        privacy = detect_privacy(messages)
        complexity = score_complexity(messages)
        detected, categories = privacy.level, tuple(sorted(privacy.categories))
        score, signals, domain = complexity.score, dict(complexity.signals), complexity.domain
    except Exception:
        scoring_failed = True
        detected, categories = PrivacyLevel.SENSITIVE, ()
        score, signals, domain = 1.0, {}, None
        reasons.append("scoring failed: treated as sensitive")

    hinted = _hint_level(hints.get("privacy_level"))
    level = PrivacyLevel.strictest(detected, hinted)
    if categories:
        reasons.append(f"privacy detected {detected.value}: {', '.join(categories)}")
    if hinted is not None and hinted.rank > detected.rank:
        reasons.append(f"privacy hint raised the level to {hinted.value}")

    tier = tier_for_complexity(score, domain, thresholds)
    reasons.append(f"complexity {score:.2f} -> {tier.value}")
    if not tier.is_local:
        if level is not PrivacyLevel.PUBLIC:
            reasons.append(f"{level.value} data stays local")
            tier = Tier.LOCAL_STANDARD
        elif hints.get("prefer_local"):
            reasons.append("prefer_local hint")
            tier = Tier.LOCAL_STANDARD
        elif pools.cloud is None:
            reasons.append("no cloud provider configured")
            tier = Tier.LOCAL_STANDARD

    pool = pick_pool(pools, tier).name if tier.is_local else None
    return Decision(
        tier=tier,
        pool=pool,
        privacy_level=level,
        privacy_categories=categories,
        complexity_score=round(score, 4),
        signals=signals,
        reasons=reasons,
        decision_ms=(time.perf_counter() - started) * 1000,
        scoring_failed=scoring_failed,
    )


def _hint_level(value: object) -> PrivacyLevel | None:
    if value is None:
        return None
    return PrivacyLevel(str(value))
