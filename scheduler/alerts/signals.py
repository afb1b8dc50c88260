"""The metrics alert rules can test, computed from a window of merged rollups.

Each signal returns ``(value, samples)``; ``value`` None means no data. A signal coachline does not
measure (memory, GPU utilisation: they come from host and engine exporters) has no ``compute`` and
always reports no data with its reason -- it is never invented.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from scheduler.health import HealthInput, HealthLevel, assess_health
from scheduler.rollup import Acc


@dataclass(frozen=True)
class WindowData:
    current: Acc
    window_s: float
    baseline: Acc | None = None
    baseline_s: float | None = None


Reading = tuple[float | None, int]


@dataclass(frozen=True)
class Signal:
    name: str
    unit: str  # ms | ratio | factor | percent | rating | usd | count | level
    description: str
    compute: Callable[[WindowData], Reading] | None
    needs_baseline: bool = False
    unmeasured_reason: str = ""


def _latency(q: float) -> Callable[[WindowData], Reading]:
    return lambda w: (w.current.latency_quantile_ms(q), w.current.latency_samples)


def _ttft(q: float) -> Callable[[WindowData], Reading]:
    return lambda w: (w.current.ttft_quantile_ms(q), w.current.ttft_sketch.count)


def _judge_score(w: WindowData) -> Reading:
    means = [w.current.evaluator_mean(d, prefix="judge") for d in ("relevance", "coherence", "completeness")]
    n = means[0][1]
    if not n:
        return None, 0
    return sum(m for m, _ in means if m is not None) / len(means), n


def _daily_cost(w: WindowData) -> Reading:
    return w.current.cost_usd * 86400 / w.window_s, w.current.requests


def _cost_spike(w: WindowData) -> Reading:
    if w.baseline is None or not w.baseline_s or w.baseline.cost_usd <= 0:
        return None, 0
    rate_now = w.current.cost_usd / w.window_s
    rate_before = w.baseline.cost_usd / w.baseline_s
    return rate_now / rate_before, w.current.requests


def _health_level(w: WindowData) -> Reading:
    report = assess_health(HealthInput.from_rollup(w.current))
    return (None if report.level is None else float(report.level)), w.current.requests


_SIGNALS = [
    Signal("latency_p50_ms", "ms", "median end-to-end latency", _latency(0.50)),
    Signal("latency_p95_ms", "ms", "95th percentile end-to-end latency", _latency(0.95)),
    Signal("latency_p99_ms", "ms", "99th percentile end-to-end latency", _latency(0.99)),
    Signal(
        "latency_mean_ms",
        "ms",
        "mean end-to-end latency",
        lambda w: (w.current.latency_mean_ms, w.current.latency_samples),
    ),
    Signal("ttft_p95_ms", "ms", "95th percentile time to first token", _ttft(0.95)),
    Signal(
        "error_rate",
        "ratio",
        "failed or expired / finished requests",
        lambda w: (w.current.error_rate, w.current.requests),
    ),
    Signal(
        "fallback_rate",
        "ratio",
        "requests with a retry or a processing-mode change / finished requests",
        lambda w: (w.current.fallback_rate, w.current.requests),
    ),
    Signal(
        "local_processing_rate",
        "ratio",
        "requests served locally / succeeded requests",
        lambda w: (w.current.local_processing_rate, w.current.succeeded),
    ),
    Signal(
        "cost_savings_percentage",
        "percent",
        "saving against the same tokens at cloud prices",
        lambda w: (w.current.cost_savings_percentage, w.current.succeeded),
    ),
    Signal(
        "mean_rating",
        "rating",
        "mean user rating (1..5) of feedback given in the window",
        lambda w: (w.current.mean_rating, w.current.feedback_count),
    ),
    Signal(
        "correction_rate",
        "ratio",
        "feedback with a correction / feedback",
        lambda w: (w.current.correction_rate, w.current.feedback_count),
    ),
    Signal(
        "clarification_rate",
        "ratio",
        "feedback asking for clarification / feedback",
        lambda w: (w.current.clarification_rate, w.current.feedback_count),
    ),
    Signal("judge_score", "ratio", "mean judge-model score (0..1)", _judge_score),
    Signal(
        "privacy_violations",
        "count",
        "sensitive requests with a cloud attempt",
        lambda w: (float(w.current.privacy_violations), 1),
    ),
    Signal("daily_cost_usd", "usd", "cost in the window, projected to a day", _daily_cost),
    Signal(
        "cost_spike_ratio",
        "factor",
        "cost rate in the window / cost rate in the baseline before it",
        _cost_spike,
        needs_baseline=True,
    ),
    Signal("health_level", "level", "model health level (0 EXCELLENT .. 4 CRITICAL)", _health_level),
    Signal(
        "memory_utilization",
        "ratio",
        "host or GPU memory in use",
        None,
        unmeasured_reason="not measured by coachline (needs a host or DCGM exporter)",
    ),
    Signal(
        "gpu_utilization",
        "ratio",
        "GPU utilisation",
        None,
        unmeasured_reason="not measured by coachline (needs a DCGM exporter)",
    ),
]
SIGNALS: dict[str, Signal] = {s.name: s for s in _SIGNALS}


def format_value(metric: str, value: float | None) -> str:
    """A value as people read it: ``12.3 s``, ``4.2 %``, ``3.80``."""
    if value is None:
        return "no data"
    unit = SIGNALS[metric].unit
    if unit == "ms":
        return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"
    if unit == "ratio":
        return f"{value * 100:.1f} %"
    if unit == "percent":
        return f"{value:.1f} %"
    if unit == "usd":
        return f"${value:,.2f}"
    if unit == "level":
        return HealthLevel(int(value)).name
    if unit == "factor":
        return f"{value:.2f}x"
    if unit == "count":
        return f"{value:.0f}"
    return f"{value:.2f}"
