"""Percentile sketches and window arithmetic."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from scheduler.aggregation import closed_windows, floor_time
from scheduler.sketch import RELATIVE_ERROR, Sketch, nearest_rank


def test_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert [nearest_rank(values, q) for q in (0.5, 0.95, 0.99, 1.0)] == [50, 95, 99, 100]
    assert nearest_rank([], 0.5) is None
    assert nearest_rank([7.0], 0.99) == 7.0


def test_merged_sketches_stay_within_their_relative_error() -> None:
    rng = random.Random(5)
    parts = [[rng.lognormvariate(7, 1) for _ in range(500)] for _ in range(12)]
    merged = Sketch()
    for part in parts:
        sketch = Sketch()
        sketch.extend(part)
        merged.merge(Sketch.from_json(sketch.to_json()))  # through the stored JSON form
    everything = sorted(v for part in parts for v in part)
    for q in (0.5, 0.9, 0.95, 0.99):
        exact = nearest_rank(everything, q)
        assert exact is not None
        assert merged.quantile(q) == pytest.approx(exact, rel=RELATIVE_ERROR * 1.01)
    assert merged.count == 6000 and Sketch().quantile(0.5) is None


def test_windows_are_closed_and_aligned() -> None:
    now = dt.datetime(2026, 1, 5, 10, 7, 5, tzinfo=dt.UTC)
    assert floor_time(now, "1h") == dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC)
    # 10:07:05 with a 10 s lag: 10:06 is not closed long enough yet, so the last is 10:05.
    starts = closed_windows(now, "1m", lag_s=10, count=3)
    assert [s.strftime("%H:%M") for s in starts] == ["10:03", "10:04", "10:05"]
    assert closed_windows(now, "1d", lag_s=10, count=1) == [dt.datetime(2026, 1, 4, tzinfo=dt.UTC)]
    other_zone = now.astimezone(dt.timezone(dt.timedelta(hours=5)))
    assert floor_time(other_zone, "1d") == dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
