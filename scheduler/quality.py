"""Automatic quality scores: relevance, coherence and completeness (0..1) of stored responses.

Two evaluators behind one interface:

- ``LexicalOverlapHeuristic`` runs locally on every succeeded response. It measures words, not
  meaning: relevance is how many of the question's content words the answer repeats, coherence is
  how little the answer repeats itself, completeness is its length against a modest minimum and
  whether it ends like a finished sentence. It cannot tell a right answer from a fluent wrong one;
  it is a cheap drift signal, and health levels ignore it (see ``scheduler.health``).
- ``ChatJudge`` asks a model (any OpenAI-compatible endpoint) to score a sampled share of
  responses. A judge that is not one of the local pools is *remote*: it is only ever shown public
  requests -- sensitive requests never leave the cluster, and private ones would need the
  router's redaction, which this path does not apply. A request without a stored routing decision
  counts as sensitive (fail closed).

``score_recent`` is the beat step: it scores what is new, once per (request, evaluator).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import structlog
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from coachline.db.models import Request, Result, RoutingDecision
from coachline.db.monitoring import QualityScore
from coachline.db.session import session_scope
from coachline.domain import PrivacyLevel, RequestStatus
from coachline.telemetry import metrics
from scheduler.aggregation import dialect_insert

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Sample:
    request_id: str
    prompt: str  # the last user message
    response: str
    privacy_level: str


@dataclass(frozen=True)
class Scores:
    relevance: float
    coherence: float
    completeness: float

    def as_dict(self) -> dict[str, float]:
        return {"relevance": self.relevance, "coherence": self.coherence, "completeness": self.completeness}


class Evaluator(Protocol):
    name: str
    # True when the evaluator sends text off the cluster (a cloud judge).
    remote: bool

    def evaluate(self, sample: Sample) -> Scores: ...


class EvaluationError(Exception):
    """An evaluator could not score a sample; ``reason`` is a short stable code for the metric."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- the local heuristic ------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9']+")
_STOPWORD_TEXT = """
the and for are but not you your with this that have has had was were will would can could should
what when where which who why how all any some more most much many very just also into from than
then them they their there these those our out about been being does did doing its it's i'm i've
don't can't let get got one two per via may might must shall each other over
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_MIN_WORDS = 25  # an answer shorter than this is not complete, whatever the question


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _content(words: Sequence[str]) -> set[str]:
    return {w[:5] for w in words if len(w) >= 3 and w not in _STOPWORDS}


class LexicalOverlapHeuristic:
    """Word-overlap, repetition and length heuristics; see the module docstring for what they miss."""

    name = "lexical-overlap-v1"
    remote = False

    def evaluate(self, sample: Sample) -> Scores:
        answer = _words(sample.response)
        asked = _content(_words(sample.prompt))
        said = _content(answer)
        relevance = len(asked & said) / len(asked) if asked else 1.0
        trigrams = list(zip(answer, answer[1:], answer[2:], strict=False))
        repetition = 1 - len(set(trigrams)) / len(trigrams) if trigrams else 0.0
        finished = sample.response.rstrip().endswith((".", "!", "?", ")", '"', "*"))
        coherence = (1 - repetition) * (1.0 if finished else 0.85)
        completeness = min(1.0, len(answer) / _MIN_WORDS) * (1.0 if finished else 0.7)
        return Scores(round(relevance, 4), round(coherence, 4), round(completeness, 4))


# -- a judge model ------------------------------------------------------------------------------

_JUDGE_PROMPT = (
    "You grade an AI coach's answer. Reply with JSON only: "
    '{"relevance": r, "coherence": c, "completeness": m}, each a number from 0 to 1. '
    "relevance: does it address the question; coherence: is it clear and well organised; "
    "completeness: does it cover what was asked."
)
_JSON_OBJECT = re.compile(r"\{[^{}]*\}")


def parse_judge_reply(text: str) -> Scores:
    """The first JSON object with the three scores; each clamped to 0..1."""
    for match in _JSON_OBJECT.finditer(text):
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        try:
            values = [float(data[k]) for k in ("relevance", "coherence", "completeness")]
        except (KeyError, TypeError, ValueError):
            continue
        clamped = [min(1.0, max(0.0, v)) for v in values]
        return Scores(*clamped)
    raise EvaluationError("unparseable")


class ChatJudge:
    """A model that scores answers, over an OpenAI-compatible ``/chat/completions``."""

    def __init__(self, *, base_url: str, model: str, api_key: str, remote: bool, timeout_s: float) -> None:
        self.name = f"judge:{model}"
        self.remote = remote
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._timeout_s = timeout_s

    def evaluate(self, sample: Sample) -> Scores:
        body = {
            "model": self._model,
            "messages": [
                {"role": "system", "content": _JUDGE_PROMPT},
                {"role": "user", "content": f"Question:\n{sample.prompt}\n\nAnswer:\n{sample.response}"},
            ],
            "max_tokens": 60,
            "temperature": 0,
        }
        try:
            response = httpx.post(self._url, json=body, headers=self._headers, timeout=self._timeout_s)
        except httpx.HTTPError as e:
            raise EvaluationError("unreachable") from e
        if response.status_code != 200:
            raise EvaluationError(f"http_{response.status_code}")
        try:
            text = response.json()["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise EvaluationError("bad_response") from e
        return parse_judge_reply(text)


def may_judge(sample: Sample, judge: Evaluator) -> bool:
    """Whether ``sample`` may be shown to ``judge``: a remote judge sees public requests only."""
    return not judge.remote or sample.privacy_level == PrivacyLevel.PUBLIC.value


def _sample_cut(rate: float) -> str | None:
    """Request ids are uuid4 hex, random from the first digit: the ids below this cut are a stable,
    uniform share ``rate`` of requests, selectable in SQL on any database. None: all of them."""
    if rate >= 1:
        return None
    return f"{max(0, math.ceil(rate * 2**32)):08x}"


def sampled(request_id: str, rate: float) -> bool:
    """Whether ``request_id`` is in the judged share ``rate`` (the same answer on every beat)."""
    cut = _sample_cut(rate)
    return rate > 0 and (cut is None or request_id < cut)


# -- the beat step ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreReport:
    scored: int
    judged: int
    judge_failures: int

    def as_dict(self) -> dict[str, int]:
        return {"scored": self.scored, "judged": self.judged, "judge_failures": self.judge_failures}


def _last_user_message(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


def _unscored(
    session: Session,
    evaluator: str,
    *,
    since: dt.datetime,
    until: dt.datetime,
    limit: int,
    public_only: bool,
    sample_rate: float = 1.0,
    newest_first: bool = False,
) -> list[Sample]:
    stmt = (
        select(Request.id, Request.messages, Result.content, RoutingDecision.privacy_level)
        .join(Result, Result.request_id == Request.id)
        # Inner join: no stored decision, no privacy level -- such a request is never judged remotely.
        .join(RoutingDecision, RoutingDecision.request_id == Request.id, isouter=not public_only)
        .outerjoin(
            QualityScore, and_(QualityScore.request_id == Request.id, QualityScore.evaluator == evaluator)
        )
        .where(
            Request.status == RequestStatus.SUCCEEDED.value,
            Request.finished_at >= since,
            Request.finished_at < until,
            QualityScore.id.is_(None),
        )
        .order_by(Request.finished_at.desc() if newest_first else Request.finished_at, Request.id)
        .limit(limit)
    )
    if public_only:
        stmt = stmt.where(RoutingDecision.privacy_level == PrivacyLevel.PUBLIC.value)
    cut = _sample_cut(sample_rate)
    if cut is not None:
        stmt = stmt.where(Request.id < cut)
    return [
        Sample(
            request_id=request_id,
            prompt=_last_user_message(messages),
            response=content,
            privacy_level=privacy or PrivacyLevel.SENSITIVE.value,
        )
        for request_id, messages, content, privacy in session.execute(stmt)
    ]


def _store(session: Session, evaluator: str, request_id: str, scores: Scores, now: dt.datetime) -> bool:
    """Insert once; a second beat or a redelivered task that scored the same request changes nothing."""
    insert = dialect_insert(session)
    stmt = (
        insert(QualityScore)
        .values(request_id=request_id, evaluator=evaluator, created_at=now, **scores.as_dict())
        .on_conflict_do_nothing(index_elements=["request_id", "evaluator"])
    )
    inserted = bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
    if inserted:
        for dimension, value in scores.as_dict().items():
            metrics.EVALUATOR_SCORE.labels(evaluator=evaluator, dimension=dimension).observe(value)
    return inserted


def score_recent(
    database_url: str,
    *,
    now: dt.datetime,
    lookback_s: float,
    batch: int,
    heuristic: Evaluator,
    judge: Evaluator | None = None,
    judge_sample_rate: float = 0.0,
    judge_batch: int = 20,
) -> ScoreReport:
    """Score responses that finished in the last ``lookback_s``: all with the heuristic, a sample
    with the judge. Judge calls run outside any transaction."""
    since = now - dt.timedelta(seconds=lookback_s)
    scored = judged = failures = 0
    with session_scope(database_url) as session:
        fresh = _unscored(session, heuristic.name, since=since, until=now, limit=batch, public_only=False)
        for sample in fresh:
            scored += _store(session, heuristic.name, sample.request_id, heuristic.evaluate(sample), now)
    if judge is None or judge_sample_rate <= 0:
        return ScoreReport(scored, 0, 0)
    with session_scope(database_url) as session:
        candidates = _unscored(
            session,
            judge.name,
            since=since,
            until=now,
            limit=judge_batch,
            public_only=judge.remote,
            sample_rate=judge_sample_rate,
            # A sample that keeps failing must not block the newer ones behind it.
            newest_first=True,
        )
    # The query already keeps remote judges to public requests; this check is the second lock.
    for sample in (s for s in candidates if may_judge(s, judge)):
        try:
            scores = judge.evaluate(sample)
        except EvaluationError as e:
            failures += 1
            metrics.EVALUATOR_FAILURES.labels(evaluator=judge.name, reason=e.reason).inc()
            log.warning("quality.judge_failed", request_id=sample.request_id, reason=e.reason)
            continue
        with session_scope(database_url) as session:
            judged += _store(session, judge.name, sample.request_id, scores, now)
    return ScoreReport(scored, judged, failures)
