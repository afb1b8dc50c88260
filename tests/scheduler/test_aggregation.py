"""Rollups computed by the real aggregation task, run by a real Celery worker on Redis and
PostgreSQL, from rows stored the way the route and generate steps store them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from coachline.db.monitoring import ALL, Rollup
from coachline.db.session import session_scope
from scheduler import monitor
from tests.scheduler.conftest import T0, Beat
from tests.scheduler.traffic import CLOUD_MODEL, FAST_MODEL, Try, minute, store_request

CLOUD = Try(pool=None, model=CLOUD_MODEL, processing_mode="cloud")
LOCAL_ERROR = Try(outcome="error")
CLOUD_COST = 0.15 * 1000 / 1e6 + 0.60 * 500 / 1e6  # the cloud prices in tests/support.py


def _known_minute(beat: Beat, index: int = 0) -> None:
    """30 requests in one minute with hand-computable rollups (see the asserts)."""
    with session_scope(beat.settings.database_url) as session:
        for i in range(1, 21):  # 20 local successes: 100 ms .. 2000 ms
            rating = {1: 5, 2: 4, 3: 3, 4: 2}.get(i)
            store_request(
                session,
                finished_at=minute(T0, index, i),
                latency_ms=100.0 * i,
                ttft_ms=10.0 * i,
                rating=rating,
                correction="Say when, not only what." if i == 4 else None,
                clarification=i in (3, 4),
            )
        for i in range(5):  # 5 cloud successes
            store_request(
                session,
                finished_at=minute(T0, index, 30 + i),
                latency_ms=3000.0,
                ttft_ms=300.0,
                tier="CLOUD_ENHANCED",
                decided_pool=None,
                decided_mode="cloud",
                attempts=[CLOUD],
                tokens_in=1000,
                tokens_out=500,
                cost_usd=CLOUD_COST,
            )
        for i in range(3):  # 3 failures after two local attempts
            store_request(
                session, finished_at=minute(T0, index, 40 + i), status="failed", attempts=[LOCAL_ERROR] * 2
            )
        for i in range(2):  # 2 local decisions served by the cloud after a local error
            store_request(
                session,
                finished_at=minute(T0, index, 50 + i),
                latency_ms=2500.0,
                ttft_ms=250.0,
                attempts=[LOCAL_ERROR, CLOUD],
                tokens_in=1000,
                tokens_out=500,
                cost_usd=CLOUD_COST,
            )


def _rows(beat: Beat, granularity: str, start: dt.datetime) -> dict[tuple[str, str, str], dict[str, Any]]:
    with session_scope(beat.settings.database_url) as session:
        rows = session.scalars(
            select(Rollup).where(Rollup.granularity == granularity, Rollup.window_start == start)
        ).all()
        return {
            (r.tier, r.pool, r.model): {
                c.name: getattr(r, c.name)
                for c in Rollup.__table__.columns
                if c.name not in ("id", "computed_at")
            }
            for r in rows
        }


def test_a_minute_rollup_has_the_numbers_of_its_requests(make_beat) -> None:  # type: ignore[no-untyped-def]
    beat = make_beat()
    _known_minute(beat)
    beat.tick(minute(T0, 1, 15))
    rows = _rows(beat, "1m", T0)
    total = rows[(ALL, ALL, ALL)]
    assert (total["requests"], total["succeeded"], total["errors"], total["fallbacks"]) == (30, 27, 3, 5)
    assert total["error_rate"] == pytest.approx(0.1)
    assert total["fallback_rate"] == pytest.approx(5 / 30)
    assert total["local_processing_rate"] == pytest.approx(20 / 27)
    # Nearest rank over 27 latencies: 100..2000 (20), 2500 x2, 3000 x5.
    assert (total["latency_p50_ms"], total["latency_p95_ms"], total["latency_p99_ms"]) == (1400, 3000, 3000)
    assert (total["ttft_p50_ms"], total["ttft_p95_ms"]) == (140, 300)
    assert (total["tokens_in"], total["tokens_out"]) == (20 * 100 + 7 * 1000, 20 * 200 + 7 * 500)
    assert total["cost_usd"] == pytest.approx(20 * 0.0001 + 7 * CLOUD_COST)
    # All-cloud: the local tokens at cloud prices, plus what the cloud requests cost.
    local_at_cloud = 20 * (0.15 * 100 + 0.60 * 200) / 1e6
    assert total["cloud_equivalent_usd"] == pytest.approx(local_at_cloud + 7 * CLOUD_COST)
    expected_saving = 100 * (local_at_cloud - 20 * 0.0001) / (local_at_cloud + 7 * CLOUD_COST)
    assert total["cost_savings_percentage"] == pytest.approx(expected_saving)
    assert (total["feedback_count"], total["mean_rating"]) == (4, 3.5)
    assert (total["correction_rate"], total["clarification_rate"]) == (0.25, 0.5)
    assert total["privacy_violations"] == 0
    # The scheduler's gauges follow the last closed minute; the queues were sampled.
    assert REGISTRY.get_sample_value("local_processing_rate", {"window": "1m"}) == pytest.approx(20 / 27)
    saving = REGISTRY.get_sample_value("cost_savings_percentage", {"window": "1m"})
    assert saving == pytest.approx(expected_saving)
    assert REGISTRY.get_sample_value("coachline_queue_depth", {"queue": "router"}) == 0

    assert rows[(ALL, ALL, FAST_MODEL)]["requests"] == 23
    assert rows[(ALL, ALL, CLOUD_MODEL)]["requests"] == 7
    assert rows[("LOCAL_FAST", "fast", FAST_MODEL)]["errors"] == 3
    assert rows[("CLOUD_ENHANCED", "cloud", CLOUD_MODEL)]["requests"] == 5
    fell_back = rows[("LOCAL_FAST", "cloud", CLOUD_MODEL)]
    assert (fell_back["requests"], fell_back["fallbacks"], fell_back["latency_p95_ms"]) == (2, 2, 2500)
    assert set(rows) == {
        (ALL, ALL, ALL),
        (ALL, ALL, FAST_MODEL),
        (ALL, ALL, CLOUD_MODEL),
        ("LOCAL_FAST", "fast", FAST_MODEL),
        ("CLOUD_ENHANCED", "cloud", CLOUD_MODEL),
        ("LOCAL_FAST", "cloud", CLOUD_MODEL),
    }


def test_running_a_window_again_gives_the_same_rows(make_beat) -> None:  # type: ignore[no-untyped-def]
    beat = make_beat()
    _known_minute(beat)
    now = minute(T0, 1, 15)
    beat.tick(now)
    first = _rows(beat, "1m", T0)
    # A redelivered message, and a later run whose catch-up covers the same minute.
    monitor.run_aggregation(beat.settings, now=now)
    monitor.run_aggregation(beat.settings, now=minute(T0, 5, 15))
    assert _rows(beat, "1m", T0) == first
    with session_scope(beat.settings.database_url) as session:
        count = session.scalar(
            select(func.count())
            .select_from(Rollup)
            .where(Rollup.granularity == "1m", Rollup.window_start == T0)
        )
    assert count == len(first) == 6


def test_a_row_committed_late_lands_in_its_minute_on_the_next_run(make_beat) -> None:  # type: ignore[no-untyped-def]
    beat = make_beat()
    with session_scope(beat.settings.database_url) as session:
        store_request(session, finished_at=minute(T0, 0, 10), latency_ms=1000)
    beat.tick(minute(T0, 1, 15))
    assert _rows(beat, "1m", T0)[(ALL, ALL, ALL)]["requests"] == 1
    with session_scope(beat.settings.database_url) as session:  # finished at :59.9, committed after the run
        store_request(session, finished_at=minute(T0, 0, 59.9), latency_ms=3000)
    beat.tick(minute(T0, 2, 15))
    total = _rows(beat, "1m", T0)[(ALL, ALL, ALL)]
    assert (total["requests"], total["latency_p99_ms"]) == (2, 3000)


def test_hours_and_days_merge_their_minutes(make_beat) -> None:  # type: ignore[no-untyped-def]
    beat = make_beat()
    _known_minute(beat, 0)
    _known_minute(beat, 1)
    beat.tick(minute(T0, 2, 15))
    beat.tick(T0 + dt.timedelta(hours=1, seconds=15))
    hour = _rows(beat, "1h", T0)[(ALL, ALL, ALL)]
    assert (hour["requests"], hour["errors"], hour["fallbacks"], hour["feedback_count"]) == (60, 6, 10, 8)
    assert hour["mean_rating"] == 3.5
    assert hour["cost_usd"] == pytest.approx(2 * (20 * 0.0001 + 7 * CLOUD_COST))
    # From merged sketches: within 1 % of the exact nearest-rank values (1400 and 3000 ms).
    assert hour["latency_p50_ms"] == pytest.approx(1400, rel=0.01)
    assert hour["latency_p95_ms"] == pytest.approx(3000, rel=0.01)
    beat.tick(dt.datetime(2026, 1, 6, 0, 0, 15, tzinfo=dt.UTC))
    day = _rows(beat, "1d", dt.datetime(2026, 1, 5, tzinfo=dt.UTC))[(ALL, ALL, ALL)]
    assert (day["requests"], day["errors"], day["rating_sum"]) == (60, 6, 28)
    assert day["latency_p95_ms"] == pytest.approx(3000, rel=0.01)


def test_privacy_violations_are_counted_from_attempts(make_beat) -> None:  # type: ignore[no-untyped-def]
    beat = make_beat()
    with session_scope(beat.settings.database_url) as session:
        # Sensitive and served locally: fine. Sensitive with a cloud attempt: a violation.
        store_request(session, finished_at=minute(T0, 0, 5), privacy_level="sensitive")
        store_request(
            session, finished_at=minute(T0, 0, 6), privacy_level="sensitive", attempts=[LOCAL_ERROR, CLOUD]
        )
        store_request(session, finished_at=minute(T0, 0, 7), attempts=[LOCAL_ERROR, CLOUD])  # public: fine
    beat.tick(minute(T0, 1, 15))
    rows = _rows(beat, "1m", T0)
    assert rows[(ALL, ALL, ALL)]["privacy_violations"] == 1
    assert rows[("LOCAL_FAST", "cloud", CLOUD_MODEL)]["privacy_violations"] == 1


def test_evaluator_scores_are_rolled_up_by_evaluator(make_beat) -> None:  # type: ignore[no-untyped-def]
    beat = make_beat()
    with session_scope(beat.settings.database_url) as session:
        for i in range(3):
            store_request(session, finished_at=minute(T0, 0, 5 + i))
    beat.score_quality(minute(T0, 1, 5))  # scores land in minute 1
    beat.tick(minute(T0, 2, 15))
    scores = _rows(beat, "1m", minute(T0, 1, 0))[(ALL, ALL, ALL)]["evaluator_scores"]
    entry = scores["lexical-overlap-v1"]
    assert entry["n"] == 3
    assert 0 < entry["relevance"] / 3 <= 1 and 0 < entry["completeness"] / 3 <= 1
