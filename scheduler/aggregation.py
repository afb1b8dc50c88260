"""Metric aggregation: closed windows of stored rows become rollups (1 minute, 1 hour, 1 day).

A minute's rollups are computed from the requests that finished in it, the feedback and scores
given in it and the attempts started in it; an hour's from its minutes, a day's from its hours.
Every window is recomputed whole and upserted on (granularity, window start, tier, pool, model), so
running a window again -- a redelivered task, a second beat, a catch-up -- gives the same rows.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from coachline.db.models import Attempt, Request, Result, RoutingDecision
from coachline.db.monitoring import ALL, NONE, Feedback, QualityScore, Rollup
from coachline.domain import PrivacyLevel, RequestStatus
from coachline.pools import PoolsConfig
from coachline.telemetry import metrics
from scheduler.rollup import TOTAL, Acc, Dims, RequestFacts, grouping_sets

GRANULARITIES: dict[str, dt.timedelta] = {
    "1m": dt.timedelta(minutes=1),
    "1h": dt.timedelta(hours=1),
    "1d": dt.timedelta(days=1),
}
_BUILT_FROM = {"1h": "1m", "1d": "1h"}
CLOUD = "cloud"
_TERMINAL = [s.value for s in RequestStatus if s.is_terminal]
_ERRORS = (RequestStatus.FAILED.value, RequestStatus.EXPIRED.value)
_CHUNK = 500
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# -- windows ----------------------------------------------------------------------------------


def floor_time(when: dt.datetime, granularity: str) -> dt.datetime:
    """The start of the ``granularity`` window that contains ``when`` (UTC)."""
    step = GRANULARITIES[granularity]
    return _EPOCH + ((when.astimezone(dt.UTC) - _EPOCH) // step) * step


def closed_windows(now: dt.datetime, granularity: str, *, lag_s: float, count: int) -> list[dt.datetime]:
    """Starts of the last ``count`` windows that closed at least ``lag_s`` before ``now``, oldest first."""
    step = GRANULARITIES[granularity]
    last_end = floor_time(now - dt.timedelta(seconds=lag_s), granularity)
    return [last_end - step * i for i in range(count, 0, -1)]


# -- facts of one minute ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Served:
    pool: str | None
    processing_mode: str
    model: str


@dataclass(frozen=True)
class _Context:
    tier: str | None
    decided_pool: str | None
    decided_mode: str | None
    privacy_level: str | None
    attempts: tuple[_Served, ...]
    result: Result | None


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _contexts(session: Session, ids: Iterable[str]) -> dict[str, _Context]:
    """Decision, attempts and result of each request id."""
    unique = sorted(set(ids))
    decisions: dict[str, RoutingDecision] = {}
    attempts: dict[str, list[_Served]] = defaultdict(list)
    results: dict[str, Result] = {}
    for chunk in _chunks(unique):
        for row in session.scalars(select(RoutingDecision).where(RoutingDecision.request_id.in_(chunk))):
            decisions[row.request_id] = row
        for request_id, pool, mode, model in session.execute(
            select(Attempt.request_id, Attempt.pool, Attempt.processing_mode, Attempt.model)
            .where(Attempt.request_id.in_(chunk))
            .order_by(Attempt.request_id, Attempt.number)
        ):
            attempts[request_id].append(_Served(pool, mode, model))
        for result in session.scalars(select(Result).where(Result.request_id.in_(chunk))):
            results[result.request_id] = result
    out: dict[str, _Context] = {}
    for request_id in unique:
        decision = decisions.get(request_id)
        out[request_id] = _Context(
            tier=decision.tier if decision else None,
            decided_pool=decision.pool if decision else None,
            decided_mode=decision.processing_mode if decision else None,
            privacy_level=decision.privacy_level if decision else None,
            attempts=tuple(attempts.get(request_id, ())),
            result=results.get(request_id),
        )
    return out


def _configured_model(pools: PoolsConfig, pool: str | None, mode: str | None) -> str:
    if pool is not None:
        try:
            return pools.pool(pool).model
        except KeyError:
            return NONE
    if mode == CLOUD and pools.cloud is not None:
        return pools.cloud.model
    return NONE


def dims_of(ctx: _Context, pools: PoolsConfig) -> Dims:
    """Tier as decided; pool and model that served (or last tried) the request, else as decided."""
    tier = ctx.tier or NONE
    if ctx.attempts:
        last = ctx.attempts[-1]
        return Dims(tier, last.pool or (CLOUD if last.processing_mode == CLOUD else NONE), last.model)
    if ctx.result is not None:
        pool = ctx.result.pool or (CLOUD if ctx.result.processing_mode == CLOUD else NONE)
        return Dims(tier, pool, ctx.result.model)
    pool = ctx.decided_pool or (CLOUD if ctx.decided_mode == CLOUD else NONE)
    return Dims(tier, pool, _configured_model(pools, ctx.decided_pool, ctx.decided_mode))


def request_facts(status: str, ctx: _Context, pools: PoolsConfig) -> RequestFacts:
    result = ctx.result
    modes = {a.processing_mode for a in ctx.attempts}
    fallback = len(ctx.attempts) > 1 or (ctx.decided_mode is not None and bool(modes - {ctx.decided_mode}))
    local = result is not None and result.processing_mode == "local"
    cloud_equivalent: float | None = None
    if result is not None and pools.cloud is not None:
        cloud_equivalent = (
            pools.cloud.cost_usd(result.tokens_in, result.tokens_out) if local else result.cost_usd
        )
    return RequestFacts(
        dims=dims_of(ctx, pools),
        succeeded=status == RequestStatus.SUCCEEDED.value and result is not None,
        error=status in _ERRORS,
        fallback=fallback,
        local=local,
        latency_ms=result.latency_ms if result else None,
        ttft_ms=result.ttft_ms if result else None,
        tokens_in=result.tokens_in if result else 0,
        tokens_out=result.tokens_out if result else 0,
        cost_usd=result.cost_usd if result else 0.0,
        cloud_equivalent_usd=cloud_equivalent,
    )


def compute_minute(session: Session, start: dt.datetime, *, pools: PoolsConfig) -> dict[Dims, Acc]:
    """Rollups of the minute starting at ``start``, for every dimension set with data and the total."""
    end = start + GRANULARITIES["1m"]
    per_dims: dict[Dims, Acc] = defaultdict(Acc)

    finished = session.execute(
        select(Request.id, Request.status).where(
            Request.finished_at >= start, Request.finished_at < end, Request.status.in_(_TERMINAL)
        )
    ).all()
    feedback = session.execute(
        select(
            Feedback.request_id,
            Feedback.rating,
            Feedback.correction.is_not(None),
            Feedback.clarification_requested,
        ).where(Feedback.created_at >= start, Feedback.created_at < end)
    ).all()
    scores = session.scalars(
        select(QualityScore).where(QualityScore.created_at >= start, QualityScore.created_at < end)
    ).all()
    violations = session.execute(
        select(Attempt.request_id)
        .join(RoutingDecision, RoutingDecision.request_id == Attempt.request_id)
        .where(
            Attempt.started_at >= start,
            Attempt.started_at < end,
            Attempt.processing_mode == CLOUD,
            RoutingDecision.privacy_level == PrivacyLevel.SENSITIVE.value,
        )
        .distinct()
    ).all()

    contexts = _contexts(
        session,
        [r.id for r in finished]
        + [f.request_id for f in feedback]
        + [s.request_id for s in scores]
        + [v.request_id for v in violations],
    )
    for request_id, status in finished:
        facts = request_facts(status, contexts[request_id], pools)
        per_dims[facts.dims].add_request(facts)
    for request_id, rating, correction, clarification in feedback:
        per_dims[dims_of(contexts[request_id], pools)].add_feedback(
            rating=rating, correction=bool(correction), clarification=clarification
        )
    for score in scores:
        per_dims[dims_of(contexts[score.request_id], pools)].add_score(
            score.evaluator,
            {"relevance": score.relevance, "coherence": score.coherence, "completeness": score.completeness},
        )
    for (request_id,) in violations:
        per_dims[dims_of(contexts[request_id], pools)].privacy_violations += 1
    return expand(per_dims, raw=True)


def expand(per_dims: dict[Dims, Acc], *, raw: bool) -> dict[Dims, Acc]:
    """Add the per-model and total rows; the total is always present, with zeros if need be."""
    out: dict[Dims, Acc] = {TOTAL: Acc() if raw else Acc.merged()}
    for dims in sorted(per_dims):
        for key in grouping_sets(dims):
            if key not in out:
                out[key] = Acc() if raw else Acc.merged()
            out[key].merge(per_dims[dims])
    return out


def compute_from_lower(session: Session, start: dt.datetime, granularity: str) -> dict[Dims, Acc]:
    """An hour from its minutes, or a day from its hours: merged stored rollups."""
    lower = _BUILT_FROM[granularity]
    end = start + GRANULARITIES[granularity]
    out: dict[Dims, Acc] = {TOTAL: Acc.merged()}
    rows = session.scalars(
        select(Rollup)
        .where(Rollup.granularity == lower, Rollup.window_start >= start, Rollup.window_start < end)
        .order_by(Rollup.window_start, Rollup.tier, Rollup.pool, Rollup.model)
    )
    for row in rows:
        key = Dims(row.tier, row.pool, row.model)
        out.setdefault(key, Acc.merged()).merge(Acc.from_row(row))
    return out


# -- storing ----------------------------------------------------------------------------------


def dialect_insert(session: Session) -> Any:
    """The INSERT with ON CONFLICT of the session's database (PostgreSQL or SQLite)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"upsert on {dialect}")  # coachline supports PostgreSQL and SQLite


def store(
    session: Session, granularity: str, start: dt.datetime, accs: dict[Dims, Acc], *, now: dt.datetime
) -> int:
    """Upsert the window's rows (sorted, so concurrent writers lock in one order) and drop stale ones."""
    rows = [
        {
            "granularity": granularity,
            "window_start": start,
            "tier": dims.tier,
            "pool": dims.pool,
            "model": dims.model,
            "computed_at": now,
            **accs[dims].values(),
        }
        for dims in sorted(accs)
    ]
    insert = dialect_insert(session)
    stmt = insert(Rollup).values(rows)
    keys = ("granularity", "window_start", "tier", "pool", "model")
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: stmt.excluded[name] for name in rows[0] if name not in keys},
    )
    session.execute(stmt)
    session.execute(
        delete(Rollup)
        .where(
            Rollup.granularity == granularity,
            Rollup.window_start == start,
            tuple_(Rollup.tier, Rollup.pool, Rollup.model).not_in([tuple(d) for d in accs]),
        )
        .execution_options(synchronize_session=False)
    )
    return len(rows)


@dataclass(frozen=True)
class AggregationReport:
    windows: dict[str, list[str]]
    rows: int
    pruned: int

    def as_dict(self) -> dict[str, Any]:
        return {"windows": self.windows, "rows": self.rows, "pruned": self.pruned}


def aggregate(
    session: Session,
    *,
    now: dt.datetime,
    pools: PoolsConfig,
    lag_s: float,
    catchup_minutes: int,
    minute_retention_days: float,
) -> AggregationReport:
    """Recompute the last ``catchup_minutes`` closed minutes, the last closed hour and day; prune."""
    windows: dict[str, list[str]] = {}
    rows = 0
    for granularity, count in (("1m", catchup_minutes), ("1h", 1), ("1d", 1)):
        starts = closed_windows(now, granularity, lag_s=lag_s, count=count)
        for start in starts:
            accs = (
                compute_minute(session, start, pools=pools)
                if granularity == "1m"
                else compute_from_lower(session, start, granularity)
            )
            rows += store(session, granularity, start, accs, now=now)
        windows[granularity] = [s.isoformat() for s in starts]
    pruned = session.execute(
        delete(Rollup)
        .where(
            Rollup.granularity == "1m",
            Rollup.window_start < now - dt.timedelta(days=minute_retention_days),
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]  # a DELETE returns a CursorResult
    return AggregationReport(windows=windows, rows=rows, pruned=pruned)


def backfill(
    session: Session, *, start: dt.datetime, end: dt.datetime, pools: PoolsConfig, now: dt.datetime
) -> int:
    """Recompute every minute in [start, end) and the hours and days they touch (after an outage)."""
    rows = 0
    minute = floor_time(start, "1m")
    while minute < end:
        rows += store(session, "1m", minute, compute_minute(session, minute, pools=pools), now=now)
        minute += GRANULARITIES["1m"]
    for granularity in ("1h", "1d"):
        window = floor_time(start, granularity)
        while window < end:
            if window + GRANULARITIES[granularity] <= now:
                rows += store(
                    session, granularity, window, compute_from_lower(session, window, granularity), now=now
                )
            window += GRANULARITIES[granularity]
    return rows


# -- reading ----------------------------------------------------------------------------------


def merged_window(
    session: Session, *, end: dt.datetime, length: dt.timedelta, by_model: bool
) -> tuple[dict[Dims, Acc], int]:
    """Minute rollups in [end - length, end) merged: the total (or one per model), and the number
    of minutes that were aggregated at all (a missing minute is unknown, not quiet)."""
    rows = session.scalars(
        select(Rollup)
        .where(
            Rollup.granularity == "1m",
            Rollup.window_start >= end - length,
            Rollup.window_start < end,
            Rollup.tier == ALL,
            Rollup.pool == ALL,
            (Rollup.model != ALL) if by_model else (Rollup.model == ALL),
        )
        .order_by(Rollup.window_start, Rollup.model)
    ).all()
    minutes = {row.window_start for row in rows}
    if by_model:
        minutes = set(
            session.scalars(
                select(Rollup.window_start).where(
                    Rollup.granularity == "1m",
                    Rollup.window_start >= end - length,
                    Rollup.window_start < end,
                    Rollup.tier == ALL,
                    Rollup.pool == ALL,
                    Rollup.model == ALL,
                )
            )
        )
    out: dict[Dims, Acc] = {}
    for row in rows:
        key = Dims(ALL, ALL, row.model)
        out.setdefault(key, Acc.merged()).merge(Acc.from_row(row))
    return out, len(minutes)


def latest_totals(session: Session, *, now: dt.datetime, lag_s: float) -> dict[str, Rollup]:
    """The total row of the last closed window of each granularity, where it exists."""
    out: dict[str, Rollup] = {}
    for granularity in GRANULARITIES:
        (start,) = closed_windows(now, granularity, lag_s=lag_s, count=1)
        row = session.scalar(
            select(Rollup).where(
                Rollup.granularity == granularity,
                Rollup.window_start == start,
                Rollup.tier == ALL,
                Rollup.pool == ALL,
                Rollup.model == ALL,
            )
        )
        if row is not None:
            out[granularity] = row
    return out


def publish_gauges(totals: dict[str, Rollup]) -> None:
    """Set the plan's ratio gauges from the last closed windows (NaN where there was no traffic)."""
    nan = float("nan")
    for granularity, row in totals.items():
        metrics.LOCAL_PROCESSING_RATE.labels(window=granularity).set(
            nan if row.local_processing_rate is None else row.local_processing_rate
        )
        metrics.COST_SAVINGS.labels(window=granularity).set(
            nan if row.cost_savings_percentage is None else row.cost_savings_percentage
        )
        metrics.FALLBACK_RATE.labels(window=granularity).set(
            nan if row.fallback_rate is None else row.fallback_rate
        )
        metrics.PRIVACY_VIOLATIONS.labels(window=granularity).set(row.privacy_violations)
