"""The pool-load publisher against real simulated engines and real Redis: the snapshot says what the
engine's /metrics and the broker say."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client import REGISTRY

import migrations
from broker.app import create_app
from coachline.keys import load_key
from coachline.loadsnap import CachedLoadReader, RedisLoadStore
from coachline.settings import Settings
from tests.conftest import free_port
from tests.support import write_pools_file
from workers.generate import IN_FLIGHT
from workers.loadpub import (
    EngineReading,
    LoadPublisher,
    QueueDepth,
    ServiceTime,
    engine_root,
    parse_engine_metrics,
    reading_from,
)
from workers.sim.config import SimConfig
from workers.sim.server import SimHandle, start_in_thread

MODEL = "mistralai/Mistral-7B-Instruct-v0.3"


def hold_requests(sim: SimHandle, count: int) -> list[threading.Thread]:
    """``count`` chat requests sent from background threads; they stay in the engine until it stops."""

    def send(index: int) -> None:
        body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": f"request {index}: " + "plan my week " * (index + 1)}],
            "max_tokens": 8,
        }
        with contextlib.suppress(httpx.HTTPError):  # the simulator stops at the end of the test
            httpx.post(f"{sim.url}/chat/completions", json=body, timeout=120)

    threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads


def wait_engine(sim: SimHandle, *, running: int, waiting: int, timeout_s: float = 10.0) -> dict[str, float]:
    deadline = time.monotonic() + timeout_s
    while True:
        values = parse_engine_metrics(httpx.get(f"{sim.base_url}/metrics").text)
        if (
            values.get("vllm:num_requests_running") == running
            and values.get("vllm:num_requests_waiting") == waiting
        ):
            return values
        assert time.monotonic() < deadline, (
            f"engine never reached {running} running, {waiting} waiting: {values}"
        )
        time.sleep(0.02)


@pytest.fixture
def held_sim() -> Iterator[SimHandle]:
    # Sequences are admitted but never reach their first token: the engine's figures stand still.
    config = SimConfig.from_profile(
        "a100-mistral-7b", model=MODEL, max_num_seqs=4, ttft_base_ms=120_000, kv_capacity_tokens=40_000
    )
    with start_in_thread(config) as sim:
        yield sim


def test_parse_sums_label_sets_and_takes_the_largest_kv_usage() -> None:
    text = "\n".join(
        [
            "# HELP vllm:num_requests_running Number of requests in model execution batches.",
            'vllm:num_requests_running{engine="0",model_name="m"} 3.0',
            'vllm:num_requests_running{engine="1",model_name="m"} 4.0',
            'vllm:num_requests_waiting{engine="0",model_name="a model, with } and spaces"} 2.0',
            'vllm:gpu_cache_usage_perc{engine="0",model_name="m"} 0.25',
            'vllm:gpu_cache_usage_perc{engine="1",model_name="m"} 0.5',
            "vllm:e2e_request_latency_seconds_count 10.0",
            'vllm:e2e_request_latency_seconds_bucket{le="0.3"} 99.0',
        ]
    )
    values = parse_engine_metrics(text)
    assert values["vllm:num_requests_running"] == 7
    assert values["vllm:num_requests_waiting"] == 2
    assert "vllm:e2e_request_latency_seconds_bucket" not in values
    reading = reading_from(values)
    # Before vLLM 0.10 the KV gauge had another name; a fraction is not summed across engines.
    assert (reading.running, reading.waiting, reading.kv_cache_usage, reading.finished) == (7, 2, 0.5, 10)


def test_engine_root_strips_the_openai_path() -> None:
    assert engine_root("http://gpu-1:8000/v1") == "http://gpu-1:8000"
    assert engine_root("http://gpu-1:8000/v1/") == "http://gpu-1:8000"
    assert engine_root("http://gpu-1:8000") == "http://gpu-1:8000"


def test_service_time_is_engine_time_of_recent_requests_without_their_queue_time() -> None:
    service = ServiceTime(window_s=10.0)

    def reading(finished: float, e2e_s: float, queue_s: float) -> EngineReading:
        return EngineReading(0, 0, 0.0, e2e_sum_s=e2e_s, queue_sum_s=queue_s, finished=finished)

    assert service.update(0.0, reading(0, 0.0, 0.0)) == 0.0
    # Two requests finished: 5 s end to end, 1 s of it waiting in the engine -> 2 s each.
    assert service.update(1.0, reading(2, 5.0, 1.0)) == pytest.approx(2000.0)
    # Nothing finished since: the last figure stands.
    assert service.update(2.0, reading(2, 5.0, 1.0)) == pytest.approx(2000.0)
    # Past the window, only recent requests count: 2 more at 0.5 s each.
    assert service.update(12.5, reading(4, 6.0, 1.0)) == pytest.approx(500.0)
    # The engine restarted (its counters went back): start over rather than go negative.
    assert service.update(13.0, reading(1, 0.1, 0.0)) == pytest.approx(500.0)
    assert service.update(14.0, reading(3, 0.5, 0.0)) == pytest.approx(200.0)


def test_snapshot_matches_the_engine_and_the_queue_under_load(
    held_sim: SimHandle, redis_url: str, tmp_path: Path
) -> None:
    url = held_sim.url
    hold_requests(held_sim, 10)
    engine_values = wait_engine(held_sim, running=4, waiting=6)
    assert 0 < engine_values["vllm:kv_cache_usage_perc"] < 1

    settings = Settings(broker_url=redis_url, database_url="sqlite://", pools_file=_pools(held_sim, tmp_path))
    pool = settings.pools.pool("fast")
    app = create_app(settings)
    # kombu's Redis transport keeps a queue as a list, plus one sub-list per priority step (0, 3, 6,
    # 9; a priority takes the step at or below it): the depth is the sum of them all.
    for priority in (0, 0, 0, 9, 5):
        app.send_task(
            "workers.generate", args=["x"], queue=pool.queue, routing_key=pool.queue, priority=priority
        )
    client = redis.Redis.from_url(redis_url)
    lists = [pool.queue, f"{pool.queue}\x06\x163", f"{pool.queue}\x06\x166", f"{pool.queue}\x06\x169"]
    assert [client.llen(name) for name in lists] == [3, 1, 0, 1]

    store = RedisLoadStore(redis_url, ttl_s=7)
    depth = QueueDepth(app.connection_for_read)
    publisher = LoadPublisher(pool=pool, engines=[url], store=store, queue_depth=depth)
    for _ in range(3):
        IN_FLIGHT.enter(url)
    try:
        before = time.time()
        published = publisher.publish_once()
    finally:
        for _ in range(3):
            IN_FLIGHT.leave(url)
        publisher.stop()

    [load] = CachedLoadReader(store).read("fast")
    assert published == [load]
    assert load.engine_url == url
    assert (load.inflight, load.running, load.waiting, load.queue_depth) == (3, 4, 6, 5)
    assert load.kv_cache_usage == pytest.approx(engine_values["vllm:kv_cache_usage_perc"])
    assert load.max_num_seqs == pool.max_num_seqs
    assert before <= load.updated_at <= time.time()
    assert 0 < client.ttl(load_key("fast")) <= 7


def test_an_empty_queue_has_depth_zero(redis_url: str, tmp_path: Path) -> None:
    settings = Settings(
        broker_url=redis_url,
        database_url="sqlite://",
        pools_file=write_pools_file(tmp_path / "p.yaml", fast_ports=[1], standard_ports=[2], cloud_port=None),
    )
    depth = QueueDepth(create_app(settings).connection_for_read)
    try:
        assert depth("pool.fast") == 0
    finally:
        depth.close()


def test_service_time_follows_the_engine(redis_url: str, tmp_path: Path) -> None:
    # 50 ms to the first token, then (max_tokens 8) 7 more tokens 5 ms apart: 85 ms a request.
    config = SimConfig.from_profile(
        "fast", model=MODEL, ttft_base_ms=50, itl_base_ms=5, output_tokens_min=20, output_tokens_max=20
    )
    with start_in_thread(config) as sim, ExitStack() as stack:
        settings = Settings(broker_url=redis_url, database_url="sqlite://", pools_file=_pools(sim, tmp_path))
        pool = settings.pools.pool("fast")
        publisher = LoadPublisher(
            pool=pool, engines=[sim.url], store=RedisLoadStore(redis_url), queue_depth=lambda _queue: 0
        )
        stack.callback(publisher.stop)
        assert publisher.publish_once()[0].service_ms == 0.0  # nothing finished yet: unknown
        threads = hold_requests(sim, 8)
        for thread in threads:
            thread.join(10)
        [load] = publisher.publish_once()
    assert load.service_ms == pytest.approx(85, rel=0.2)
    assert (load.running, load.waiting, load.inflight) == (0, 0, 0)


def test_an_engine_whose_metrics_fail_is_left_out_and_counted(
    held_sim: SimHandle, redis_url: str, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    settings = Settings(broker_url=redis_url, database_url="sqlite://", pools_file=_pools(held_sim, tmp_path))
    pool = settings.pools.pool("fast")
    store = RedisLoadStore(redis_url)
    publisher = LoadPublisher(pool=pool, engines=[held_sim.url, dead], store=store, queue_depth=lambda _q: 0)
    labels = {"pool": "fast", "stage": "scrape"}
    failures = REGISTRY.get_sample_value("coachline_load_snapshot_failures_total", labels) or 0.0
    try:
        published = publisher.publish_once()
    finally:
        publisher.stop()
    assert [load.engine_url for load in published] == [held_sim.url]
    assert [load.engine_url for load in store.read("fast")] == [held_sim.url]
    assert REGISTRY.get_sample_value("coachline_load_snapshot_failures_total", labels) == failures + 1


def test_the_publisher_thread_refreshes_the_snapshot(
    held_sim: SimHandle, redis_url: str, tmp_path: Path
) -> None:
    settings = Settings(broker_url=redis_url, database_url="sqlite://", pools_file=_pools(held_sim, tmp_path))
    store = RedisLoadStore(redis_url)
    publisher = LoadPublisher(
        pool=settings.pools.pool("fast"),
        engines=[held_sim.url],
        store=store,
        queue_depth=lambda _q: 0,
        interval_s=0.1,
    ).start()
    try:
        stamps: set[float] = set()
        deadline = time.monotonic() + 5
        while len(stamps) < 3 and time.monotonic() < deadline:
            stamps.update(load.updated_at for load in store.read("fast"))
            time.sleep(0.05)
    finally:
        publisher.stop()
    assert len(stamps) >= 3


@pytest.mark.slow
def test_worker_pool_publishes_the_load_of_every_engine_of_its_pool(redis_url: str, tmp_path: Path) -> None:
    config = SimConfig.from_profile("fast", model=MODEL)
    with start_in_thread(config) as first, start_in_thread(config) as second:
        pools = write_pools_file(
            tmp_path / "pools.yaml", fast_ports=[first.port, second.port], standard_ports=[1], cloud_port=None
        )
        database_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
        migrations.upgrade(database_url)
        env = {
            **os.environ,
            "COACHLINE_BROKER_URL": redis_url,
            "COACHLINE_DATABASE_URL": database_url,
            "COACHLINE_POOLS_FILE": str(pools),
            "COACHLINE_LOAD_PUBLISH_INTERVAL_S": "0.2",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "coachline", "worker", "pool", "--pool", "fast"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            store = RedisLoadStore(redis_url)
            deadline = time.monotonic() + 30
            while len(store.read("fast")) < 2:
                assert proc.poll() is None and time.monotonic() < deadline, "no snapshot from `worker pool`"
                time.sleep(0.1)
            loads = {load.engine_url: load for load in store.read("fast")}
            assert set(loads) == {first.url, second.url}
            assert {load.max_num_seqs for load in loads.values()} == {32}
            wait_consuming(redis_url, "pool.fast", proc)
        finally:
            proc.terminate()
            _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr.decode()[-2000:]


def wait_consuming(redis_url: str, queue: str, proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    """Until the worker takes messages from ``queue``: a probe for an unknown request is consumed."""
    client = redis.Redis.from_url(redis_url)
    settings = Settings(broker_url=redis_url, database_url="sqlite://")
    create_app(settings).send_task("workers.generate", args=["0" * 32], queue=queue, routing_key=queue)
    deadline = time.monotonic() + timeout_s
    while client.llen(queue):
        assert proc.poll() is None and time.monotonic() < deadline, "the worker never consumed"
        time.sleep(0.05)


def _pools(sim: SimHandle, tmp_path: Path) -> Path:
    return write_pools_file(
        tmp_path / "pools.yaml", fast_ports=[sim.port], standard_ports=[1], cloud_port=None
    )
