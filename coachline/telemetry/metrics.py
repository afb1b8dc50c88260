"""Prometheus metrics. Names follow the product plan; labels never carry ids or text.

Every role exposes these through ``render_metrics()``; where a role runs several processes,
``PROMETHEUS_MULTIPROC_DIR`` switches prometheus-client to multiprocess mode.
"""

from __future__ import annotations

import os
from typing import Any

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
    "coachline_engine_loads_total",
    "Engine starts by outcome (success, failure)",
    ["pool", "model", "outcome"],
)
LOAD_SNAPSHOT_FAILURES = Counter(
    "coachline_load_snapshot_failures_total",
    "Pool-load snapshot steps that failed (stage: scrape, queue_depth, publish)",
    ["pool", "stage"],
)


# Monitoring (scheduler/aggregation.py, scheduler/alerts/, scheduler/quality.py, feedback API).
TIME_TO_FIRST_TOKEN = Histogram(
    "llm_time_to_first_token_seconds",
    "Time to the first streamed token of successful generations",
    ["processing_mode", "pool", "model"],
    buckets=_LATENCY_BUCKETS_S,
)
RESPONSE_QUALITY = Histogram(
    "response_quality_score",
    "User ratings of responses (1..5), observed when feedback arrives",
    ["pool", "model"],
    buckets=(1, 2, 3, 4, 5),
)
FEEDBACK = Counter("coachline_feedback_total", "Feedback received", ["correction", "clarification_requested"])
EVALUATOR_SCORE = Histogram(
    "coachline_evaluator_score",
    "Automatic quality scores (0..1) by evaluator and dimension",
    ["evaluator", "dimension"],
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)
EVALUATOR_FAILURES = Counter(
    "coachline_evaluator_failures_total", "Automatic quality evaluations that failed", ["evaluator", "reason"]
)
# Gauges the scheduler sets from the rollups it stores; `window` is the rollup granularity.
LOCAL_PROCESSING_RATE = Gauge(
    "local_processing_rate",
    "Share of succeeded requests served by local pools, in the last closed window",
    ["window"],
    multiprocess_mode="mostrecent",
)
COST_SAVINGS = Gauge(
    "cost_savings_percentage",
    "Cost saved against an all-cloud run of the same tokens, in percent, in the last closed window",
    ["window"],
    multiprocess_mode="mostrecent",
)
FALLBACK_RATE = Gauge(
    "coachline_fallback_rate",
    "Share of finished requests that needed more than one attempt or changed processing mode",
    ["window"],
    multiprocess_mode="mostrecent",
)
PRIVACY_VIOLATIONS = Gauge(
    "coachline_privacy_violations",
    "Sensitive requests with a cloud attempt, in the last closed window (should always be 0)",
    ["window"],
    multiprocess_mode="mostrecent",
)
MODEL_HEALTH_LEVEL = Gauge(
    "coachline_model_health_level",
    "Model health level: 0 EXCELLENT, 1 HEALTHY, 2 ATTENTION, 3 WARNING, 4 CRITICAL",
    ["model"],
    multiprocess_mode="mostrecent",
)
MODEL_HEALTH_SCORE = Gauge(
    "coachline_model_health_score", "Model health score (0..1)", ["model"], multiprocess_mode="mostrecent"
)
QUEUE_DEPTH = Gauge(
    "coachline_queue_depth", "Messages waiting in each queue", ["queue"], multiprocess_mode="mostrecent"
)
ALERTS_OPEN = Gauge(
    "coachline_alerts_open",
    "Open alerts by state and level",
    ["state", "level"],
    multiprocess_mode="mostrecent",
)
ALERT_TRANSITIONS = Counter(
    "coachline_alert_transitions_total", "Alert state changes and escalations", ["rule", "kind"]
)
ALERT_NOTIFICATIONS = Counter(
    "coachline_alert_notifications_total", "Webhook notifications by outcome", ["outcome"]
)
SCHEDULER_RUN_TIME = Histogram(
    "coachline_scheduler_run_seconds",
    "Duration of the periodic monitoring tasks",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
SCHEDULER_FAILURES = Counter(
    "coachline_scheduler_failures_total", "Periodic monitoring tasks that raised", ["task"]
)


def metrics_registry() -> CollectorRegistry:
    """The registry to serve: every process's values in multiprocess mode, else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


def start_metrics_server(port: int, host: str = "0.0.0.0") -> Any:
    """Serve this role's /metrics on ``port`` from a daemon thread (workers and beat); returns the
    server, whose ``shutdown()`` stops it."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=host, registry=metrics_registry())
    return server


# Model lifecycle: fine-tune trigger and training (scheduler/finetune/), quality gates (scheduler/gates/).
FINETUNE_EVALUATIONS = Counter(
    "coachline_finetune_evaluations_total",
    "Fine-tune trigger evaluations by decision (triggered, cooldown, below_threshold, healthy, no_data...)",
    ["decision"],
)
FINETUNE_CONFIDENCE = Gauge(
    "coachline_finetune_confidence",
    "Confidence (0..1) of the last fine-tune evaluation of each model",
    ["model"],
    multiprocess_mode="mostrecent",
)
FINETUNE_URGENCY = Gauge(
    "coachline_finetune_urgency",
    "Urgency (0..1) of the last fine-tune evaluation of each model",
    ["model"],
    multiprocess_mode="mostrecent",
)
FINETUNE_JOBS = Counter(
    "coachline_finetune_jobs_total", "Fine-tune jobs created", ["model", "method", "trigger"]
)
FINETUNE_TRAINING = Counter(
    "coachline_finetune_training_total",
    "Fine-tune jobs handled by a trainer, by outcome",
    ["trainer", "status"],
)
FINETUNE_DATASET_CONVERSATIONS = Counter(
    "coachline_finetune_dataset_conversations_total",
    "Conversations considered for fine-tuning datasets: included (local, redacted) or excluded and why",
    ["audience", "outcome"],
)
GATE_EVALUATIONS = Counter(
    "coachline_gate_evaluations_total", "Quality-gate evaluations by phase and verdict", ["phase", "verdict"]
)
GATE_VERDICT = Gauge(
    "coachline_gate_verdict",
    "Verdict of the last evaluation of each phase: 0 GO, 1 NO-GO, 2 PAUSE",
    ["phase"],
    multiprocess_mode="mostrecent",
)
EXTERNAL_METRICS = Counter("coachline_external_metrics_total", "External metric values received", ["metric"])
REAPED_ATTEMPTS = Counter(
    "coachline_reaped_attempts_total", "Attempts left running by a lost worker that the reaper closed"
)
