"""Wait estimates from the load snapshot, and the shared engine cooldowns (memory and Redis)."""

from __future__ import annotations

import time

import pytest

from coachline.cooldown import CooldownStore, MemoryCooldowns, RedisCooldowns
from coachline.loadsnap import CachedLoadReader, EngineLoad, MemoryLoadStore, RedisLoadStore
from router.load import estimate


def _load(
    url: str, *, inflight: int, queue: int = 0, seqs: int = 8, service_ms: float = 100.0, age_s: float = 0.0
) -> EngineLoad:
    return EngineLoad(
        url,
        inflight,
        min(inflight, seqs),
        max(0, inflight - seqs),
        0.1,
        queue,
        service_ms,
        seqs,
        time.time() - age_s,
    )


def test_below_capacity_a_request_starts_at_once() -> None:
    e = estimate("p", [_load("a", inflight=3), _load("b", inflight=4)], now=time.time())
    assert (e.capacity, e.demand, e.wait_ms, e.latency_ms) == (16, 7, 0.0, 100.0)


def test_above_capacity_the_wait_grows_with_the_backlog() -> None:
    # 16 slots, 16 held + 16 queued: the 17th in line waits for 17 slots at 16 per 100 ms.
    e = estimate("p", [_load("a", inflight=8, queue=16), _load("b", inflight=8, queue=16)], now=time.time())
    assert e.demand == 32
    assert e.wait_ms == pytest.approx(17 * 100.0 / 16)
    assert e.latency_ms == pytest.approx(e.wait_ms + 100.0)


def test_stale_or_missing_entries_mean_unknown() -> None:
    assert estimate("p", [], now=time.time()).latency_ms is None
    assert estimate("p", [_load("a", inflight=99, age_s=60)], now=time.time()).latency_ms is None


def test_stores_round_trip_and_the_reader_caches(redis_url: str) -> None:
    for store in (MemoryLoadStore(), RedisLoadStore(redis_url)):
        entry = _load("http://e1/v1", inflight=5, queue=2)
        store.publish("fast", entry)
        assert store.read("fast") == [entry]
        assert store.read("other") == []
        reader = CachedLoadReader(store, max_age_s=60)
        assert reader.read("fast") == [entry]
        store.publish("fast", _load("http://e1/v1", inflight=9))
        assert reader.read("fast") == [entry]  # cached: routing never waits on the store


def _cooldowns(kind: str, redis_url: str) -> CooldownStore:
    if kind == "memory":
        return MemoryCooldowns(failures=3, cooldown_s=0.3)
    return RedisCooldowns(redis_url, failures=3, cooldown_s=0.3)


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_cooldown_after_consecutive_failures_then_recovery(kind: str, redis_url: str) -> None:
    store = _cooldowns(kind, redis_url)
    url = "http://engine-1/v1"
    assert store.record_failure(url) is False
    store.record_success(url)  # a success resets the count
    assert store.record_failure(url) is False
    assert store.record_failure(url) is False
    assert store.cooling([url]) == {}
    assert store.record_failure(url) is True
    left = store.cooling([url, "http://other/v1"])
    assert list(left) == [url] and 0 < left[url] <= 0.3
    time.sleep(0.35)
    assert store.cooling([url]) == {}


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_retry_after_cools_for_exactly_that_long(kind: str, redis_url: str) -> None:
    store = _cooldowns(kind, redis_url)
    assert store.record_failure("http://cloud/v1", cool_for_s=5.0) is True
    assert 4.5 < store.cooling(["http://cloud/v1"])["http://cloud/v1"] <= 5.0


def test_redis_cooldowns_are_shared_between_processes(redis_url: str) -> None:
    one = RedisCooldowns(redis_url, failures=1, cooldown_s=5)
    two = RedisCooldowns(redis_url, failures=1, cooldown_s=5)
    one.record_failure("http://shared/v1")
    assert "http://shared/v1" in two.cooling(["http://shared/v1"])
