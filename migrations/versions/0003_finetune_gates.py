"""finetune jobs and cooldowns, gate reports, external metrics

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-20 22:47:18
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL, JSON elsewhere (coachline.db.types.JSONType).
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "external_metrics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_metrics")),
        sa.UniqueConstraint(
            "metric", "source", "measured_at", name="uq_external_metrics_metric_source_measured_at"
        ),
    )
    with op.batch_alter_table("external_metrics", schema=None) as batch_op:
        batch_op.create_index(
            "ix_external_metrics_metric_measured_at", ["metric", "measured_at"], unique=False
        )

    op.create_table(
        "finetune_cooldowns",
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("last_triggered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_job_id", sa.String(length=32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model", name=op.f("pk_finetune_cooldowns")),
    )
    op.create_table(
        "finetune_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=True),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reasons", _JSON, nullable=False),
        sa.Column("level", sa.String(length=16), nullable=True),
        sa.Column("health_score", sa.Double(), nullable=True),
        sa.Column("confidence", sa.Double(), nullable=True),
        sa.Column("urgency", sa.Double(), nullable=True),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("skills", _JSON, nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("estimated_improvement", sa.Double(), nullable=True),
        sa.Column("evidence", _JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_detail", sa.Text(), nullable=True),
        sa.Column("trainer", sa.String(length=32), nullable=True),
        sa.Column("dataset_path", sa.String(length=500), nullable=True),
        sa.Column("dataset_audience", sa.String(length=8), nullable=True),
        sa.Column("dataset_rows", sa.Integer(), nullable=True),
        sa.Column("dataset_excluded", _JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cooldown_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finetune_jobs")),
    )
    with op.batch_alter_table("finetune_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_finetune_jobs_model_created_at", ["model", "created_at"], unique=False)
        batch_op.create_index("ix_finetune_jobs_status", ["status"], unique=False)

    op.create_table(
        "gate_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column("verdict", sa.String(length=8), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("nightly_for", sa.Date(), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=True),
        sa.Column("gates_version", sa.Integer(), nullable=False),
        sa.Column("report", _JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gate_reports")),
        sa.UniqueConstraint("phase", "nightly_for", name="uq_gate_reports_phase_nightly_for"),
    )
    with op.batch_alter_table("gate_reports", schema=None) as batch_op:
        batch_op.create_index("ix_gate_reports_phase_evaluated_at", ["phase", "evaluated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("gate_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_gate_reports_phase_evaluated_at")

    op.drop_table("gate_reports")
    with op.batch_alter_table("finetune_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_finetune_jobs_status")
        batch_op.drop_index("ix_finetune_jobs_model_created_at")

    op.drop_table("finetune_jobs")
    op.drop_table("finetune_cooldowns")
    with op.batch_alter_table("external_metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_external_metrics_metric_measured_at")

    op.drop_table("external_metrics")
