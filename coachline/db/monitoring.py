"""Typed models of monitoring: user feedback, automatic quality scores, metric rollups, alerts.

Imported at the end of ``coachline.db.models`` so ``Base.metadata`` (and so Alembic) sees them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from coachline.db.models import Attempt, Base, Request
from coachline.db.types import utcnow

# Dimension value of a rollup row that aggregates over that dimension, and of an unknown one.
ALL = "*"
NONE = "none"

# The aggregation reads requests by the minute they finished and attempts by the minute they started.
Index("ix_requests_finished_at", Request.finished_at)
Index("ix_attempts_started_at", Attempt.started_at)


class Feedback(Base):
    """A user's rating of one succeeded request; one per request, immutable once given."""

    __tablename__ = "feedback"

    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100))
    rating: Mapped[int]
    # Stored for fine-tuning datasets; never logged and never a metric label.
    correction: Mapped[str | None] = mapped_column(Text)
    clarification_requested: Mapped[bool]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class QualityScore(Base):
    """Automatic scores (0..1) of one response by one evaluator."""

    __tablename__ = "quality_scores"
    __table_args__ = (
        UniqueConstraint("request_id", "evaluator", name="uq_quality_scores_request_id_evaluator"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    evaluator: Mapped[str] = mapped_column(String(100))
    relevance: Mapped[float]
    coherence: Mapped[float]
    completeness: Mapped[float]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class Rollup(Base):
    """Aggregates of one closed window (1m, 1h, 1d) for one tier x pool x model (``*`` = all).

    Counts and sums are exact; the derived rates are stored too so SQL readers need no arithmetic.
    Percentiles are exact for 1-minute windows and read from the merged sketches for longer ones.
    """

    __tablename__ = "rollups"
    __table_args__ = (
        UniqueConstraint(
            "granularity", "window_start", "tier", "pool", "model", name="uq_rollups_window_dims"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    granularity: Mapped[str] = mapped_column(String(4))
    window_start: Mapped[dt.datetime]
    tier: Mapped[str] = mapped_column(String(32))
    pool: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))

    requests: Mapped[int]
    succeeded: Mapped[int]
    errors: Mapped[int]
    fallbacks: Mapped[int]
    local_requests: Mapped[int]
    privacy_violations: Mapped[int]
    error_rate: Mapped[float | None]
    fallback_rate: Mapped[float | None]
    local_processing_rate: Mapped[float | None]

    latency_sum_ms: Mapped[float]
    latency_p50_ms: Mapped[float | None]
    latency_p95_ms: Mapped[float | None]
    latency_p99_ms: Mapped[float | None]
    ttft_p50_ms: Mapped[float | None]
    ttft_p95_ms: Mapped[float | None]
    ttft_p99_ms: Mapped[float | None]
    latency_sketch: Mapped[dict[str, Any]]
    ttft_sketch: Mapped[dict[str, Any]]

    tokens_in: Mapped[int]
    tokens_out: Mapped[int]
    cost_usd: Mapped[float]
    # What the same tokens would have cost on the cloud model; None without cloud prices.
    cloud_equivalent_usd: Mapped[float | None]
    cost_savings_percentage: Mapped[float | None]

    feedback_count: Mapped[int]
    rating_sum: Mapped[int]
    corrections: Mapped[int]
    clarifications: Mapped[int]
    mean_rating: Mapped[float | None]
    correction_rate: Mapped[float | None]
    clarification_rate: Mapped[float | None]
    # evaluator name -> {"n": count, "relevance": sum, "coherence": sum, "completeness": sum}
    evaluator_scores: Mapped[dict[str, Any]]

    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Alert(Base):
    """One episode of one rule for one label set: pending -> firing -> resolved (or inactive).

    ``open_key`` holds the label key while the alert is pending or firing and is NULL afterwards,
    so the unique constraint allows one open alert per rule and label set and any number of old ones.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("rule", "open_key", name="uq_alerts_rule_open_key"),
        Index("ix_alerts_state", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(100))
    labels: Mapped[dict[str, Any]]
    labels_key: Mapped[str] = mapped_column(String(300))
    open_key: Mapped[str | None] = mapped_column(String(300))
    state: Mapped[str] = mapped_column(String(16))  # pending | firing | resolved | inactive
    level: Mapped[str] = mapped_column(String(16))
    escalation_policy: Mapped[str] = mapped_column(String(32))
    channels: Mapped[list[Any]]
    summary: Mapped[str] = mapped_column(Text)
    expression: Mapped[str] = mapped_column(String(200))
    value: Mapped[float | None]
    threshold: Mapped[float]
    rules_version: Mapped[int]
    pending_since: Mapped[dt.datetime]
    fired_at: Mapped[dt.datetime | None]
    last_true_at: Mapped[dt.datetime]
    resolved_at: Mapped[dt.datetime | None]
    last_evaluated_at: Mapped[dt.datetime]
    escalation_level: Mapped[int] = mapped_column(default=0)
    escalated_at: Mapped[dt.datetime | None]
    acknowledged_at: Mapped[dt.datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))


class AlertEvent(Base):
    """The history of an alert: each transition, escalation and acknowledgement."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime]
    kind: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]]


class AlertNotification(Base):
    """The outbox of webhook notifications: written with the transition, delivered after it."""

    __tablename__ = "alert_notifications"
    __table_args__ = (Index("ix_alert_notifications_sent_at", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # firing | resolved | escalated
    url: Mapped[str] = mapped_column(String(500))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]
    failed_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))


class SchedulerRun(Base):
    """The last run of each periodic monitoring task: the ``now`` it ran for and what it found."""

    __tablename__ = "scheduler_runs"

    task: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_now: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime]
    detail: Mapped[dict[str, Any]]
