"""The v1 request and response shapes. Later work extends them; it never breaks them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from coachline.domain import PrivacyLevel


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageIn(_Body):
    role: Literal["system", "user", "assistant"]
    content: StrictStr


class RoutingHints(_Body):
    prefer_local: StrictBool = False
    max_latency_ms: Annotated[int, Field(gt=0, le=3_600_000, strict=True)] | None = None
    privacy_level: PrivacyLevel | None = None


class CreateRequest(_Body):
    messages: Annotated[list[MessageIn], Field(min_length=1)]
    routing_hints: RoutingHints = Field(default_factory=RoutingHints)
    user_id: Annotated[str, Field(max_length=200, strict=True)] | None = None
    max_tokens: Annotated[int, Field(ge=1, strict=True)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2, strict=True)] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class Accepted(BaseModel):
    id: str
    status: str


class RoutingView(BaseModel):
    tier: str
    pool: str | None
    processing_mode: str
    privacy_level: str
    privacy_categories: list[str]
    complexity_score: float
    reasons: list[str]
    decision_ms: float


class ResponseView(BaseModel):
    content: str
    model: str


class MetricsView(BaseModel):
    latency_ms: float
    queue_ms: float
    routing_ms: float
    ttft_ms: float
    engine_ms: float
    tokens_prompt: int
    tokens_generated: int
    cost_usd: float


class AttemptView(BaseModel):
    number: int
    pool: str | None
    processing_mode: str
    model: str
    reason: str
    outcome: str
    error_code: str | None
    started_at: str
    finished_at: str | None


class ErrorView(BaseModel):
    code: str
    message: str


class RequestView(BaseModel):
    id: str
    status: str
    created_at: str
    finished_at: str | None
    routing: RoutingView | None
    response: ResponseView | None
    metrics: MetricsView | None
    attempts: list[AttemptView]
    error: ErrorView | None
