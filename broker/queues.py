"""Queue names and task names: strings, so a rename never strands messages in flight."""

from __future__ import annotations

from coachline.pools import PoolsConfig

ROUTER_QUEUE = "router"
CLOUD_QUEUE = "cloud"
SCHEDULER_QUEUE = "scheduler"
FINETUNE_QUEUE = "finetune"

ROUTE_TASK = "router.route"
GENERATE_TASK = "workers.generate"
REAP_TASK = "scheduler.reap"


def pool_queue(pool_name: str) -> str:
    return f"pool.{pool_name}"


def all_queues(pools: PoolsConfig) -> list[str]:
    """Every queue of the topology, in a stable order."""
    return [
        ROUTER_QUEUE,
        *(pool_queue(p.name) for p in pools.pools),
        CLOUD_QUEUE,
        SCHEDULER_QUEUE,
        FINETUNE_QUEUE,
    ]
