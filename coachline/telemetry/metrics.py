"""Prometheus metrics. Names follow the product plan; labels never carry ids or text.

Every role exposes these through ``render_metrics()``; where a role runs several processes,
``PROMETHEUS_MULTIPROC_DIR`` switches prometheus-client to multiprocess mode.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5, 10, 30, 60, 120)
_ROUTING_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1)

REQUESTS_ACCEPTED = Counter("coachline_requests_accepted_total", "Requests accepted by the producer API")
REQUESTS_FINISHED = Counter(
    "coachline_requests_finished_total",
    "Requests that reached a terminal state",
    ["status", "processing_mode"],
)
ROUTING_TIME = Histogram(
    "hybrid_decision_engine_routing_time_seconds",
    "Time the router took to score a request and decide its tier and pool",
    buckets=_ROUTING_BUCKETS_S,
)
ROUTING_DECISIONS = Counter(
    "hybrid_decision_engine_decisions_total", "Routing decisions", ["tier", "pool", "privacy_level"]
)
SCORING_FAILURES = Counter(
    "hybrid_decision_engine_scoring_failures_total", "Scoring errors; the request was treated as sensitive"
)
LOCAL_INFERENCE_LATENCY = Histogram(
    "local_llm_inference_latency_seconds",
    "Engine time of successful local generations",
    ["pool", "model"],
    buckets=_LATENCY_BUCKETS_S,
)
CLOUD_INFERENCE_LATENCY = Histogram(
    "cloud_llm_inference_latency_seconds",
    "Engine time of successful cloud generations",
    ["model"],
    buckets=_LATENCY_BUCKETS_S,
)
REQUEST_LATENCY = Histogram(
    "coachline_request_latency_seconds",
    "End-to-end latency from acceptance to the stored result",
    ["tier", "processing_mode"],
    buckets=_LATENCY_BUCKETS_S,
)
ENGINE_ERRORS = Counter(
    "coachline_engine_errors_total", "Failed engine calls", ["processing_mode", "pool", "code"]
)
TOKENS = Counter("coachline_tokens_total", "Tokens processed", ["direction", "processing_mode"])
COST_USD = Counter("coachline_cost_usd_total", "Cost of generations in US dollars", ["processing_mode"])
PUBLISH_FAILURES = Counter(
    "coachline_publish_failures_total", "Task messages that could not be published", ["task"]
)
REQUEUED = Counter("coachline_requeued_total", "Requests the reaper published again", ["stage"])


def render_metrics() -> tuple[bytes, str]:
    """The Prometheus text of this role (all its processes in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# Router (policy, fallback, cooldown).
PRIVACY_DETECTIONS = Counter(
    "hybrid_decision_engine_privacy_detections_total",
    "Privacy detections by category (counts only)",
    ["category"],
)
FALLBACKS = Counter(
    "coachline_fallbacks_total",
    "Attempts moved to another engine or pool after a failure",
    ["from_mode", "to_mode"],
)
ENGINE_COOLDOWNS = Counter(
    "coachline_engine_cooldowns_total", "Engines put in cooldown after repeated failures", ["processing_mode"]
)
SPILLS = Counter(
    "coachline_spills_total", "Requests sent to the cloud because no local pool met their latency budget"
)


# GPU workers: loading the model into an engine (`coachline worker gpu`).
_ENGINE_LOAD_BUCKETS_S = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800)
ENGINE_LOAD_TIME = Histogram(
    "coachline_engine_load_seconds",
    "Time from starting (or attaching to) an engine until GET /health answered 200",
    ["pool", "model"],
    buckets=_ENGINE_LOAD_BUCKETS_S,
)
ENGINE_LOAD_LAST = Gauge(
    "coachline_engine_load_last_seconds",
    "Load time of the most recent engine start",
    ["pool", "model"],
    multiprocess_mode="mostrecent",
)
ENGINE_LOADS = Counter(
    "coachline_engine_loads_total", "Engine starts by outcome (success, failure)", ["pool", "model", "outcome"]
)
LOAD_SNAPSHOT_FAILURES = Counter(
    "coachline_load_snapshot_failures_total",
    "Pool-load snapshot steps that failed (stage: scrape, queue_depth, publish)",
    ["pool", "stage"],
)
