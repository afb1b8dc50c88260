"""The privacy invariant over the whole decision path, as properties: for any conversation with a
sensitive item anywhere, under any hints, tenant policy, user preference, load and engine
failures, neither the decision nor any attempt of the fallback chain targets a cloud engine."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coachline.domain import PrivacyLevel, Tier
from coachline.pools import PoolsConfig, TenantPolicy, parse_pools
from router import policy
from router.load import PoolEstimate
from router.policy import Thresholds, UserChoice, decide
from tests.router.test_scoring_properties import FILLER, SENSITIVE_ITEMS
from workers.fallback import Next, Route, Tried, WaitFor, chain, next_target

POOLS: PoolsConfig = parse_pools(
    {
        "pools": [
            {
                "name": "fast",
                "model": "m7",
                "engines": ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"],
                "tiers": ["LOCAL_FAST"],
            },
            {
                "name": "standard",
                "model": "l8",
                "engines": ["http://10.0.0.3:8000/v1"],
                "tiers": ["LOCAL_STANDARD"],
            },
        ],
        "cloud": {
            "model": "gpt",
            "base_url": "http://cloud.invalid/v1",
            "input_usd_per_1m": 1,
            "output_usd_per_1m": 1,
            "sim_profile": "cloud",
        },
    }
)
CLOUD_URL = "http://cloud.invalid/v1"
ALL_URLS = [e.base_url for p in POOLS.pools for e in p.engines] + [CLOUD_URL]
THRESHOLDS = Thresholds(fast_max=0.12, standard_max=0.3)

roles = st.sampled_from(["system", "user", "assistant"])
levels = st.none() | st.sampled_from(list(PrivacyLevel))
hints = st.fixed_dictionaries(
    {},
    optional={
        "prefer_local": st.booleans(),
        "max_latency_ms": st.integers(min_value=1, max_value=60_000),
        "privacy_level": st.sampled_from([lvl.value for lvl in PrivacyLevel]),
    },
)
tenants = st.builds(
    TenantPolicy,
    local_only=st.booleans(),
    private_to_cloud=st.booleans(),
    min_privacy=st.sampled_from(list(PrivacyLevel)),
)
users = st.builds(UserChoice, privacy_level=levels, local_only=st.booleans())
estimates = st.none() | st.floats(min_value=1, max_value=120_000)


@st.composite
def conversations_with_a_sensitive_item(draw: Any) -> list[dict[str, str]]:
    turns = [
        {"role": draw(roles), "content": draw(st.sampled_from(FILLER))}
        for _ in range(draw(st.integers(0, 6)))
    ]
    item = draw(st.sampled_from(SENSITIVE_ITEMS))
    position = draw(st.integers(0, len(turns)))
    host = draw(st.sampled_from(FILLER))
    # The item may stand alone or sit inside another sentence of any turn.
    content = draw(st.sampled_from([item, f"{host} {item}", f"{item} {host}"]))
    turns.insert(position, {"role": draw(roles), "content": content})
    return turns


def _walk_chain(route: Route, failures: list[bool], cooling_draws: list[set[int]]) -> list[str]:
    """Attempt after attempt: each fails or not, with a changing set of engines cooling down."""
    tried: list[Tried] = []
    targets: list[str] = []
    for failed, cooled in zip(failures, cooling_draws, strict=False):
        cooling = {ALL_URLS[i]: 1.0 for i in cooled}
        picked = next_target(route, POOLS, tried, cooling)
        if picked is None or isinstance(picked, WaitFor):
            continue
        assert isinstance(picked, Next)
        targets.append(picked.target.base_url)
        if not failed:
            break
        tried.append(Tried(picked.target.base_url, picked.target.processing_mode, "engine_error"))
    return targets


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=conversations_with_a_sensitive_item(),
    hint=hints,
    tenant=tenants,
    user=users,
    latency_ms=estimates,
    failures=st.lists(st.booleans(), min_size=1, max_size=12),
    cooling=st.lists(st.sets(st.integers(0, len(ALL_URLS) - 1)), min_size=12, max_size=12),
)
def test_no_attempt_of_a_sensitive_conversation_targets_the_cloud(
    messages: list[dict[str, str]],
    hint: dict[str, Any],
    tenant: TenantPolicy,
    user: UserChoice,
    latency_ms: float | None,
    failures: list[bool],
    cooling: list[set[int]],
) -> None:
    def estimator(pool: str) -> PoolEstimate:
        return PoolEstimate(pool, latency_ms, latency_ms, 10**6, 1)

    decision = decide(messages, hint, POOLS, THRESHOLDS, tenant=tenant, user=user, estimator=estimator)
    assert decision.privacy_level is PrivacyLevel.SENSITIVE
    assert decision.tier.is_local and decision.pool is not None and not decision.cloud_allowed
    route = Route(tier=decision.tier, pool=decision.pool, cloud_allowed=decision.cloud_allowed)
    assert CLOUD_URL not in [t.base_url for t in chain(route, POOLS)]
    assert CLOUD_URL not in _walk_chain(route, failures, cooling)


@settings(max_examples=200, deadline=None)
@given(
    level=st.sampled_from(list(PrivacyLevel)),
    tier=st.sampled_from(list(Tier)),
    tenant=tenants,
    user=users,
    failures=st.lists(st.booleans(), min_size=1, max_size=12),
    cooling=st.lists(st.sets(st.integers(0, len(ALL_URLS) - 1)), min_size=12, max_size=12),
)
def test_the_chain_reaches_the_cloud_only_when_the_policy_allows(
    level: PrivacyLevel,
    tier: Tier,
    tenant: TenantPolicy,
    user: UserChoice,
    failures: list[bool],
    cooling: list[set[int]],
) -> None:
    allowed, _ = policy.cloud_permitted(level, tenant, user, POOLS)
    route = Route(tier=tier, pool=None if not tier.is_local and allowed else "fast", cloud_allowed=allowed)
    reached = CLOUD_URL in _walk_chain(route, failures, cooling)
    if reached:
        assert (
            allowed and level is not PrivacyLevel.SENSITIVE and not tenant.local_only and not user.local_only
        )


def test_scoring_failure_fails_closed(monkeypatch: Any) -> None:
    def broken(_messages: Any) -> Any:
        raise RuntimeError("detector bug")

    monkeypatch.setattr(policy, "detect_privacy", broken)
    decision = decide(
        [{"role": "user", "content": "Compare three strategy frameworks in depth, step by step."}],
        {},
        POOLS,
        THRESHOLDS,
    )
    assert decision.scoring_failed
    assert decision.privacy_level is PrivacyLevel.SENSITIVE and decision.tier.is_local
    assert not decision.cloud_allowed
    assert "scoring failed" in decision.reasons[0]


def test_latency_budget_spills_public_requests_but_never_sensitive_ones() -> None:
    def overloaded(pool: str) -> PoolEstimate:
        return PoolEstimate(pool, 9_000.0, 8_000.0, 500, 64)

    public = decide(
        [{"role": "user", "content": "One tip for a calm morning?"}],
        {"max_latency_ms": 2000},
        POOLS,
        THRESHOLDS,
        estimator=overloaded,
    )
    assert public.tier is Tier.CLOUD_FALLBACK and public.pool is None
    assert any("spilled to cloud" in r for r in public.reasons)
    sensitive = decide(
        [{"role": "user", "content": "I take sertraline. One tip for a calm morning?"}],
        {"max_latency_ms": 2000},
        POOLS,
        THRESHOLDS,
        estimator=overloaded,
    )
    assert sensitive.tier.is_local and any("waits for local capacity" in r for r in sensitive.reasons)
    # Within budget, nothing spills; an unknown load is no reason to spill either.
    assert decide(
        [{"role": "user", "content": "One tip?"}],
        {"max_latency_ms": 20_000},
        POOLS,
        THRESHOLDS,
        estimator=overloaded,
    ).tier.is_local
    assert decide(
        [{"role": "user", "content": "One tip?"}], {"max_latency_ms": 1}, POOLS, THRESHOLDS
    ).tier.is_local


def test_the_least_loaded_pool_of_the_tier_wins() -> None:
    pools = parse_pools(
        {
            "pools": [
                {"name": "a", "model": "m", "engines": ["http://10.0.0.1:8000/v1"], "tiers": ["LOCAL_FAST"]},
                {"name": "b", "model": "m", "engines": ["http://10.0.0.2:8000/v1"], "tiers": ["LOCAL_FAST"]},
            ]
        }
    )
    loads = {"a": 3000.0, "b": 200.0}

    def estimator(pool: str) -> PoolEstimate:
        return PoolEstimate(pool, loads[pool], 0.0, 1, 1)

    decision = decide([{"role": "user", "content": "One tip?"}], {}, pools, THRESHOLDS, estimator=estimator)
    assert decision.pool == "b"
