"""Typed models of requests, routing decisions, attempts and results."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from coachline.db.types import JSONType, UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JSONType, list[Any]: JSONType}


def new_id() -> str:
    return uuid.uuid4().hex


class Request(Base):
    __tablename__ = "requests"
    __table_args__ = (
        UniqueConstraint("tenant", "idempotency_key", name="uq_requests_tenant_idempotency_key"),
        Index("ix_requests_status_updated_at", "status", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant: Mapped[str] = mapped_column(String(100))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    body_sha256: Mapped[str] = mapped_column(String(64))
    messages: Mapped[list[Any]]
    routing_hints: Mapped[dict[str, Any]]
    user_id: Mapped[str | None] = mapped_column(String(200))
    max_tokens: Mapped[int]
    temperature: Mapped[float | None]
    request_metadata: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    routed_at: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    deadline_at: Mapped[dt.datetime]
    # A generate task holds the request until then; a redelivered task waits for it to lapse.
    lease_until: Mapped[dt.datetime | None]

    decision: Mapped[RoutingDecision | None] = relationship(back_populates="request", lazy="raise")
    attempts: Mapped[list[Attempt]] = relationship(
        back_populates="request", order_by="Attempt.number", lazy="raise"
    )
    result: Mapped[Result | None] = relationship(back_populates="request", lazy="raise")

    def finish(self, status: str, *, code: str, message: str, now: dt.datetime) -> None:
        """End the request in a terminal ``status`` with an error code and message."""
        self.status = status
        self.error_code = code
        self.error_message = message
        self.finished_at = now
        self.updated_at = now
        self.lease_until = None


class RoutingDecision(Base):
    __tablename__ = "routing_decisions"

    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True)
    tier: Mapped[str] = mapped_column(String(32))
    pool: Mapped[str | None] = mapped_column(String(64))
    processing_mode: Mapped[str] = mapped_column(String(8))
    privacy_level: Mapped[str] = mapped_column(String(16))
    privacy_categories: Mapped[list[Any]]
    complexity_score: Mapped[float]
    signals: Mapped[dict[str, Any]]
    reasons: Mapped[list[Any]]
    decision_ms: Mapped[float]
    # What the fallback chain may do later: whether any attempt may reach the cloud, and redacted.
    cloud_allowed: Mapped[bool]
    redact_for_cloud: Mapped[bool]
    # The conversation with identifiers replaced, kept only when a private request may reach the
    # cloud: the worker sends this copy, never the original, to a cloud engine.
    redacted_messages: Mapped[list[Any] | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    request: Mapped[Request] = relationship(back_populates="decision", lazy="raise")


class Attempt(Base):
    __tablename__ = "attempts"
    __table_args__ = (UniqueConstraint("request_id", "number", name="uq_attempts_request_id_number"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    pool: Mapped[str | None] = mapped_column(String(64))
    processing_mode: Mapped[str] = mapped_column(String(8))
    engine_url: Mapped[str] = mapped_column(String(500))
    model: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))  # running | succeeded | error
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]

    request: Mapped[Request] = relationship(back_populates="attempts", lazy="raise")


class Result(Base):
    __tablename__ = "results"

    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(200))
    pool: Mapped[str | None] = mapped_column(String(64))
    processing_mode: Mapped[str] = mapped_column(String(8))
    tokens_in: Mapped[int]
    tokens_out: Mapped[int]
    cost_usd: Mapped[float]
    queue_ms: Mapped[float]
    routing_ms: Mapped[float]
    ttft_ms: Mapped[float]
    engine_ms: Mapped[float]
    latency_ms: Mapped[float]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    request: Mapped[Request] = relationship(back_populates="result", lazy="raise")


class UserPreference(Base):
    """A user's own privacy choice; the router applies the strictest of it and everything else."""

    __tablename__ = "user_preferences"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    privacy_level: Mapped[str | None] = mapped_column(String(16))
    local_only: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# Monitoring models live in their own module; importing it here keeps Base.metadata complete.
from coachline.db import lifecycle as _lifecycle  # noqa: E402, F401
from coachline.db import monitoring as _monitoring  # noqa: E402, F401
