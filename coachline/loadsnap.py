"""The pool-load snapshot: what each engine is doing, shared cheaply by every process.

Pool workers publish one entry per engine every fraction of a second; the router reads a pool's
entries (through a short-lived cache) to estimate how long a new request would wait. On Redis it
is a hash per pool; in the embedded default, where every role shares a process, a dict.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from typing import Protocol

import redis

from coachline.keys import load_key


@dataclass(frozen=True)
class EngineLoad:
    engine_url: str
    # Requests this engine's worker holds (running in the engine or about to be sent).
    inflight: int
    # The engine's own view, scraped from its /metrics (vllm:num_requests_running / _waiting).
    running: int
    waiting: int
    kv_cache_usage: float  # 0..1
    # Messages waiting in the pool's broker queue (the same for every engine of the pool).
    queue_depth: int
    # Recent mean engine time of one request, for wait estimates.
    service_ms: float
    max_num_seqs: int
    updated_at: float  # epoch seconds

    def is_fresh(self, now: float, max_age_s: float) -> bool:
        return now - self.updated_at <= max_age_s


class LoadStore(Protocol):
    def publish(self, pool: str, load: EngineLoad) -> None: ...

    def read(self, pool: str) -> list[EngineLoad]: ...


class MemoryLoadStore:
    def __init__(self) -> None:
        self._data: dict[str, dict[str, EngineLoad]] = {}
        self._lock = threading.Lock()

    def publish(self, pool: str, load: EngineLoad) -> None:
        with self._lock:
            self._data.setdefault(pool, {})[load.engine_url] = load

    def read(self, pool: str) -> list[EngineLoad]:
        with self._lock:
            return list(self._data.get(pool, {}).values())


class RedisLoadStore:
    def __init__(self, url: str, *, ttl_s: float = 30.0) -> None:
        self._client = redis.Redis.from_url(url)
        self._ttl_s = ttl_s

    def publish(self, pool: str, load: EngineLoad) -> None:
        key = load_key(pool)
        pipe = self._client.pipeline(transaction=False)
        pipe.hset(key, load.engine_url, json.dumps(asdict(load)))
        # A pool whose workers all stopped disappears instead of looking idle forever.
        pipe.expire(key, int(self._ttl_s))
        pipe.execute()

    def read(self, pool: str) -> list[EngineLoad]:
        raw = self._client.hgetall(load_key(pool))
        return [EngineLoad(**json.loads(value)) for value in raw.values()]


class CachedLoadReader:
    """Reads through to a store at most every ``max_age_s`` per pool, so routing never waits on it."""

    def __init__(self, store: LoadStore, *, max_age_s: float = 0.25) -> None:
        self._store = store
        self._max_age_s = max_age_s
        self._cache: dict[str, tuple[float, list[EngineLoad]]] = {}
        self._lock = threading.Lock()

    def read(self, pool: str) -> list[EngineLoad]:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(pool)
        if cached is not None and now - cached[0] < self._max_age_s:
            return cached[1]
        try:
            loads = self._store.read(pool)
        except redis.RedisError:
            # No snapshot is no reason to stop routing: the policy treats it as "load unknown".
            loads = []
        with self._lock:
            self._cache[pool] = (now, loads)
        return loads
