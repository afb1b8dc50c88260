"""The producer API's contract: validation, auth, idempotency, lookups. No worker runs here:
accepted requests stay queued in the in-memory broker."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from coachline.cli.runtime import build, build_api
from coachline.events import CompletionWaiter, LocalPublisher
from coachline.settings import Settings

KEY = "k-acme"
OTHER_KEY = "k-other"
AUTH = {"Authorization": f"Bearer {KEY}"}
GOOD = {"messages": [{"role": "user", "content": "How do I build a morning routine?"}]}


@pytest.fixture
def client(sqlite_url: str) -> Iterator[TestClient]:
    settings = Settings(
        database_url=sqlite_url,
        api_keys={KEY: "acme", OTHER_KEY: "other"},
        max_message_chars=1000,
        max_messages=5,
        max_body_bytes=8192,
    )
    waiter = CompletionWaiter()
    runtime = build(settings, broker_url="memory://", events=LocalPublisher(waiter), shared_state="memory")
    with TestClient(build_api(runtime, waiter)) as test_client:
        yield test_client


def _error(response: object) -> dict[str, str]:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}, body
    return body["error"]


def test_accepts_and_shows_a_queued_request(client: TestClient) -> None:
    response = client.post("/v1/requests", json=GOOD, headers=AUTH)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and len(body["id"]) == 32
    view = client.get(f"/v1/requests/{body['id']}", headers=AUTH).json()
    assert view["status"] == "queued"
    assert view["routing"] is None and view["response"] is None and view["error"] is None
    assert view["attempts"] == []


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"messages": []}, "messages", 422),
        ({}, "messages", 422),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role", 422),
        ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content", 422),
        ({"messages": [{"role": "user"}]}, "messages.0.content", 422),
        ({"messages": [{"role": "user", "content": "   "}]}, "messages.0.content", 422),
        ({"messages": [{"role": "user", "content": "x" * 1001}]}, "messages.0.content", 413),
        ({"messages": [{"role": "user", "content": "hi"}] * 6}, "messages", 422),
        ({"messages": "hello"}, "messages", 422),
        ({**GOOD, "max_tokens": "many"}, "max_tokens", 422),
        ({**GOOD, "max_tokens": 0}, "max_tokens", 422),
        ({**GOOD, "max_tokens": 100_000}, "max_tokens", 422),
        ({**GOOD, "temperature": 9}, "temperature", 422),
        ({**GOOD, "routing_hints": {"privacy_level": "secret"}}, "routing_hints.privacy_level", 422),
        ({**GOOD, "routing_hints": {"prefer_local": "yes"}}, "routing_hints.prefer_local", 422),
        ({**GOOD, "routing_hints": {"max_latency_ms": -1}}, "routing_hints.max_latency_ms", 422),
        ({**GOOD, "routing_hint": {}}, "routing_hint", 422),
        ({**GOOD, "user_id": 42}, "user_id", 422),
    ],
)
def test_bad_bodies_name_the_field(
    client: TestClient, body: dict[str, object], field: str, status: int
) -> None:
    response = client.post("/v1/requests", json=body, headers=AUTH)
    assert response.status_code == status, response.text
    error = _error(response)
    assert error["field"] == field
    assert error["message"].startswith(field)


def test_body_that_is_not_an_object(client: TestClient) -> None:
    response = client.post("/v1/requests", json=[GOOD], headers=AUTH)
    assert response.status_code == 422
    assert "dictionary" in _error(response)["message"] or "object" in _error(response)["message"]


def test_invalid_json(client: TestClient) -> None:
    response = client.post(
        "/v1/requests", content=b'{"messages": [', headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_json"


def test_body_over_the_limit(client: TestClient) -> None:
    big = json.dumps({"messages": [{"role": "user", "content": "y" * 9000}]})
    response = client.post("/v1/requests", content=big, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert _error(response)["code"] == "body_too_large"


def test_wrong_content_type(client: TestClient) -> None:
    response = client.post(
        "/v1/requests", content=b"messages=hi", headers={**AUTH, "Content-Type": "text/plain"}
    )
    assert response.status_code == 415


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}])
def test_auth_is_required(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/v1/requests", json=GOOD, headers=headers)
    assert response.status_code == 401
    assert _error(response)["code"] == "unauthorized"


def test_unknown_and_malformed_ids(client: TestClient) -> None:
    for request_id in ("0" * 32, "not-an-id"):
        response = client.get(f"/v1/requests/{request_id}", headers=AUTH)
        assert response.status_code == 404
        assert _error(response)["code"] == "not_found"


def test_wait_s_is_validated(client: TestClient) -> None:
    request_id = client.post("/v1/requests", json=GOOD, headers=AUTH).json()["id"]
    response = client.get(f"/v1/requests/{request_id}", params={"wait_s": "soon"}, headers=AUTH)
    assert response.status_code == 422
    assert _error(response)["field"] == "wait_s"
    response = client.get(f"/v1/requests/{request_id}", params={"wait_s": -1}, headers=AUTH)
    assert response.status_code == 422


def test_long_poll_times_out_on_a_queued_request(client: TestClient) -> None:
    request_id = client.post("/v1/requests", json=GOOD, headers=AUTH).json()["id"]
    response = client.get(f"/v1/requests/{request_id}", params={"wait_s": 0.3}, headers=AUTH)
    assert response.status_code == 200
    assert response.json()["status"] == "queued"


def test_tenants_do_not_see_each_other(client: TestClient) -> None:
    request_id = client.post("/v1/requests", json=GOOD, headers=AUTH).json()["id"]
    response = client.get(f"/v1/requests/{request_id}", headers={"Authorization": f"Bearer {OTHER_KEY}"})
    assert response.status_code == 404


def test_idempotency_key(client: TestClient) -> None:
    headers = {**AUTH, "Idempotency-Key": "order-1"}
    first = client.post("/v1/requests", json=GOOD, headers=headers)
    again = client.post("/v1/requests", json=GOOD, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    other_body = {"messages": [{"role": "user", "content": "Something else"}]}
    conflict = client.post("/v1/requests", json=other_body, headers=headers)
    assert conflict.status_code == 409
    assert _error(conflict)["code"] == "idempotency_conflict"
    # The same key belongs to each tenant separately.
    other = client.post(
        "/v1/requests",
        json=GOOD,
        headers={"Authorization": f"Bearer {OTHER_KEY}", "Idempotency-Key": "order-1"},
    )
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
    # Without a key every call is a new request.
    assert client.post("/v1/requests", json=GOOD, headers=AUTH).json()["id"] != first.json()["id"]


def test_idempotency_key_too_long(client: TestClient) -> None:
    response = client.post("/v1/requests", json=GOOD, headers={**AUTH, "Idempotency-Key": "k" * 201})
    assert response.status_code == 400


def test_unknown_route_is_a_json_404(client: TestClient) -> None:
    response = client.get("/v1/nothing", headers=AUTH)
    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


def test_health_and_metrics(client: TestClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    client.post("/v1/requests", json=GOOD, headers=AUTH)
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert "coachline_requests_accepted_total" in metrics.text


def test_user_preferences(client: TestClient) -> None:
    url = "/v1/users/u-1/preferences"
    assert client.get(url, headers=AUTH).status_code == 404
    stored = client.put(url, json={"privacy_level": "sensitive", "local_only": True}, headers=AUTH)
    assert stored.status_code == 200
    assert stored.json() == {"user_id": "u-1", "privacy_level": "sensitive", "local_only": True}
    assert client.get(url, headers=AUTH).json()["privacy_level"] == "sensitive"
    # Another tenant's user of the same id is another user.
    assert client.get(url, headers={"Authorization": f"Bearer {OTHER_KEY}"}).status_code == 404
    bad = client.put(url, json={"privacy_level": "secret"}, headers=AUTH)
    assert bad.status_code == 422 and _error(bad)["field"] == "privacy_level"
    assert client.put(url, json={"local_only": "yes"}, headers=AUTH).status_code == 422
    assert (
        client.put(url, content=b"{", headers={**AUTH, "Content-Type": "application/json"}).status_code == 400
    )
    assert client.put(url, json={}, headers={"Authorization": "Bearer nope"}).status_code == 401
