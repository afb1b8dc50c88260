"""Alerts through their whole life, driven by synthetic traffic and the real beat tasks on a real
Celery worker, Redis and PostgreSQL; time is passed in, never slept. Notifications go to a local
webhook; acknowledgement goes through the API."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from coachline.cli.runtime import build_api
from coachline.db.monitoring import Alert, AlertNotification
from coachline.db.session import session_scope
from coachline.events import CompletionWaiter
from scheduler.alerts.manage import history
from tests.scheduler.conftest import T0, Beat, Webhook
from tests.scheduler.traffic import CLOUD_MODEL, FAST_MODEL, Try, minute, store_request

OPERATOR = {"Authorization": "Bearer ops-key"}


def at(minutes: float, seconds: float = 15) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes, seconds=seconds)


def traffic(beat: Beat, minutes: range, *, slow: int = 0, failed: int = 0, n: int = 25) -> None:
    """``n`` requests per minute: ``slow`` of them at 12 s, ``failed`` failed, the rest at 1.5 s."""
    with session_scope(beat.settings.database_url) as session:
        for m in minutes:
            for i in range(n):
                if i < failed:
                    store_request(session, finished_at=minute(T0, m, 1 + i), status="failed")
                else:
                    latency = 12_000.0 if i < failed + slow else 1_500.0
                    store_request(session, finished_at=minute(T0, m, 1 + i), latency_ms=latency)


def alerts(beat: Beat, rule: str) -> list[Alert]:
    with session_scope(beat.settings.database_url) as session:
        return list(session.scalars(select(Alert).where(Alert.rule == rule).order_by(Alert.id)))


def reading(detail: dict[str, object], rule: str) -> dict[str, object]:
    found = [r for r in detail["readings"] if r["rule"] == rule]  # type: ignore[index, union-attr]
    assert len(found) == 1, found
    return found[0]  # type: ignore[no-any-return]


def test_a_latency_regression_goes_pending_firing_escalated_acknowledged_resolved(
    make_beat, webhook: Webhook
) -> None:  # type: ignore[no-untyped-def]
    beat = make_beat(
        alert_webhook_url=webhook.url, operator_keys={"ops-key": "alice"}, api_keys={"k": "acme"}
    )
    traffic(beat, range(0, 5))
    detail = beat.tick(at(5))
    assert reading(detail, "HighLatency")["status"] == "ok"
    assert alerts(beat, "HighLatency") == []

    traffic(beat, range(5, 11), slow=8)  # 8 of 25 at 12 s: p95 12 s from the first bad minute on
    detail = beat.tick(at(6))
    assert reading(detail, "HighLatency")["value"] == pytest.approx(12_000, rel=0.01)  # a merged sketch
    (alert,) = alerts(beat, "HighLatency")
    assert (alert.state, alert.open_key) == ("pending", "")
    assert webhook.received == []  # pending is not announced

    beat.tick(at(10))  # 4 minutes pending: not yet
    assert alerts(beat, "HighLatency")[0].state == "pending"
    beat.tick(at(11))
    (alert,) = alerts(beat, "HighLatency")
    assert (alert.state, alert.fired_at) == ("firing", at(11))
    (firing,) = webhook.received
    assert firing["text"].startswith("[FIRING] WARNING HighLatency")
    fields = {f["title"]: f["value"] for f in firing["attachments"][0]["fields"]}
    assert fields["Value"].startswith("12.0") and fields["Condition"] == "latency_p95_ms > 10.00 s"
    assert fields["Acknowledge"] == f"coachline alerts ack {alert.id}"

    traffic(beat, range(21, 26), slow=8)
    beat.tick(at(26))  # 15 minutes firing, unacknowledged: level 1 of the performance matrix
    alert = alerts(beat, "HighLatency")[0]
    assert alert.escalation_level == 1
    escalated = webhook.received[-1]["text"]
    assert escalated.startswith("[ESCALATED]") and "Tech Lead" in escalated

    client = TestClient(build_api(beat.runtime, CompletionWaiter()))
    acked = client.post(f"/v1/alerts/{alert.id}/ack", headers=OPERATOR)
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledged_by"] == "alice"

    traffic(beat, range(66, 71), slow=8)
    beat.tick(at(71))  # an hour after firing: acknowledged, so no level 2
    assert alerts(beat, "HighLatency")[0].escalation_level == 1
    assert len(webhook.received) == 2

    traffic(beat, range(71, 80))  # recovered
    beat.tick(at(72))  # the window still holds bad minutes: still true
    beat.tick(at(76))  # false for 2 minutes: kept firing (keep_firing_for 5m)
    assert alerts(beat, "HighLatency")[0].state == "firing"
    beat.tick(at(79))
    (alert,) = alerts(beat, "HighLatency")
    assert (alert.state, alert.open_key, alert.resolved_at) == ("resolved", None, at(79))
    assert webhook.received[-1]["text"].startswith("[RESOLVED] WARNING HighLatency")
    assert len(webhook.received) == 3

    with session_scope(beat.settings.database_url) as session:
        kinds = [e.kind for e in history(session, alert.id)]
    assert kinds == ["pending", "firing", "escalated", "acknowledged", "resolved"]
    status = client.get("/v1/status", headers=OPERATOR).json()
    assert status["open_alerts"] == []


def test_error_rate_and_privacy_alerts_with_a_webhook_that_fails_first(make_beat, webhook: Webhook) -> None:  # type: ignore[no-untyped-def]
    beat = make_beat(alert_webhook_url=webhook.url)
    webhook.fail_next = 1
    traffic(beat, range(0, 7), failed=3)  # 12 % errors
    with session_scope(beat.settings.database_url) as session:
        store_request(
            session,
            finished_at=minute(T0, 6, 59),
            privacy_level="sensitive",
            attempts=[Try(outcome="error"), Try(pool=None, model=CLOUD_MODEL, processing_mode="cloud")],
        )
    detail = beat.tick(at(2))
    assert reading(detail, "HighErrorRate")["value"] == 0.12
    assert alerts(beat, "HighErrorRate")[0].state == "pending"
    detail = beat.tick(at(7))
    assert alerts(beat, "HighErrorRate")[0].state == "firing"
    assert alerts(beat, "PrivacyViolation")[0].state == "firing"  # no `for`: at once
    assert reading(detail, "PrivacyViolation")["value"] == 1
    # Two firing messages; the webhook refused the first post, so one is waiting to be retried.
    assert len(webhook.received) == 1
    with session_scope(beat.settings.database_url) as session:
        waiting = session.scalars(select(AlertNotification).where(AlertNotification.sent_at.is_(None))).all()
        assert [(n.attempts, n.last_error) for n in waiting] == [(1, "HTTP 500")]
    beat.tick(at(8, 15))  # the retry is due 30 s later
    assert len(webhook.received) == 2
    assert {m["text"].split(":")[0] for m in webhook.received} == {
        "[FIRING] CRITICAL HighErrorRate",
        "[FIRING] CRITICAL PrivacyViolation",
    }


def test_unmeasured_inputs_are_no_data_and_never_alert(make_beat) -> None:  # type: ignore[no-untyped-def]
    beat = make_beat()
    traffic(beat, range(0, 2), n=3)
    detail = beat.tick(at(2))
    memory = reading(detail, "HighMemoryUsage")
    assert (memory["status"], memory["value"]) == ("no_data", None)
    assert "not measured" in str(memory["reason"])
    # 3 requests a minute are below the latency rules' 20 samples: no data, not "fine".
    assert reading(detail, "HighLatency")["status"] == "no_data"
    with session_scope(beat.settings.database_url) as session:
        assert session.scalars(select(Alert)).all() == []


def test_low_ratings_fire_the_quality_alerts_per_their_thresholds(make_beat) -> None:  # type: ignore[no-untyped-def]
    beat = make_beat()
    with session_scope(beat.settings.database_url) as session:
        for i, rating in enumerate([4, 4, 4, 3, 3, 4]):  # mean 3.67: below 4.0, not below 3.5
            store_request(session, finished_at=minute(T0, 0, 5 + i), rating=rating)
    detail = beat.tick(at(1))
    assert round(float(reading(detail, "ResponseQualityWarning")["value"]), 2) == 3.67  # type: ignore[arg-type]
    assert alerts(beat, "ResponseQualityWarning")[0].state == "firing"
    assert alerts(beat, "ResponseQualityCritical") == []


def test_model_health_alert_is_per_model(make_beat) -> None:  # type: ignore[no-untyped-def]
    beat = make_beat()
    with session_scope(beat.settings.database_url) as session:
        for m in range(0, 12):
            for i in range(5):  # fast model: 11 s mean (CRITICAL); cloud model: 1 s (fine)
                store_request(session, finished_at=minute(T0, m, 1 + i), latency_ms=11_000)
                store_request(
                    session,
                    finished_at=minute(T0, m, 10 + i),
                    latency_ms=1_000,
                    tier="CLOUD_ENHANCED",
                    decided_pool=None,
                    decided_mode="cloud",
                    attempts=[Try(pool=None, model=CLOUD_MODEL, processing_mode="cloud")],
                )
    beat.tick(at(1))
    detail = beat.tick(at(6))
    readings = [r for r in detail["readings"] if r["rule"] == "ModelHealthCritical"]
    per_model = {r["labels"].get("model"): r for r in readings}
    assert per_model[FAST_MODEL]["value"] == 4 and per_model[CLOUD_MODEL]["value"] <= 1
    (alert,) = alerts(beat, "ModelHealthCritical")
    assert (alert.labels, alert.state) == ({"model": FAST_MODEL}, "firing")
