"""A small closed-loop load generator: N clients send chat completions back to back for a while.

Used to measure what a simulator (or any OpenAI-compatible endpoint) sustains, e.g.
``asyncio.run(run_load("http://127.0.0.1:8100/v1", model="sim-fast", concurrency=64))``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    elapsed_s: float
    p50_ms: float
    p99_ms: float

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0


async def run_load(
    base_url: str,
    *,
    model: str,
    concurrency: int = 64,
    duration_s: float = 5.0,
    max_tokens: int = 16,
    stream: bool = False,
) -> LoadResult:
    """Keep ``concurrency`` requests in flight for ``duration_s``; count answers and errors."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration_s

    async def client_loop(worker: int) -> None:
        # One client (one keep-alive connection) per worker: httpx's shared pool costs O(connections)
        # per request and caps a single client process near 200 req/s at 64 connections.
        async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
            await _requests(client, worker)

    async def _requests(client: httpx.AsyncClient, worker: int) -> None:
        nonlocal errors
        i = 0
        while time.perf_counter() < deadline:
            body = {
                "model": model,
                "messages": [{"role": "user", "content": f"load {worker} {i}: how do I keep a habit?"}],
                "max_tokens": max_tokens,
                "stream": stream,
            }
            i += 1
            started = time.perf_counter()
            try:
                response = await client.post("/chat/completions", json=body)
                await response.aread()
            except httpx.HTTPError:
                errors += 1
                continue
            if response.status_code != 200:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client_loop(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000 if ordered else 0.0
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000 if ordered else 0.0
    return LoadResult(requests=len(latencies), errors=errors, elapsed_s=elapsed, p50_ms=p50, p99_ms=p99)
