"""Synthetic traffic: rows written the way the route and generate steps write them, with the
latencies, failures and attempts a test chooses, at the times it chooses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from coachline.db.models import Attempt, Request, Result, RoutingDecision
from coachline.db.monitoring import Feedback

FAST_MODEL = "mistralai/Mistral-7B-Instruct-v0.3"
STANDARD_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
CLOUD_MODEL = "gpt-4o-mini"
PROMPT = "How can I keep a calmer morning routine before work?"
ANSWER = (
    "Keep your morning routine calm: wake at the same time, leave your phone aside for the first "
    "half hour, and plan the work day the evening before so the morning stays simple and calm."
)


@dataclass(frozen=True)
class Try:
    """One attempt: where it ran and how it ended."""

    pool: str | None = "fast"
    model: str = FAST_MODEL
    outcome: str = "succeeded"
    processing_mode: str = "local"


def store_request(
    session: Session,
    *,
    finished_at: dt.datetime,
    latency_ms: float = 1000.0,
    ttft_ms: float = 50.0,
    status: str = "succeeded",
    tier: str = "LOCAL_FAST",
    decided_pool: str | None = "fast",
    decided_mode: str = "local",
    privacy_level: str = "public",
    attempts: Sequence[Try] = (Try(),),
    tokens_in: int = 100,
    tokens_out: int = 200,
    cost_usd: float = 0.0001,
    tenant: str = "acme",
    prompt: str = PROMPT,
    answer: str = ANSWER,
    rating: int | None = None,
    correction: str | None = None,
    clarification: bool = False,
    feedback_at: dt.datetime | None = None,
) -> str:
    """Insert one finished request with its decision, attempts, result and optional feedback."""
    created = finished_at - dt.timedelta(milliseconds=latency_ms)
    request = Request(
        tenant=tenant,
        body_sha256="0" * 64,
        messages=[{"role": "user", "content": prompt}],
        routing_hints={},
        max_tokens=256,
        temperature=None,
        request_metadata={},
        status=status,
        error_code=None if status == "succeeded" else "engine_error",
        error_message=None if status == "succeeded" else "the engine failed (500)",
        created_at=created,
        updated_at=finished_at,
        finished_at=finished_at,
        deadline_at=created + dt.timedelta(minutes=5),
    )
    session.add(request)
    session.flush()
    session.add(
        RoutingDecision(
            request_id=request.id,
            tier=tier,
            pool=decided_pool,
            processing_mode=decided_mode,
            privacy_level=privacy_level,
            privacy_categories=[],
            complexity_score=0.1,
            signals={},
            reasons=["test traffic"],
            decision_ms=0.2,
            cloud_allowed=privacy_level == "public",
            redact_for_cloud=False,
            redacted_messages=None,
            created_at=created,
        )
    )
    for number, attempt in enumerate(attempts, start=1):
        session.add(
            Attempt(
                request_id=request.id,
                number=number,
                pool=attempt.pool,
                processing_mode=attempt.processing_mode,
                engine_url="http://engine.test/v1",
                model=attempt.model,
                reason="initial" if number == 1 else "retry",
                outcome=attempt.outcome,
                error_code=None if attempt.outcome == "succeeded" else "engine_error",
                started_at=created + dt.timedelta(milliseconds=number),
                finished_at=finished_at,
            )
        )
    if status == "succeeded":
        served = attempts[-1]
        session.add(
            Result(
                request_id=request.id,
                content=answer,
                model=served.model,
                pool=served.pool,
                processing_mode=served.processing_mode,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                cost_usd=cost_usd,
                queue_ms=1.0,
                routing_ms=0.2,
                ttft_ms=ttft_ms,
                engine_ms=latency_ms - 2,
                latency_ms=latency_ms,
                created_at=finished_at,
            )
        )
    if rating is not None:
        session.add(
            Feedback(
                request_id=request.id,
                tenant=tenant,
                rating=rating,
                correction=correction,
                clarification_requested=clarification,
                created_at=feedback_at or finished_at,
            )
        )
    session.flush()
    return request.id


def minute(start: dt.datetime, index: int, second: float = 30.0) -> dt.datetime:
    """A time ``second`` seconds into the ``index``-th minute after ``start``."""
    return start + dt.timedelta(minutes=index, seconds=second)
