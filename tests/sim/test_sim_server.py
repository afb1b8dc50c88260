"""Running simulators in threads: ports, graceful stop, start errors, the load generator."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tests.sim.conftest import StartSim
from tests.sim.simkit import client, user
from workers.sim import SimConfig, SimStartError, start_in_thread
from workers.sim.loadgen import run_load


def test_handle_reports_the_bound_port_and_stops_as_a_context_manager() -> None:
    with start_in_thread(SimConfig.from_profile("fast", model="m")) as handle:
        assert handle.url == f"http://127.0.0.1:{handle.port}/v1"
        assert handle.port > 0
        assert handle.running
    assert not handle.running


def test_a_taken_port_is_a_clear_start_error(start_sim: StartSim) -> None:
    first = start_sim(model="m")
    with pytest.raises(SimStartError, match=f"127.0.0.1:{first.port}"):
        start_in_thread(SimConfig.from_profile("fast", model="m"), port=first.port)


def test_stop_lets_an_answer_in_flight_finish(start_sim: StartSim) -> None:
    sim = start_sim(model="m", ttft_base_ms=10, itl_base_ms=20, output_tokens_min=15, output_tokens_max=15)
    texts: list[str] = []

    def stream() -> None:
        chunks = client(sim).chat.completions.create(model="m", messages=user("drain"), stream=True)
        texts.append("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))

    reader = threading.Thread(target=stream)
    reader.start()
    time.sleep(0.1)  # mid-answer
    sim.stop()
    reader.join(5)
    assert len(texts) == 1 and len(texts[0].split()) == 15


def test_load_generator_measures_a_fast_simulator(start_sim: StartSim) -> None:
    sim = start_sim(model="m")
    result = asyncio.run(run_load(sim.url, model="m", concurrency=4, duration_s=0.3))
    assert result.errors == 0
    assert result.requests > 10
    assert result.requests_per_s > 0 and result.p50_ms <= result.p99_ms
