"""The fallback chain: which engine the next attempt of a request goes to. Plain data in and out.

Local decision: the chosen pool's engines, then every other local pool's, then the cloud — only
where the decision allows the cloud. Cloud decision: the cloud, then the local pools. Attempts walk
the chain in order, skipping engines that are cooling down; past its end the chain starts again, so
a request keeps trying local engines (sensitive requests wait for them) until its attempts or its
deadline run out. Nothing here can produce a cloud target for a decision that forbids the cloud.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from coachline.domain import Tier
from coachline.pools import PoolsConfig
from workers.engines import EngineTarget
from workers.errors import EngineError


@dataclass(frozen=True)
class Route:
    """What the chain needs to know of a routing decision."""

    tier: Tier
    pool: str | None
    cloud_allowed: bool


@dataclass(frozen=True)
class Tried:
    engine_url: str
    processing_mode: str
    error_code: str | None


@dataclass(frozen=True)
class Next:
    target: EngineTarget
    reason: str


@dataclass(frozen=True)
class WaitFor:
    """Every engine of the chain is cooling down: try again after ``seconds``."""

    seconds: float


def chain(route: Route, pools: PoolsConfig) -> list[EngineTarget]:
    """Every engine this request may use, in the order attempts should try them."""
    locals_: list[EngineTarget] = []
    first = [pools.pool(route.pool)] if route.pool else pools.pools_for(Tier.LOCAL_STANDARD)
    ordered = first + [p for p in pools.pools if p not in first]
    for pool in ordered:
        for engine in pool.engines:
            locals_.append(EngineTarget(engine.base_url, pool.model, "EMPTY", pool.name, "local"))
    cloud = [_cloud_target(pools)] if route.cloud_allowed and pools.cloud is not None else []
    return cloud + locals_ if route.pool is None else locals_ + cloud


def _cloud_target(pools: PoolsConfig) -> EngineTarget:
    cloud = pools.cloud
    assert cloud is not None
    api_key = os.environ.get(cloud.api_key_env)
    if not api_key:
        if cloud.sim_profile is None:
            raise EngineError(
                "cloud_credentials_missing",
                f"the cloud API key variable {cloud.api_key_env} is not set",
                transient=False,
            )
        api_key = "simulated"  # coachline serves this cloud with its simulator, which takes any key
    return EngineTarget(cloud.base_url, cloud.model, api_key, None, "cloud")


def next_target(
    route: Route,
    pools: PoolsConfig,
    tried: Sequence[Tried],
    cooling: Mapping[str, float],
    inflight: Mapping[str, int] | None = None,
) -> Next | WaitFor | None:
    """The engine for the next attempt, given the attempts so far and the engines cooling down.

    A first attempt on a pool with several engines goes to the one with the fewest requests in
    flight (``inflight``), so one worker feeding several engines spreads its batch over them.
    """
    candidates = chain(route, pools)
    if not candidates:
        return None
    if not tried and inflight and route.pool is not None:
        pool_size = len(pools.pool(route.pool).engines)
        head = sorted(candidates[:pool_size], key=lambda t: inflight.get(t.base_url, 0))
        candidates = head + candidates[pool_size:]
    start = len(tried) % len(candidates)
    ordered = candidates[start:] + candidates[:start]
    for target in ordered:
        if target.base_url not in cooling:
            return Next(target, _reason(tried, target))
    return WaitFor(min(cooling[t.base_url] for t in candidates))


def _reason(tried: Sequence[Tried], target: EngineTarget) -> str:
    if not tried:
        return "initial"
    last = tried[-1]
    why = last.error_code or "error"
    if last.processing_mode != target.processing_mode:
        return f"fallback {last.processing_mode} -> {target.processing_mode} after {why}"
    if last.engine_url != target.base_url:
        return f"next engine after {why}"
    return f"retry after {why}"
