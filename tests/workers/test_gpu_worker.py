"""`coachline worker gpu` as a real process against simulated engines, with PostgreSQL and Redis:
engine start-up and failures, pinning to one engine, and the SIGTERM drain."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from broker.api.schemas import CreateRequest
from broker.api.service import create_request
from broker.publish import publish
from broker.queues import GENERATE_TASK, ROUTE_TASK, ROUTER_QUEUE
from broker.worker import WorkerThread, start_worker_thread
from coachline.cli.runtime import build
from coachline.db.models import Attempt, Request, Result
from coachline.db.session import session_scope
from coachline.errors import ConfigError
from coachline.keys import load_key
from coachline.pools import parse_pools
from coachline.settings import Settings
from tests.conftest import free_port
from workers.gpu import PinnedEngine, batch_concurrency, engine_argv, select_engine
from workers.sim.config import SimConfig
from workers.sim.server import start_in_thread

MODEL = "mistralai/Mistral-7B-Instruct-v0.3"
SIM = "{python} -m coachline sim --profile fast --port {port} --model {model} --max-num-seqs {max_num_seqs}"


def pools_data(ports: list[int], *, max_num_seqs: int = 8) -> dict[str, object]:
    return {
        "pools": [
            {
                "name": "fast",
                "model": MODEL,
                "engines": [{"base_url": f"http://127.0.0.1:{p}/v1", "gpu": i} for i, p in enumerate(ports)],
                "max_num_seqs": max_num_seqs,
                "tiers": ["LOCAL_FAST", "LOCAL_STANDARD"],
                "gpu_hour_usd": 2.0,
            }
        ]
    }


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def engine_pid(worker_pid: int) -> int:
    [pid] = Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split()
    return int(pid)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def multiprocess_sample(directory: Path, name: str, labels: dict[str, str]) -> float | None:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return registry.get_sample_value(name, labels)


@dataclass
class GpuStack:
    """PostgreSQL, Redis, a router thread in this process, and `coachline worker gpu` processes."""

    tmp_path: Path
    settings: Settings
    env: dict[str, str]
    ports: list[int]
    app: Any
    router: WorkerThread | None = None
    logs: dict[int, Path] = field(default_factory=dict)

    @property
    def prometheus_dir(self) -> Path:
        return Path(self.env["PROMETHEUS_MULTIPROC_DIR"])

    def url(self, gpu: int) -> str:
        return f"http://127.0.0.1:{self.ports[gpu]}/v1"

    def worker(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        path = self.tmp_path / f"worker-{len(self.logs)}.log"
        with open(path, "wb") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                [sys.executable, "-m", "coachline", "worker", "gpu", "--pool", "fast", *args],
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.logs[proc.pid] = path
        return proc

    def output(self, proc: subprocess.Popen[bytes]) -> str:
        return self.logs[proc.pid].read_text(errors="replace")[-5000:]

    def wait_consuming(self, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
        """Until the worker takes messages: a probe for an unknown request gets consumed."""
        publish(self.app, GENERATE_TASK, ["0" * 32], queue="pool.fast")
        client = redis.Redis.from_url(self.settings.broker_url)
        deadline = time.monotonic() + timeout_s
        while client.llen("pool.fast"):
            assert proc.poll() is None, self.output(proc)
            assert time.monotonic() < deadline, "the GPU worker never consumed\n" + self.output(proc)
            time.sleep(0.05)

    def submit(self, count: int, *, max_tokens: int = 16) -> list[str]:
        ids = []
        for index in range(count):
            body = CreateRequest.model_validate(
                {
                    "messages": [
                        {"role": "user", "content": f"One tip for a calmer morning, please ({index})."}
                    ]
                }
                | {"max_tokens": max_tokens}
            )
            with session_scope(self.settings.database_url) as session:
                created = create_request(
                    session, tenant="t", body=body, idempotency_key=None, settings=self.settings
                )
            publish(self.app, ROUTE_TASK, [created.id], queue=ROUTER_QUEUE)
            ids.append(created.id)
        return ids

    def statuses(self, ids: list[str]) -> dict[str, str]:
        with session_scope(self.settings.database_url) as session:
            rows = session.execute(sa.select(Request.id, Request.status).where(Request.id.in_(ids))).all()
        return {request_id: status for request_id, status in rows}

    def wait_statuses(self, ids: list[str], wanted: set[str], timeout_s: float = 60) -> dict[str, str]:
        deadline = time.monotonic() + timeout_s
        while True:
            statuses = self.statuses(ids)
            if all(status in wanted for status in statuses.values()):
                return statuses
            assert time.monotonic() < deadline, f"still {sorted(set(statuses.values()))}"
            time.sleep(0.1)

    def attempts(self, ids: list[str]) -> list[tuple[str, str, str]]:
        with session_scope(self.settings.database_url) as session:
            rows = session.execute(
                sa.select(Attempt.request_id, Attempt.engine_url, Attempt.outcome).where(
                    Attempt.request_id.in_(ids)
                )
            ).all()
        return [(r, u, o) for r, u, o in rows]

    def results(self, ids: list[str]) -> int:
        with session_scope(self.settings.database_url) as session:
            return int(
                session.scalar(
                    sa.select(sa.func.count()).select_from(Result).where(Result.request_id.in_(ids))
                )
                or 0
            )


@pytest.fixture
def gpu_stack(tmp_path: Path, pg_url: str, redis_url: str) -> Iterator[object]:
    stacks: list[GpuStack] = []

    def make(*, engines: int = 2, max_num_seqs: int = 8, engine_command: str = SIM) -> GpuStack:
        ports = [free_port() for _ in range(engines)]
        pools = tmp_path / "pools.yaml"
        pools.write_text(yaml.safe_dump(pools_data(ports, max_num_seqs=max_num_seqs)))
        prometheus_dir = tmp_path / "prometheus"
        prometheus_dir.mkdir()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("COACHLINE_")},
            "COACHLINE_DATABASE_URL": pg_url,
            "COACHLINE_BROKER_URL": redis_url,
            "COACHLINE_REDIS_URL": redis_url,
            "COACHLINE_POOLS_FILE": str(pools),
            "COACHLINE_ENGINE_COMMAND": engine_command,
            "COACHLINE_LOG_JSON": "false",
            "COACHLINE_LOAD_PUBLISH_INTERVAL_S": "0.2",
            "PROMETHEUS_MULTIPROC_DIR": str(prometheus_dir),
        }
        settings = Settings(database_url=pg_url, broker_url=redis_url, redis_url=redis_url, pools_file=pools)
        runtime = build(settings)
        stack = GpuStack(tmp_path=tmp_path, settings=settings, env=env, ports=ports, app=runtime.app)
        stack.router = start_worker_thread(
            runtime.app, queues=[ROUTER_QUEUE], concurrency=4, hostname=f"router-{id(stack)}@test"
        )
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        if stack.router is not None:
            stack.router.stop()


def test_the_engine_is_chosen_by_its_gpu_field_then_by_its_index() -> None:
    by_field = parse_pools(
        {
            "pools": [
                {
                    "name": "fast",
                    "model": MODEL,
                    "engines": [
                        {"base_url": "http://gpu-1:8000/v1", "gpu": 3},
                        {"base_url": "http://gpu-1:8001/v1", "gpu": 1},
                    ],
                    "tiers": ["LOCAL_FAST"],
                }
            ]
        }
    )
    assert select_engine(by_field, "fast", 1).engine.base_url == "http://gpu-1:8001/v1"
    with pytest.raises(
        ConfigError, match=r"no engine of pool 'fast' is on GPU 0 \(its engines are on GPUs 3, 1\)"
    ):
        select_engine(by_field, "fast", 0)
    by_index = parse_pools(
        {
            "pools": [
                {
                    "name": "fast",
                    "model": MODEL,
                    "engines": ["http://a:1/v1", "http://b:2/v1"],
                    "tiers": ["LOCAL_FAST"],
                }
            ]
        }
    )
    assert select_engine(by_index, "fast", 1).engine.base_url == "http://b:2/v1"
    with pytest.raises(ConfigError, match="--gpu must be an index from 0 to 1, not 2"):
        select_engine(by_index, "fast", 2)
    with pytest.raises(ConfigError, match=r"there is no pool 'slow' in the pools file \(pools: fast\)"):
        select_engine(by_index, "slow", 0)


def test_the_engine_command_is_filled_in_per_argument() -> None:
    pools = parse_pools(
        {
            "pools": [
                {
                    "name": "fast",
                    "model": "my model",
                    "engines": ["http://h:8123/v1"],
                    "tiers": ["LOCAL_FAST"],
                    "max_num_seqs": 48,
                }
            ]
        }
    )
    pinned = select_engine(pools, "fast", 0)
    assert isinstance(pinned, PinnedEngine) and pinned.port == 8123
    default = Settings().engine_command
    assert engine_argv(default, pinned) == [
        "vllm",
        "serve",
        "my model",
        "--port",
        "8123",
        "--max-num-seqs",
        "48",
    ]
    assert engine_argv("{python} -m x --gpu {gpu}", pinned) == [sys.executable, "-m", "x", "--gpu", "0"]
    with pytest.raises(ConfigError, match=r"COACHLINE_ENGINE_COMMAND: cannot fill in 'tp'"):
        engine_argv("vllm serve {model} -tp {tp}", pinned)


def test_a_gpu_worker_runs_its_batch_plus_headroom() -> None:
    assert batch_concurrency(32, 0.25) == 40
    assert batch_concurrency(4, 0.25) == 5  # at least one waits in the engine
    assert batch_concurrency(256, 0.0) == 256
    assert Settings().gpu_batch_headroom == 0.25


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["--pool", "nope", "--gpu", "0"], "there is no pool 'nope' in the pools file (pools: fast)"),
        (
            ["--pool", "fast", "--gpu", "5"],
            "no engine of pool 'fast' is on GPU 5 (its engines are on GPUs 0, 1)",
        ),
        (["--pool", "fast"], "role 'gpu' needs --pool NAME and --gpu N"),
    ],
)
def test_a_wrong_pool_or_gpu_exits_2_with_a_sentence(tmp_path: Path, args: list[str], sentence: str) -> None:
    pools = tmp_path / "pools.yaml"
    pools.write_text(yaml.safe_dump(pools_data([free_port(), free_port()])))
    env = {**os.environ, "COACHLINE_POOLS_FILE": str(pools), "COACHLINE_DATABASE_URL": "sqlite://"}
    done = subprocess.run(
        [sys.executable, "-m", "coachline", "worker", "gpu", *args], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 2
    assert sentence in done.stderr.decode()


def test_it_waits_for_the_engine_records_its_load_and_serves_only_its_gpu(gpu_stack) -> None:  # type: ignore[no-untyped-def]
    stack = gpu_stack(engine_command=SIM + " --startup-s 1.5")
    worker = stack.worker("--gpu", "1")
    try:
        stack.wait_consuming(worker)
        engine = engine_pid(worker.pid)
        environ = Path(f"/proc/{engine}/environ").read_bytes().split(b"\0")
        assert b"CUDA_VISIBLE_DEVICES=1" in environ
        labels = {"pool": "fast", "model": MODEL}
        directory = stack.prometheus_dir
        assert (
            multiprocess_sample(directory, "coachline_engine_loads_total", {**labels, "outcome": "success"})
            == 1
        )
        assert (
            multiprocess_sample(directory, "coachline_engine_loads_total", {**labels, "outcome": "failure"})
            is None
        )
        # The simulated model took 1.5 s to load: the worker waited for /health rather than go on.
        assert multiprocess_sample(directory, "coachline_engine_load_seconds_count", labels) == 1
        load_s = multiprocess_sample(directory, "coachline_engine_load_seconds_sum", labels)
        assert load_s is not None and 1.5 <= load_s < 30
        assert multiprocess_sample(directory, "coachline_engine_load_last_seconds", labels) == load_s

        ids = stack.submit(6)
        assert set(stack.wait_statuses(ids, {"succeeded", "failed"}).values()) == {"succeeded"}
        # GPU 0's engine was never started: an attempt sent there would have failed.
        assert {url for _, url, _ in stack.attempts(ids)} == {stack.url(1)}
        snapshot = redis.Redis.from_url(stack.settings.broker_url).hkeys(load_key("fast"))
        assert snapshot == [stack.url(1).encode()]
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(60)
    assert code == 0, stack.output(worker)
    assert not alive(engine)
    assert not listening(stack.ports[1])


def test_an_engine_that_exits_while_loading_fails_the_worker_with_a_sentence(gpu_stack) -> None:  # type: ignore[no-untyped-def]
    stack = gpu_stack(engine_command=SIM + " --failure-rate 7")  # the simulator refuses to start
    worker = stack.worker("--gpu", "0")
    assert worker.wait(60) == 1
    output = stack.output(worker)
    assert (
        "coachline: the engine of pool 'fast' on GPU 0 did not start: "
        "the engine exited with code 2 before it became healthy" in output
    )
    labels = {"pool": "fast", "model": MODEL}
    assert (
        multiprocess_sample(
            stack.prometheus_dir, "coachline_engine_loads_total", {**labels, "outcome": "failure"}
        )
        == 1
    )
    assert (
        multiprocess_sample(
            stack.prometheus_dir, "coachline_engine_loads_total", {**labels, "outcome": "success"}
        )
        is None
    )


def test_an_engine_that_never_gets_healthy_is_stopped(gpu_stack) -> None:  # type: ignore[no-untyped-def]
    stack = gpu_stack(engine_command=SIM + " --startup-s 600")
    worker = stack.worker("--gpu", "0", COACHLINE_ENGINE_STARTUP_TIMEOUT_S="2")
    assert worker.wait(60) == 1
    assert (
        f"did not answer GET http://127.0.0.1:{stack.ports[0]}/health with 200 within 2 s "
        "(last answer: HTTP 503)" in stack.output(worker)
    )
    assert not listening(stack.ports[0])  # the engine was stopped, not left holding the GPU
    labels = {"pool": "fast", "model": MODEL, "outcome": "failure"}
    assert multiprocess_sample(stack.prometheus_dir, "coachline_engine_loads_total", labels) == 1


def test_sigterm_while_the_engine_loads_stops_it(gpu_stack) -> None:  # type: ignore[no-untyped-def]
    stack = gpu_stack(engines=1, engine_command=SIM + " --startup-s 600")
    worker = stack.worker("--gpu", "0")
    deadline = time.monotonic() + 30
    while not listening(stack.ports[0]):  # the engine is up, answering 503 while it "loads"
        assert worker.poll() is None and time.monotonic() < deadline, stack.output(worker)
        time.sleep(0.05)
    engine = engine_pid(worker.pid)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, stack.output(worker)
    assert not alive(engine) and not listening(stack.ports[0])
    labels = {"pool": "fast", "model": MODEL}
    for outcome in ("success", "failure"):  # stopped on purpose: neither a load nor a failed one
        assert (
            multiprocess_sample(
                stack.prometheus_dir, "coachline_engine_loads_total", {**labels, "outcome": outcome}
            )
            is None
        )


def test_attach_uses_the_running_engine_and_leaves_it_running(gpu_stack) -> None:  # type: ignore[no-untyped-def]
    stack = gpu_stack(engines=1)
    with start_in_thread(SimConfig.from_profile("fast", model=MODEL), port=stack.ports[0]) as engine:
        refused = stack.worker("--gpu", "0")  # without --attach, a busy port is a mistake
        assert refused.wait(60) == 1
        assert "something already listens on" in stack.output(refused)
        worker = stack.worker("--gpu", "0", "--attach")
        try:
            stack.wait_consuming(worker)
            ids = stack.submit(3)
            assert set(stack.wait_statuses(ids, {"succeeded", "failed"}).values()) == {"succeeded"}
        finally:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(60) == 0
        assert engine.running and listening(stack.ports[0])


def test_the_worker_stops_when_its_engine_dies(gpu_stack) -> None:  # type: ignore[no-untyped-def]
    stack = gpu_stack(engines=1)
    worker = stack.worker("--gpu", "0")
    stack.wait_consuming(worker)
    os.kill(engine_pid(worker.pid), signal.SIGKILL)
    assert worker.wait(60) == 1
    assert "gpu.engine_died" in stack.output(worker)


@pytest.mark.parametrize("pool_impl", ["threads", "gevent"])
def test_sigterm_drains_the_work_in_flight_and_nothing_is_lost(gpu_stack, pool_impl: str) -> None:  # type: ignore[no-untyped-def]
    # 40 tokens 20 ms apart: each request holds the engine for ~0.9 s; four run at once.
    slow = SIM + " --ttft-ms 100 --itl-ms 20 --output-tokens-min 40 --output-tokens-max 40"
    stack = gpu_stack(engines=1, max_num_seqs=4, engine_command=slow)
    worker = stack.worker("--gpu", "0", "--pool-impl", pool_impl)
    stack.wait_consuming(worker)
    engine = engine_pid(worker.pid)
    ids = stack.submit(24, max_tokens=64)
    deadline = time.monotonic() + 30
    while (running := [i for i, s in stack.statuses(ids).items() if s == "running"]) and len(running) < 4:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0, stack.output(worker)
    assert not alive(engine)

    statuses = stack.statuses(ids)
    # What was in flight finished before the engine stopped; nothing was abandoned half-way.
    assert all(statuses[i] == "succeeded" for i in running), statuses
    assert "running" not in statuses.values()
    left = [i for i, s in statuses.items() if s != "succeeded"]
    assert left, "the burst should outlast the drain"
    client = redis.Redis.from_url(stack.settings.broker_url)
    # The rest is back in the queue, not held unacknowledged until the visibility timeout.
    assert client.llen("pool.fast") == len(left)
    assert not client.hlen("unacked")

    restarted = stack.worker("--gpu", "0", "--pool-impl", pool_impl)
    try:
        final = stack.wait_statuses(ids, {"succeeded", "failed"}, timeout_s=90)
    finally:
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(60) == 0
    assert set(final.values()) == {"succeeded"}
    assert stack.results(ids) == len(ids)
    attempts = stack.attempts(ids)
    assert sorted(r for r, _, outcome in attempts if outcome == "succeeded") == sorted(ids)
    assert all(outcome == "succeeded" for _, _, outcome in attempts)
