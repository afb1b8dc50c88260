"""The training set of a fine-tune job: low-rated and corrected conversations of one model, as
JSONL in the OpenAI fine-tuning chat format (one ``{"messages": [...]}`` per line).

The assistant turn is the user's correction when there is one (the target to learn). A low-rated
answer without a correction is kept with ``"weight": 0`` -- OpenAI's chat format for "context, do
not train on it": the weak area is shown without teaching the weak answer.

Privacy follows the audience, the trainer that receives the file:

- a **local** trainer (runs inside the cluster) receives every conversation as stored;
- a **cloud** trainer never receives a sensitive conversation, nor one whose routing decision kept
  it off the cloud (tenant or user "local only", private without the tenant's consent); what it
  does receive is redacted whole -- system, user and assistant turns, the correction included,
  since a user's correction or the model's answer can carry identifiers the request did not;
- a conversation without a stored routing decision counts as sensitive (fail closed).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from coachline.db.models import Request, Result, RoutingDecision
from coachline.db.monitoring import Feedback
from coachline.domain import PrivacyLevel

Redact = Callable[[Sequence[dict[str, Any]]], list[dict[str, Any]]]
_ROLES = ("system", "user", "assistant")


class Audience(enum.StrEnum):
    LOCAL = "local"
    CLOUD = "cloud"


@dataclass(frozen=True)
class Candidate:
    """One rated conversation of the model, as stored."""

    request_id: str
    messages: list[dict[str, Any]]
    response: str
    rating: int
    correction: str | None
    privacy_level: str | None  # None: no routing decision stored
    cloud_allowed: bool


@dataclass(frozen=True)
class Example:
    request_id: str
    line: dict[str, Any]
    corrected: bool


@dataclass
class Dataset:
    audience: Audience
    examples: list[Example] = field(default_factory=list)
    excluded: Counter[str] = field(default_factory=Counter)

    @property
    def corrected(self) -> int:
        return sum(1 for e in self.examples if e.corrected)

    def jsonl(self) -> str:
        return "".join(json.dumps(e.line, ensure_ascii=False) + "\n" for e in self.examples)


def conversation(candidate: Candidate) -> list[dict[str, Any]]:
    """The stored messages (system, user, assistant turns only) and the assistant target."""
    messages = [
        {"role": m["role"], "content": str(m.get("content", ""))}
        for m in candidate.messages
        if isinstance(m, dict) and m.get("role") in _ROLES
    ]
    if candidate.correction is not None:
        messages.append({"role": "assistant", "content": candidate.correction})
    else:
        messages.append({"role": "assistant", "content": candidate.response, "weight": 0})
    return messages


def to_example(candidate: Candidate, *, audience: Audience, redact: Redact) -> Example | str:
    """The candidate as a training line for ``audience``, or why it stays out."""
    level = candidate.privacy_level or PrivacyLevel.SENSITIVE.value
    messages = conversation(candidate)
    if audience is Audience.CLOUD:
        if level == PrivacyLevel.SENSITIVE.value:
            return "sensitive" if candidate.privacy_level else "no_decision"
        if not candidate.cloud_allowed:
            return "kept_local_by_policy"
        messages = redact(messages)
    return Example(candidate.request_id, {"messages": messages}, candidate.correction is not None)


def build_dataset(candidates: Sequence[Candidate], *, audience: Audience, redact: Redact) -> Dataset:
    dataset = Dataset(audience=audience)
    for candidate in candidates:
        example = to_example(candidate, audience=audience, redact=redact)
        if isinstance(example, str):
            dataset.excluded[example] += 1
        else:
            dataset.examples.append(example)
    return dataset


def load_candidates(
    session: Session,
    *,
    model: str,
    since: dt.datetime,
    until: dt.datetime,
    low_rating_max: int,
    limit: int,
) -> list[Candidate]:
    """Conversations answered by ``model`` whose feedback (given in ``[since, until)``) is a low
    rating or a correction, newest first up to ``limit``."""
    rows = session.execute(
        select(
            Request.id,
            Request.messages,
            Result.content,
            Feedback.rating,
            Feedback.correction,
            RoutingDecision.privacy_level,
            RoutingDecision.cloud_allowed,
        )
        .join(Result, Result.request_id == Feedback.request_id)
        .join(Request, Request.id == Feedback.request_id)
        .outerjoin(RoutingDecision, RoutingDecision.request_id == Feedback.request_id)
        .where(
            Result.model == model,
            Feedback.created_at >= since,
            Feedback.created_at < until,
            or_(Feedback.rating <= low_rating_max, Feedback.correction.is_not(None)),
        )
        .order_by(Feedback.created_at.desc(), Feedback.request_id)
        .limit(limit)
    ).all()
    return [
        Candidate(
            request_id=rid,
            messages=list(messages or []),
            response=content,
            rating=rating,
            correction=correction,
            privacy_level=privacy,
            cloud_allowed=bool(cloud_allowed),
        )
        for rid, messages, content, rating, correction, privacy, cloud_allowed in rows
    ]


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
