"""Failure injection and slow start, as the openai client (and coachline's engine client) see them."""

from __future__ import annotations

import threading
import time

import httpx
import openai
import pytest

from tests.sim.conftest import StartSim
from tests.sim.simkit import chat, client, user


def _ask(handle_client: openai.OpenAI) -> str:
    answer = handle_client.chat.completions.create(model="m", messages=user("hello"), max_tokens=5)
    return answer.choices[0].message.content or ""


def test_health_is_503_while_loading_then_200(start_sim: StartSim) -> None:
    started = time.monotonic()
    sim = start_sim(model="m", startup_s=0.4)
    loading = httpx.get(f"{sim.base_url}/health")
    assert loading.status_code == 503
    assert loading.json()["error"]["code"] == 503
    # Requests are refused while loading, not queued.
    with pytest.raises(openai.InternalServerError) as caught:
        _ask(client(sim))
    assert caught.value.status_code == 503

    while httpx.get(f"{sim.base_url}/health").status_code != 200:
        assert time.monotonic() - started < 3.0, "never became healthy"
        time.sleep(0.02)
    assert time.monotonic() - started >= 0.4
    assert _ask(client(sim))


def test_injected_500(start_sim: StartSim) -> None:
    sim = start_sim(model="m", fail_first_n=1, fail_first_kind="500")
    with pytest.raises(openai.InternalServerError) as caught:
        _ask(client(sim))
    assert caught.value.status_code == 500
    assert caught.value.response.json()["error"]["type"] == "InternalServerError"
    assert _ask(client(sim))  # only the first request fails


def test_injected_429_carries_retry_after(start_sim: StartSim) -> None:
    sim = start_sim(model="m", fail_first_n=1, fail_first_kind="429", retry_after_s=2.5)
    with pytest.raises(openai.RateLimitError) as caught:
        _ask(client(sim))
    headers = caught.value.response.headers
    assert headers["retry-after"] == "2.5"
    assert headers["retry-after-ms"] == "2500"


def test_openai_client_waits_retry_after_then_succeeds(start_sim: StartSim) -> None:
    sim = start_sim(model="m", fail_first_n=2, fail_first_kind="429", retry_after_s=0.2)
    started = time.perf_counter()
    assert _ask(client(sim, max_retries=2))
    assert time.perf_counter() - started >= 0.4  # two waits of 0.2 s
    assert sim.simulator.failures.injected == {"429": 2}


def test_injected_timeout_holds_the_connection(start_sim: StartSim) -> None:
    sim = start_sim(model="m", fail_first_n=2, fail_first_kind="timeout", timeout_hold_s=0.3)
    started = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        _ask(client(sim, timeout=0.1))
    assert 0.1 <= time.perf_counter() - started < 0.3
    # A patient client is answered 504 once the hold is over.
    started = time.perf_counter()
    response = chat(sim, {"model": "m", "messages": user("hello")})
    assert response.status_code == 504
    assert time.perf_counter() - started >= 0.3


def test_stop_releases_held_requests(start_sim: StartSim) -> None:
    sim = start_sim(model="m", fail_first_n=1, fail_first_kind="timeout", timeout_hold_s=30)
    statuses: list[int] = []
    waiter = threading.Thread(
        target=lambda: statuses.append(chat(sim, {"model": "m", "messages": user("x")}).status_code)
    )
    waiter.start()
    time.sleep(0.2)
    started = time.perf_counter()
    sim.stop()
    waiter.join(5)
    assert time.perf_counter() - started < 3.0  # not the 30 s hold
    assert statuses == [504]


def test_injected_context_length_reads_like_vllm(start_sim: StartSim) -> None:
    sim = start_sim(model="m", fail_first_n=1, fail_first_kind="context_length", max_model_len=4096)
    with pytest.raises(openai.BadRequestError) as caught:
        _ask(client(sim))
    message = caught.value.response.json()["error"]["message"]
    assert "maximum context length is 4096 tokens" in message


def test_fail_first_n_then_serve(start_sim: StartSim) -> None:
    sim = start_sim(model="m", fail_first_n=3, fail_first_kind="500")
    statuses = [chat(sim, {"model": "m", "messages": user(f"q{i}")}).status_code for i in range(5)]
    assert statuses == [500, 500, 500, 200, 200]


def test_failure_rate_is_seeded_and_reproducible(start_sim: StartSim) -> None:
    def pattern(seed: int) -> list[int]:
        sim = start_sim(model="m", failure_rate=0.5, failure_kinds="500,429,context_length", seed=seed)
        return [
            chat(sim, {"model": "m", "messages": user(f"q{i}"), "max_tokens": 2}).status_code
            for i in range(30)
        ]

    first = pattern(7)
    assert pattern(7) == first
    assert pattern(8) != first
    assert {200, 500, 429, 400} <= set(first)
    assert 6 <= first.count(200) <= 24  # about half fail
