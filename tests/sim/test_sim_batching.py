"""Continuous batching seen from outside: the batch cap, waiting, TTFT under queueing, ITL by batch size."""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import openai

from tests.sim.conftest import StartSim
from tests.sim.simkit import client, metric, scrape, user, value
from workers.sim import SimHandle


def _stream_timings(openai_client: openai.OpenAI, prompt: str) -> tuple[float, list[float]]:
    """(time to first token, gaps between later tokens), measured by the openai client.

    Share one client between threads: building one costs tens of ms, which would skew timings.
    """
    started = time.perf_counter()
    arrivals: list[float] = []
    stream = openai_client.chat.completions.create(
        model="m",
        messages=user(prompt),
        stream=True,
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter())
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    return arrivals[0] - started, gaps


class _Poller:
    """Scrapes /metrics in the background and keeps the highest running/waiting seen."""

    def __init__(self, handle: SimHandle) -> None:
        self.handle = handle
        self.max_running = 0.0
        self.max_waiting = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            samples = scrape(self.handle)
            self.max_running = max(self.max_running, value(samples, self.handle, "vllm:num_requests_running"))
            self.max_waiting = max(self.max_waiting, value(samples, self.handle, "vllm:num_requests_waiting"))
            time.sleep(0.005)

    def __enter__(self) -> _Poller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def test_at_most_max_num_seqs_run_and_later_requests_wait(start_sim: StartSim) -> None:
    # Each request: 40 ms to the first token, then 9 tokens 10 ms apart => ~130 ms in the batch.
    sim = start_sim(
        model="m",
        max_num_seqs=2,
        ttft_base_ms=40,
        itl_base_ms=10,
        itl_batch_factor=0.0,
        output_tokens_min=10,
        output_tokens_max=10,
    )
    shared = client(sim)
    with _Poller(sim) as poller, ThreadPoolExecutor(6) as pool:
        timings = list(pool.map(lambda i: _stream_timings(shared, f"request {i}"), range(6)))

    assert poller.max_running == 2  # the batch filled, and never beyond max_num_seqs
    assert poller.max_waiting > 0
    ttfts = sorted(t for t, _ in timings)
    # Three waves of two: the first wave starts at once, each later wave waits ~130 ms more.
    assert ttfts[1] < 0.12
    assert ttfts[2] > ttfts[1] + 0.08
    assert ttfts[4] > ttfts[3] + 0.08
    assert ttfts[5] > 0.25
    # Everything drained.
    assert metric(sim, "vllm:num_requests_running") == 0
    assert metric(sim, "vllm:num_requests_waiting") == 0


def test_inter_token_latency_grows_with_the_running_batch(start_sim: StartSim) -> None:
    # ITL = 10 ms * (1 + 0.5 * (running - 1)): 10 ms alone, 25 ms with four running.
    sim = start_sim(
        model="m",
        max_num_seqs=8,
        ttft_base_ms=5,
        itl_base_ms=10,
        itl_batch_factor=0.5,
        output_tokens_min=15,
        output_tokens_max=15,
    )
    shared = client(sim)
    _, alone = _stream_timings(shared, "alone")
    with ThreadPoolExecutor(4) as pool:
        batched = list(pool.map(lambda i: _stream_timings(shared, f"batched {i}"), range(4)))

    alone_itl = statistics.mean(alone)
    # Tokens in the middle of the answers, while all four were surely running.
    batched_itl = statistics.mean(g for _, gaps in batched for g in gaps[3:-3])
    assert 0.007 < alone_itl < 0.016
    assert 0.019 < batched_itl < 0.035
    assert batched_itl > 1.8 * alone_itl


def test_kv_cache_usage_follows_the_running_sequences(start_sim: StartSim) -> None:
    sim = start_sim(
        model="m",
        max_num_seqs=4,
        ttft_base_ms=0,
        itl_base_ms=20,
        output_tokens_min=20,
        output_tokens_max=20,
        max_model_len=512,
        kv_capacity_tokens=1000,
    )
    prompt = "p" * 400  # ~106 tokens with the template
    seen: list[tuple[float, float]] = []
    shared = client(sim)
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(_stream_timings, shared, prompt + str(i)) for i in range(2)]
        time.sleep(0.15)
        samples = scrape(sim)
        seen.append(
            (
                value(samples, sim, "vllm:kv_cache_usage_perc"),
                value(samples, sim, "vllm:gpu_cache_usage_perc"),
            )
        )
        for future in futures:
            future.result()

    usage, legacy = seen[0]
    assert usage == legacy
    # Two prompts (~212 tokens) plus up to 40 generated tokens, out of 1000.
    assert 0.2 < usage < 0.26
    assert metric(sim, "vllm:kv_cache_usage_perc") == 0.0
