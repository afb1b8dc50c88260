"""vLLM's Prometheus metrics for one simulated engine, in its own CollectorRegistry.

Names, label names (``model_name``, ``engine``) and histogram buckets follow vLLM's V1 metrics, so
dashboards, KEDA triggers and coachline's pool-load reader work unchanged against the simulator.

The values live in plain Python numbers updated from the event loop and are turned into metric
families only when /metrics is scraped. That keeps prometheus_client's locks off the hot path and
keeps the simulator out of prometheus_client's multiprocess files when the host process (a
coachline worker) runs in multiprocess mode.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from workers.sim.engine import Seq

if TYPE_CHECKING:
    from workers.sim.engine import Engine

# Bucket bounds as in vLLM's metrics (the same lists the llm-d inference simulator mirrors).
TTFT_BUCKETS_S: tuple[float, ...] = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
    160.0,
    640.0,
    2560.0,
)
TPOT_BUCKETS_S: tuple[float, ...] = (
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
)
REQUEST_LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.3,
    0.5,
    0.8,
    1.0,
    1.5,
    2.0,
    2.5,
    5.0,
    10.0,
    15.0,
    20.0,
    30.0,
    40.0,
    50.0,
    60.0,
    120.0,
    240.0,
    480.0,
    960.0,
    1920.0,
    7680.0,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Histogram:
    __slots__ = ("bounds", "count", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last slot is +Inf
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        # Prometheus buckets are "less or equal": the first bound >= value.
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def family(self, name: str, doc: str, labels: list[str], values: list[str]) -> HistogramMetricFamily:
        cumulative = 0
        buckets: list[tuple[str, float]] = []
        for bound, n in zip(self.bounds, self.counts, strict=False):
            cumulative += n
            buckets.append((repr(float(bound)), cumulative))
        buckets.append(("+Inf", self.count))
        family = HistogramMetricFamily(name, doc, labels=labels)
        family.add_metric(values, buckets, self.total)
        return family


class SimMetrics(Collector):
    """The engine's counters and histograms; an EngineObserver and a prometheus Collector."""

    def __init__(self, model_name: str) -> None:
        self._label_names = ["model_name", "engine"]
        self._label_values = [model_name, "0"]
        self._engine: Engine | None = None
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.success: dict[str, int] = {}
        self.ttft = _Histogram(TTFT_BUCKETS_S)
        self.e2e = _Histogram(REQUEST_LATENCY_BUCKETS_S)
        self.queue_time = _Histogram(REQUEST_LATENCY_BUCKETS_S)
        self.tpot = _Histogram(TPOT_BUCKETS_S)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def bind(self, engine: Engine) -> None:
        """Read the running/waiting/KV gauges from ``engine`` at scrape time."""
        self._engine = engine

    def render(self) -> bytes:
        """The Prometheus text exposition of this engine's metrics."""
        return generate_latest(self.registry)

    # --- EngineObserver ---------------------------------------------------------------------

    def on_admitted(self, seq: Seq) -> None:
        self.prompt_tokens += seq.prompt_tokens
        self.queue_time.observe(seq.admitted_s - seq.arrival_s)

    def on_first_token(self, seq: Seq) -> None:
        self.ttft.observe(seq.first_token_s - seq.arrival_s)

    def on_generated(self, tokens: int) -> None:
        self.generation_tokens += tokens

    def on_finished(self, seq: Seq) -> None:
        self.e2e.observe(seq.finished_s - seq.arrival_s)
        if seq.output_tokens > 1:
            self.tpot.observe((seq.finished_s - seq.first_token_s) / (seq.output_tokens - 1))

    def count_success(self, finished_reason: str) -> None:
        """Count a request answered to the end (vLLM's request_success_total by finished_reason)."""
        self.success[finished_reason] = self.success.get(finished_reason, 0) + 1

    # --- Collector --------------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        names, values = self._label_names, self._label_values
        engine = self._engine
        running = engine.num_running if engine else 0
        waiting = engine.num_waiting if engine else 0
        kv_usage = engine.kv_usage if engine else 0.0

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=names)
            family.add_metric(values, value)
            return family

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            family = CounterMetricFamily(name, doc, labels=names)
            family.add_metric(values, value)
            return family

        yield gauge("vllm:num_requests_running", "Number of requests in model execution batches.", running)
        yield gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", waiting)
        yield gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", kv_usage)
        # The name before vLLM 0.10; dashboards and autoscalers written for it still read it.
        yield gauge("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.", kv_usage)
        yield counter("vllm:prompt_tokens", "Number of prefill tokens processed.", self.prompt_tokens)
        yield counter(
            "vllm:generation_tokens", "Number of generation tokens processed.", self.generation_tokens
        )
        success = CounterMetricFamily(
            "vllm:request_success",
            "Count of successfully processed requests.",
            labels=[*names, "finished_reason"],
        )
        for reason in ("stop", "length"):
            success.add_metric([*values, reason], self.success.get(reason, 0))
        yield success
        yield self.ttft.family(
            "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", names, values
        )
        yield self.e2e.family(
            "vllm:e2e_request_latency_seconds",
            "Histogram of end to end request latency in seconds.",
            names,
            values,
        )
        yield self.queue_time.family(
            "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.",
            names,
            values,
        )
        yield self.tpot.family(
            "vllm:time_per_output_token_seconds",
            "Histogram of time per output token in seconds.",
            names,
            values,
        )
