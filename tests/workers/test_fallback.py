"""The fallback chain's order: plain data in, the next engine out."""

from __future__ import annotations

from coachline.domain import Tier
from coachline.pools import parse_pools
from workers.fallback import Next, Route, Tried, WaitFor, next_target

POOLS = parse_pools(
    {
        "pools": [
            {
                "name": "fast",
                "model": "m",
                "engines": ["http://a:1/v1", "http://b:1/v1"],
                "tiers": ["LOCAL_FAST"],
            },
            {"name": "standard", "model": "l", "engines": ["http://c:1/v1"], "tiers": ["LOCAL_STANDARD"]},
        ],
        "cloud": {
            "model": "g",
            "base_url": "http://cloud:1/v1",
            "input_usd_per_1m": 1,
            "output_usd_per_1m": 1,
            "sim_profile": "cloud",
        },
    }
)
LOCAL = Route(Tier.LOCAL_FAST, "fast", cloud_allowed=True)


def _url(picked: object) -> str:
    assert isinstance(picked, Next)
    return picked.target.base_url


def test_a_first_attempt_goes_to_the_least_busy_engine_of_the_pool() -> None:
    assert (
        _url(next_target(LOCAL, POOLS, [], {}, {"http://a:1/v1": 40, "http://b:1/v1": 3})) == "http://b:1/v1"
    )
    assert _url(next_target(LOCAL, POOLS, [], {}, {})) == "http://a:1/v1"


def test_retries_walk_the_chain_and_skip_cooling_engines() -> None:
    tried = [Tried("http://a:1/v1", "local", "engine_error")]
    assert _url(next_target(LOCAL, POOLS, tried, {})) == "http://b:1/v1"
    assert _url(next_target(LOCAL, POOLS, tried, {"http://b:1/v1": 3.0})) == "http://c:1/v1"
    both = [*tried, Tried("http://b:1/v1", "local", "engine_timeout")]
    picked = next_target(LOCAL, POOLS, both, {})
    assert _url(picked) == "http://c:1/v1"
    picked = next_target(LOCAL, POOLS, [*both, Tried("http://c:1/v1", "local", "engine_error")], {})
    assert isinstance(picked, Next) and picked.reason == "fallback local -> cloud after engine_error"


def test_everything_cooling_means_wait_for_the_soonest() -> None:
    cooling = {"http://a:1/v1": 4.0, "http://b:1/v1": 2.0, "http://c:1/v1": 9.0, "http://cloud:1/v1": 7.0}
    assert next_target(LOCAL, POOLS, [], cooling) == WaitFor(2.0)


def test_a_cloud_decision_starts_in_the_cloud_and_falls_back_local() -> None:
    route = Route(Tier.CLOUD_ENHANCED, None, cloud_allowed=True)
    assert _url(next_target(route, POOLS, [], {})) == "http://cloud:1/v1"
    picked = next_target(route, POOLS, [Tried("http://cloud:1/v1", "cloud", "engine_rate_limited")], {})
    assert isinstance(picked, Next) and picked.target.processing_mode == "local"
    assert picked.reason == "fallback cloud -> local after engine_rate_limited"
