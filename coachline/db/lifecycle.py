"""Typed models of the model lifecycle: fine-tune jobs and the per-model cooldown that guards them,
gate reports, and the external metrics (business, mobile, audits) the gates read.

Imported at the end of ``coachline.db.models`` so ``Base.metadata`` (and so Alembic) sees them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from coachline.db.models import Base, new_id


class FineTuneJob(Base):
    """One fine-tuning request for one model: why it was asked for, what it targets, where its
    dataset is, and how far the trainer got (queued -> running -> exported | submitted | succeeded
    | failed)."""

    __tablename__ = "finetune_jobs"
    __table_args__ = (
        Index("ix_finetune_jobs_model_created_at", "model", "created_at"),
        Index("ix_finetune_jobs_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    model: Mapped[str] = mapped_column(String(200))
    trigger: Mapped[str] = mapped_column(String(16))  # auto | manual
    requested_by: Mapped[str | None] = mapped_column(String(200))
    # A manual trigger that bypassed the cooldown.
    forced: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(Text)
    reasons: Mapped[list[Any]]
    level: Mapped[str | None] = mapped_column(String(16))
    health_score: Mapped[float | None]
    confidence: Mapped[float | None]
    urgency: Mapped[float | None]
    method: Mapped[str] = mapped_column(String(32))  # text_to_lora | transformer2
    skills: Mapped[list[Any]]
    prompt: Mapped[str] = mapped_column(Text)
    estimated_improvement: Mapped[float | None]
    # The assessment the trigger decided on (levels per slice, sample counts...): plain JSON.
    evidence: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    status_detail: Mapped[str | None] = mapped_column(Text)
    trainer: Mapped[str | None] = mapped_column(String(32))
    dataset_path: Mapped[str | None] = mapped_column(String(500))
    dataset_audience: Mapped[str | None] = mapped_column(String(8))  # local | cloud
    dataset_rows: Mapped[int | None]
    # Conversations left out of the dataset, by reason (sensitive, local_only, ...).
    dataset_excluded: Mapped[dict[str, Any] | None]
    # The `now` the trigger ran for (so a redelivered export selects the same conversations).
    created_at: Mapped[dt.datetime]
    cooldown_until: Mapped[dt.datetime]
    # The training task holds the job until then; a redelivered message waits for it to lapse.
    lease_until: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    runs: Mapped[int] = mapped_column(default=0)


class FineTuneCooldown(Base):
    """One row per model: when it was last triggered. The trigger claims the row with a conditional
    UPDATE, so two beats (or two evaluations) can never both trigger within one cooldown."""

    __tablename__ = "finetune_cooldowns"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_triggered_at: Mapped[dt.datetime | None]
    last_job_id: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime]


class GateReport(Base):
    """One evaluation of one phase's quality gates: the verdict, and every gate with its value.

    ``nightly_for`` is the UTC date of a nightly run and NULL for on-demand ones, so the unique
    constraint allows one nightly report per phase and day and any number of on-demand ones.
    """

    __tablename__ = "gate_reports"
    __table_args__ = (
        UniqueConstraint("phase", "nightly_for", name="uq_gate_reports_phase_nightly_for"),
        Index("ix_gate_reports_phase_evaluated_at", "phase", "evaluated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    phase: Mapped[str] = mapped_column(String(32))
    verdict: Mapped[str] = mapped_column(String(8))  # GO | NO-GO | PAUSE
    outcome: Mapped[str] = mapped_column(String(32))  # the decision matrix's row
    reason: Mapped[str] = mapped_column(Text)
    evaluated_at: Mapped[dt.datetime]
    window_start: Mapped[dt.datetime]
    window_end: Mapped[dt.datetime]
    trigger: Mapped[str] = mapped_column(String(16))  # nightly | manual | api
    nightly_for: Mapped[dt.date | None]
    requested_by: Mapped[str | None] = mapped_column(String(200))
    gates_version: Mapped[int]
    report: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]


class ExternalMetric(Base):
    """A value the cluster cannot measure (battery impact, revenue, an audit's result), as posted
    to ``POST /v1/metrics/external``. The gates read the newest one measured before their ``now``."""

    __tablename__ = "external_metrics"
    __table_args__ = (
        UniqueConstraint(
            "metric", "source", "measured_at", name="uq_external_metrics_metric_source_measured_at"
        ),
        Index("ix_external_metrics_metric_measured_at", "metric", "measured_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    metric: Mapped[str] = mapped_column(String(100))
    value: Mapped[float]
    source: Mapped[str] = mapped_column(String(200))
    measured_at: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime]
    received_by: Mapped[str] = mapped_column(String(200))
