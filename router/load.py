"""Wait estimates from the pool-load snapshot: plain arithmetic over EngineLoad entries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coachline.loadsnap import EngineLoad


@dataclass(frozen=True)
class PoolEstimate:
    pool: str
    # None when the snapshot has nothing fresh for the pool: the router does not guess.
    latency_ms: float | None
    wait_ms: float | None
    demand: int
    capacity: int


def estimate(pool: str, loads: Sequence[EngineLoad], *, now: float, max_age_s: float = 5.0) -> PoolEstimate:
    """Expected latency of one more request on ``pool``.

    Demand is what the pool's workers hold plus its queue; capacity is the engines' batch slots.
    Below capacity a request starts at once; above it, it waits for ``demand - capacity + 1`` slots
    to free, and slots free at ``capacity / service_ms``.
    """
    fresh = [load for load in loads if load.is_fresh(now, max_age_s)]
    if not fresh:
        return PoolEstimate(pool, None, None, 0, 0)
    capacity = sum(load.max_num_seqs for load in fresh)
    demand = sum(load.inflight for load in fresh) + max(load.queue_depth for load in fresh)
    service_ms = max(1.0, sum(load.service_ms for load in fresh) / len(fresh))
    wait_ms = 0.0 if demand < capacity else (demand - capacity + 1) * service_ms / max(1, capacity)
    return PoolEstimate(pool, wait_ms + service_ms, wait_ms, demand, capacity)
