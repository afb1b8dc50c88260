"""What the fine-tune trigger judges a model on: its minute rollups over a trailing window, merged
whole, per consecutive slice (for consistency and trend) and per tier (for domain weaknesses).

An adapter over the monitoring tables (``coachline.db.monitoring``, ``scheduler.rollup``): the
plain functions of ``trigger`` and ``skills`` take its output and never touch the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from coachline.db.monitoring import ALL, NONE, Rollup
from scheduler.aggregation import floor_time
from scheduler.rollup import Acc


@dataclass(frozen=True)
class ModelEvidence:
    """One model's rollups over ``[window_start, window_end)``.

    ``slices`` splits the window into equal consecutive parts, oldest first; a slice is None when
    the model had no rollup in it (no traffic, or minutes not aggregated: either way, no evidence).
    """

    model: str
    window_start: dt.datetime
    window_end: dt.datetime
    total: Acc = field(default_factory=Acc.merged)
    slices: list[Acc | None] = field(default_factory=list)
    by_tier: dict[str, Acc] = field(default_factory=dict)

    @property
    def window_s(self) -> float:
        return (self.window_end - self.window_start).total_seconds()


def evidence_window(now: dt.datetime, *, lag_s: float, window_s: float) -> tuple[dt.datetime, dt.datetime]:
    """The closed minutes the trigger reads for ``now``: the same rule as the health view."""
    end = floor_time(now - dt.timedelta(seconds=lag_s), "1m")
    return end - dt.timedelta(seconds=window_s), end


def empty_evidence(model: str, start: dt.datetime, end: dt.datetime, slices: int) -> ModelEvidence:
    return ModelEvidence(model=model, window_start=start, window_end=end, slices=[None] * slices)


def read_evidence(
    session: Session,
    *,
    now: dt.datetime,
    lag_s: float,
    window_s: float,
    slices: int,
    models: Collection[str],
) -> dict[str, ModelEvidence]:
    """Evidence for each of ``models`` (an empty one where a model has no rollups)."""
    start, end = evidence_window(now, lag_s=lag_s, window_s=window_s)
    slice_len = (end - start) / slices
    totals: dict[str, Acc] = {}
    per_slice: dict[str, list[Acc | None]] = {}
    per_tier: dict[str, dict[str, Acc]] = {}
    rows = session.scalars(
        select(Rollup)
        .where(
            Rollup.granularity == "1m",
            Rollup.window_start >= start,
            Rollup.window_start < end,
            Rollup.model.in_(sorted(models)),
            Rollup.model.not_in([ALL, NONE]),
        )
        .order_by(Rollup.window_start, Rollup.tier, Rollup.pool)
    )
    for row in rows:
        acc = Acc.from_row(row)
        if row.tier == ALL and row.pool == ALL:  # the model's own row: every tier and pool
            totals.setdefault(row.model, Acc.merged()).merge(acc)
            index = min(slices - 1, int((row.window_start - start) / slice_len))
            parts = per_slice.setdefault(row.model, [None] * slices)
            part = parts[index]
            if part is None:
                parts[index] = part = Acc.merged()
            part.merge(acc)
        elif row.tier != ALL:  # one tier x pool of the model
            per_tier.setdefault(row.model, {}).setdefault(row.tier, Acc.merged()).merge(acc)
    out: dict[str, ModelEvidence] = {}
    for model in models:
        if model not in totals:
            out[model] = empty_evidence(model, start, end, slices)
            continue
        out[model] = ModelEvidence(
            model=model,
            window_start=start,
            window_end=end,
            total=totals[model],
            slices=per_slice[model],
            by_tier=per_tier.get(model, {}),
        )
    return out
