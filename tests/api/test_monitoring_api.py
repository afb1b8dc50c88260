"""The monitoring endpoints' contract: feedback (tenants, their own succeeded requests only),
status and alert acknowledgement (operators only), with the API's error shape."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from coachline.cli.runtime import build, build_api
from coachline.db.monitoring import Alert, Feedback
from coachline.db.session import session_scope
from coachline.events import CompletionWaiter, LocalPublisher
from coachline.settings import Settings
from tests.scheduler.traffic import FAST_MODEL, store_request

AUTH = {"Authorization": "Bearer k-acme"}
OTHER = {"Authorization": "Bearer k-other"}
OPERATOR = {"Authorization": "Bearer ops-key"}
NOW = dt.datetime.now(dt.UTC)


@dataclass
class Api:
    client: TestClient
    url: str

    def request(self, *, status: str = "succeeded", tenant: str = "acme") -> str:
        with session_scope(self.url) as session:
            return store_request(session, finished_at=NOW, status=status, tenant=tenant)

    def alert(self, state: str) -> int:
        with session_scope(self.url) as session:
            alert = Alert(
                rule="HighLatency",
                labels={},
                labels_key="",
                open_key="" if state in ("pending", "firing") else None,
                state=state,
                level="warning",
                escalation_policy="performance",
                channels=["slack"],
                summary="p95 end-to-end latency above 10 s",
                expression="latency_p95_ms > 10000",
                value=12_000.0,
                threshold=10_000.0,
                rules_version=1,
                pending_since=NOW,
                fired_at=NOW if state != "pending" else None,
                last_true_at=NOW,
                resolved_at=None if state in ("pending", "firing") else NOW,
                last_evaluated_at=NOW,
            )
            session.add(alert)
            session.flush()
            return alert.id


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    settings = Settings(
        database_url=sqlite_url,
        api_keys={"k-acme": "acme", "k-other": "other"},
        operator_keys={"ops-key": "alice"},
        max_message_chars=100,
    )
    waiter = CompletionWaiter()
    runtime = build(settings, broker_url="memory://", events=LocalPublisher(waiter))
    with TestClient(build_api(runtime, waiter)) as client:
        yield Api(client, sqlite_url)


def _error(response: object) -> dict[str, str]:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}, body
    return body["error"]


def _rating_count() -> float:
    value = REGISTRY.get_sample_value("response_quality_score_count", {"pool": "fast", "model": FAST_MODEL})
    return value or 0.0


def test_feedback_is_stored_once_and_counted(api: Api) -> None:
    request_id = api.request()
    before = _rating_count()
    body = {"rating": 2, "correction": "Mention the weekend too.", "clarification_requested": True}
    response = api.client.post(f"/v1/requests/{request_id}/feedback", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    assert response.json()["rating"] == 2 and response.json()["clarification_requested"] is True
    with session_scope(api.url) as session:
        stored = session.get(Feedback, request_id)
        assert stored is not None and (stored.rating, stored.tenant) == (2, "acme")
        assert stored.correction == "Mention the weekend too."
    assert _rating_count() == before + 1
    # The same feedback again is a safe retry; different feedback is a conflict.
    again = api.client.post(f"/v1/requests/{request_id}/feedback", json=body, headers=AUTH)
    assert again.status_code == 200 and again.json() == response.json()
    other = api.client.post(f"/v1/requests/{request_id}/feedback", json={"rating": 5}, headers=AUTH)
    assert other.status_code == 409 and _error(other)["code"] == "feedback_exists"
    assert _rating_count() == before + 1


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({}, "rating", 422),
        ({"rating": 0}, "rating", 422),
        ({"rating": 6}, "rating", 422),
        ({"rating": "5"}, "rating", 422),
        ({"rating": 4.5}, "rating", 422),
        ({"rating": 4, "correction": 7}, "correction", 422),
        ({"rating": 4, "correction": "   "}, "correction", 422),
        ({"rating": 4, "correction": "x" * 101}, "correction", 413),
        ({"rating": 4, "clarification_requested": "yes"}, "clarification_requested", 422),
        ({"rating": 4, "stars": 5}, "stars", 422),
    ],
)
def test_bad_feedback_names_the_field(api: Api, body: dict[str, object], field: str, status: int) -> None:
    request_id = api.request()
    response = api.client.post(f"/v1/requests/{request_id}/feedback", json=body, headers=AUTH)
    assert response.status_code == status, response.text
    assert _error(response)["field"] == field


def test_feedback_needs_json_and_a_key(api: Api) -> None:
    request_id = api.request()
    url = f"/v1/requests/{request_id}/feedback"
    bad_json = api.client.post(url, content=b"{", headers={**AUTH, "Content-Type": "application/json"})
    assert bad_json.status_code == 400 and _error(bad_json)["code"] == "invalid_json"
    assert api.client.post(url, json={"rating": 5}).status_code == 401


def test_feedback_only_on_ones_own_succeeded_requests(api: Api) -> None:
    mine = api.request()
    theirs = api.request(tenant="other")
    failed = api.request(status="failed")
    assert (
        api.client.post(f"/v1/requests/{mine}/feedback", json={"rating": 5}, headers=OTHER).status_code == 404
    )
    unknown = api.client.post(f"/v1/requests/{'0' * 32}/feedback", json={"rating": 5}, headers=AUTH)
    assert unknown.status_code == 404 and _error(unknown)["code"] == "not_found"
    assert (
        api.client.post(f"/v1/requests/{theirs}/feedback", json={"rating": 5}, headers=AUTH).status_code
        == 404
    )
    conflict = api.client.post(f"/v1/requests/{failed}/feedback", json={"rating": 1}, headers=AUTH)
    assert conflict.status_code == 409 and _error(conflict)["code"] == "request_not_succeeded"


def test_feedback_text_never_reaches_the_logs(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    import structlog

    request_id = api.request()
    with structlog.testing.capture_logs() as logs:
        body = {"rating": 3, "correction": "Secret-correction-9931 about my boss"}
        assert (
            api.client.post(f"/v1/requests/{request_id}/feedback", json=body, headers=AUTH).status_code == 201
        )
    assert any(e["event"] == "api.feedback" and e["rating"] == 3 for e in logs)
    assert "Secret-correction-9931" not in repr(logs) + capsys.readouterr().err


def test_status_and_alerts_need_an_operator_key(api: Api) -> None:
    for path in ("/v1/status", "/v1/alerts"):
        assert api.client.get(path).status_code == 401
        forbidden = api.client.get(path, headers=AUTH)
        assert forbidden.status_code == 403 and _error(forbidden)["code"] == "forbidden"
    status = api.client.get("/v1/status", headers=OPERATOR)
    assert status.status_code == 200
    assert set(status.json()) >= {"models", "open_alerts", "rollups", "no_data", "runs", "as_of"}


def test_acknowledging_alerts(api: Api) -> None:
    firing, resolved = api.alert("firing"), api.alert("resolved")
    acked = api.client.post(f"/v1/alerts/{firing}/ack", headers=OPERATOR)
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledged_by"] == "alice"
    first_ack = acked.json()["acknowledged_at"]
    # Acknowledging again keeps the first acknowledgement.
    assert (
        api.client.post(f"/v1/alerts/{firing}/ack", headers=OPERATOR).json()["acknowledged_at"] == first_ack
    )
    closed = api.client.post(f"/v1/alerts/{resolved}/ack", headers=OPERATOR)
    assert closed.status_code == 409 and _error(closed)["code"] == "alert_closed"
    missing = api.client.post("/v1/alerts/999/ack", headers=OPERATOR)
    assert missing.status_code == 404 and _error(missing)["code"] == "not_found"
    assert api.client.post(f"/v1/alerts/{firing}/ack", headers=AUTH).status_code == 403
    detail = api.client.get(f"/v1/alerts/{firing}", headers=OPERATOR).json()
    assert [e["kind"] for e in detail["history"]] == ["acknowledged"]
    listed = api.client.get("/v1/alerts", headers=OPERATOR).json()["alerts"]
    assert {a["id"] for a in listed} == {firing, resolved}
