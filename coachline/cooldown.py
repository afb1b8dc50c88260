"""Engine cooldown, shared by every router and worker process.

An engine that keeps failing — ``failures`` consecutive errors — is skipped for ``cooldown_s`` and
tried again after it; a 429 with Retry-After cools it for exactly that long. On Redis the state is
two keys per engine with expiries; in the embedded default a dict.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from typing import Protocol

import redis

from coachline.keys import cooldown_key, failures_key


class CooldownStore(Protocol):
    def record_failure(self, engine_url: str, *, cool_for_s: float | None = None) -> bool:
        """Count a failure; True when the engine is now cooling down."""
        ...

    def record_success(self, engine_url: str) -> None: ...

    def cooling(self, engine_urls: Iterable[str]) -> dict[str, float]:
        """The engines among ``engine_urls`` that are cooling down, with the seconds left."""
        ...


class MemoryCooldowns:
    def __init__(self, *, failures: int, cooldown_s: float, window_s: float = 60.0) -> None:
        self._failures = failures
        self._cooldown_s = cooldown_s
        self._window_s = window_s
        self._counts: dict[str, tuple[int, float]] = {}
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def record_failure(self, engine_url: str, *, cool_for_s: float | None = None) -> bool:
        now = time.monotonic()
        with self._lock:
            count, since = self._counts.get(engine_url, (0, now))
            if now - since > self._window_s:
                count, since = 0, now
            count += 1
            self._counts[engine_url] = (count, since)
            duration = (
                cool_for_s if cool_for_s is not None else (self._cooldown_s if count >= self._failures else 0)
            )
            if duration > 0:
                self._until[engine_url] = max(self._until.get(engine_url, 0.0), now + duration)
                self._counts.pop(engine_url, None)
                return True
            return False

    def record_success(self, engine_url: str) -> None:
        with self._lock:
            self._counts.pop(engine_url, None)

    def cooling(self, engine_urls: Iterable[str]) -> dict[str, float]:
        now = time.monotonic()
        with self._lock:
            return {u: self._until[u] - now for u in engine_urls if self._until.get(u, 0.0) > now}


class RedisCooldowns:
    def __init__(self, url: str, *, failures: int, cooldown_s: float, window_s: float = 60.0) -> None:
        self._client = redis.Redis.from_url(url)
        self._failures = failures
        self._cooldown_ms = int(cooldown_s * 1000)
        self._window_s = int(window_s)

    def record_failure(self, engine_url: str, *, cool_for_s: float | None = None) -> bool:
        if cool_for_s is not None and cool_for_s > 0:
            self._client.set(cooldown_key(engine_url), "1", px=max(1, int(cool_for_s * 1000)))
            self._client.delete(failures_key(engine_url))
            return True
        pipe = self._client.pipeline(transaction=True)
        pipe.incr(failures_key(engine_url))
        pipe.expire(failures_key(engine_url), self._window_s)
        count, _ = pipe.execute()
        if int(count) >= self._failures:
            self._client.set(cooldown_key(engine_url), "1", px=self._cooldown_ms)
            self._client.delete(failures_key(engine_url))
            return True
        return False

    def record_success(self, engine_url: str) -> None:
        self._client.delete(failures_key(engine_url))

    def cooling(self, engine_urls: Iterable[str]) -> dict[str, float]:
        urls = list(engine_urls)
        if not urls:
            return {}
        pipe = self._client.pipeline(transaction=False)
        for url in urls:
            pipe.pttl(cooldown_key(url))
        ttls = pipe.execute()
        return {url: ttl / 1000 for url, ttl in zip(urls, ttls, strict=True) if ttl is not None and ttl > 0}


def shortest_wait_s(cooling: dict[str, float]) -> float:
    return min(cooling.values(), default=0.0) if cooling else math.inf
