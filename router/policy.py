"""Tier and pool selection: plain functions over plain data, no broker, no database.

The effective privacy level is the strictest of what the detector found, the request's hint, the
tenant's policy and the user's preference. Sensitive requests get local tiers only, on every path;
private ones reach the cloud only where the tenant allows it, and then redacted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from coachline.domain import PrivacyLevel, Tier
from coachline.pools import PoolsConfig, PoolSpec, TenantPolicy
from router.load import PoolEstimate
from router.scoring import detect_privacy, score_complexity


@dataclass(frozen=True)
class Thresholds:
    fast_max: float
    standard_max: float


@dataclass(frozen=True)
class UserChoice:
    privacy_level: PrivacyLevel | None = None
    local_only: bool = False


@dataclass(frozen=True)
class Decision:
    tier: Tier
    pool: str | None  # None when the cloud serves it
    privacy_level: PrivacyLevel
    privacy_categories: tuple[str, ...]
    complexity_score: float
    signals: dict[str, float]
    cloud_allowed: bool
    redact_for_cloud: bool
    reasons: list[str] = field(default_factory=list)
    decision_ms: float = 0.0
    scoring_failed: bool = False

    @property
    def processing_mode(self) -> str:
        return "local" if self.tier.is_local else "cloud"


# Given a pool name, its current estimate (the router passes a cached snapshot reader).
Estimator = Callable[[str], PoolEstimate]


def _no_estimate(pool: str) -> PoolEstimate:
    return PoolEstimate(pool, None, None, 0, 0)


def tier_for_complexity(score: float, domain: str | None, thresholds: Thresholds) -> Tier:
    if score <= thresholds.fast_max:
        return Tier.LOCAL_FAST
    if score <= thresholds.standard_max:
        return Tier.LOCAL_STANDARD
    return Tier.CLOUD_SPECIALIZED if domain else Tier.CLOUD_ENHANCED


def cloud_permitted(
    level: PrivacyLevel, tenant: TenantPolicy, user: UserChoice, pools: PoolsConfig
) -> tuple[bool, str | None]:
    """Whether any attempt of this request may reach the cloud, and if not, why."""
    if pools.cloud is None:
        return False, "no cloud provider configured"
    if level is PrivacyLevel.SENSITIVE:
        return False, "sensitive data stays local"
    if tenant.local_only:
        return False, "tenant policy: local only"
    if user.local_only:
        return False, "user preference: local only"
    if level is PrivacyLevel.PRIVATE and not tenant.private_to_cloud:
        return False, "private data stays local (tenant does not allow redacted cloud use)"
    return True, None


def _local_candidates(pools: PoolsConfig, tier: Tier) -> list[PoolSpec]:
    """Pools that serve ``tier`` first, then every other local pool."""
    serving = pools.pools_for(tier)
    return serving + [p for p in pools.pools if p not in serving]


def _pick_local(
    pools: PoolsConfig, tier: Tier, estimator: Estimator, budget_ms: float | None
) -> tuple[PoolSpec, PoolEstimate, bool]:
    """The least-loaded pool serving ``tier`` (others when none meets the budget); True when it
    meets ``budget_ms`` (or nothing is known that says it does not)."""
    serving = pools.pools_for(tier) or list(pools.pools)
    estimates = [(pool, estimator(pool.name)) for pool in serving]
    best = min(estimates, key=lambda item: _sort_key(item[1]))
    if budget_ms is None or _meets(best[1], budget_ms):
        return best[0], best[1], True
    others = [(pool, estimator(pool.name)) for pool in _local_candidates(pools, tier) if pool not in serving]
    meeting = [item for item in others if _meets(item[1], budget_ms)]
    if meeting:
        choice = min(meeting, key=lambda item: _sort_key(item[1]))
        return choice[0], choice[1], True
    return best[0], best[1], False


def _sort_key(estimate: PoolEstimate) -> float:
    return estimate.latency_ms if estimate.latency_ms is not None else 0.0


def _meets(estimate: PoolEstimate, budget_ms: float) -> bool:
    return estimate.latency_ms is None or estimate.latency_ms <= budget_ms


def decide(
    messages: Sequence[Mapping[str, str]],
    hints: Mapping[str, Any],
    pools: PoolsConfig,
    thresholds: Thresholds,
    *,
    tenant: TenantPolicy | None = None,
    user: UserChoice | None = None,
    estimator: Estimator = _no_estimate,
) -> Decision:
    """Score a conversation and choose its tier and pool.

    If scoring raises, the request is treated as sensitive (fail closed) and the decision says so.
    """
    started = time.perf_counter()
    tenant = tenant or pools.default_tenant
    user = user or UserChoice()
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
    level = PrivacyLevel.strictest(detected, hinted, tenant.min_privacy, user.privacy_level)
    if categories:
        reasons.append(f"privacy detected {detected.value}: {', '.join(categories)}")
    for source, value in (
        ("hint", hinted),
        ("tenant policy", tenant.min_privacy),
        ("user preference", user.privacy_level),
    ):
        if value is not None and value.rank > detected.rank and value is level:
            reasons.append(f"{source} raised privacy to {value.value}")
    cloud_allowed, why_not = cloud_permitted(level, tenant, user, pools)

    tier = tier_for_complexity(score, domain, thresholds)
    reasons.append(f"complexity {score:.2f} -> {tier.value}")
    if not tier.is_local:
        if not cloud_allowed:
            reasons.append(f"kept local: {why_not}")
            tier = Tier.LOCAL_STANDARD
        elif hints.get("prefer_local"):
            reasons.append("kept local: prefer_local hint")
            tier = Tier.LOCAL_STANDARD

    pool: str | None = None
    if tier.is_local:
        budget = hints.get("max_latency_ms")
        chosen, estimate, meets = _pick_local(pools, tier, estimator, float(budget) if budget else None)
        pool = chosen.name
        if not meets:
            best = f"{chosen.name} ~{estimate.latency_ms:.0f} ms"
            # A latency budget is a requirement; prefer_local only weighs against complexity.
            if cloud_allowed:
                reasons.append(f"spilled to cloud: no local pool meets {budget} ms (best {best})")
                tier, pool = Tier.CLOUD_FALLBACK, None
            else:
                reasons.append(f"waits for local capacity: no local pool meets {budget} ms (best {best})")

    return Decision(
        tier=tier,
        pool=pool,
        privacy_level=level,
        privacy_categories=categories,
        complexity_score=round(score, 4),
        signals=signals,
        cloud_allowed=cloud_allowed,
        redact_for_cloud=level is PrivacyLevel.PRIVATE,
        reasons=reasons,
        decision_ms=(time.perf_counter() - started) * 1000,
        scoring_failed=scoring_failed,
    )


def _hint_level(value: object) -> PrivacyLevel | None:
    if value is None:
        return None
    return PrivacyLevel(str(value))
