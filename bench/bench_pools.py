"""Does coachline keep its engines full? One command, one run; a report, then one JSON line.

(a) direct    closed-loop load straight at a simulated engine (workers/sim/loadgen.py): the ceiling.
(b) system    the same offered load through API -> router -> GPU worker -> engine, on Redis + PostgreSQL.
(c) floor     bare Celery two-hop round trips (a task that enqueues a second task) with coachline's
              Celery config, on the same machine: the floor of the stack.
(d) scaling   a pool with two engines (one GPU worker each) against one, and the same two engines
              behind one unpinned `worker pool`: with engines of 16 sequences, so that two engines'
              token streams fit this 2-core machine's CPU, and again with engines of 32, which do not.
(e) fast      end-to-end throughput and CPU per request by role when the engine costs nothing.
(f) pool impl threads against gevent in the GPU worker, draining the same pre-routed backlog.

The engine of (a), (b) and (d) is a simulated A100-class engine with a realistic capacity: 32
sequences at once, 20 ms to the first token, then 10 ms per token whatever the batch, 200 tokens
per answer: 2.01 s a request, so one engine serves at most 32 / 2.01 = 15.9 requests/s. (a) and the
saturation run of (b) offer twice that many clients, so the engine is the bottleneck and the
question is whether coachline keeps its batch full. Throughput is read from the engine's own
generation-token counter over a window after warm-up and divided by 200 tokens: answers of equal
length finish in waves of 32, so counting finished requests in a window would be off by a wave.

    .venv/bin/python bench/bench_pools.py [--window-s 20] [--phases abcdef]

Uses PostgreSQL (COACHLINE_TEST_PG_ADMIN_URL) and Redis database 12 (COACHLINE_TEST_REDIS_URL),
which it flushes. The machine is shared and noisy: compare ratios measured in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
import sqlalchemy as sa
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coachline.settings import SAMPLE_REQUESTS_FILE
from tests.conftest import PG_ADMIN_URL, free_port
from tests.support import wait_http
from workers.loadpub import parse_engine_metrics
from workers.sim.loadgen import run_load

REDIS_URL = os.environ.get("COACHLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/12")
API_KEY = "bench-key"
TERMINAL = {"succeeded", "failed", "cancelled", "expired"}
OPEN_STATUSES = ", ".join(f"'{status}'" for status in sorted(TERMINAL))
MODEL = "mistralai/Mistral-7B-Instruct-v0.3"
ANSWER_TOKENS = 200
MAX_NUM_SEQS = 32
TTFT_MS = 20.0
ITL_MS = 10.0
ENGINE_COMMAND = (
    "{python} -m coachline sim --profile a100-mistral-7b --port {port} --model {model} "
    f"--max-num-seqs {{max_num_seqs}} --ttft-ms {TTFT_MS:g} --prefill-ms-per-token 0 --itl-ms {ITL_MS:g} "
    f"--itl-batch-factor 0 --output-tokens-min {ANSWER_TOKENS} --output-tokens-max {ANSWER_TOKENS}"
)
FAST_ENGINE_COMMAND = (
    "{python} -m coachline sim --profile fast --port {port} --model {model} --max-num-seqs {max_num_seqs}"
)
GENERATION_TOKENS = "vllm:generation_tokens_total"


# --- processes and stacks ------------------------------------------------------------------------


class Procs:
    """Subprocesses with their output in files; stopped with SIGTERM (then SIGKILL) at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with open(self.log_dir / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def coachline(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        return self.start(name, [sys.executable, "-m", "coachline", *args], env)

    def stop(self, name: str, timeout_s: float = 60) -> int | None:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.terminate()
        try:
            return proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name, 30)

    def tail(self, name: str, chars: int = 3000) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")[-chars:]


def cpu_s(pid: int) -> float:
    """User plus system CPU seconds of a process and its children that were waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def vm_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Stack:
    """One PostgreSQL database, a flushed Redis database, a pools file and the processes on them."""

    work: Path
    procs: Procs
    env: dict[str, str]
    database_url: str
    pools: dict[str, Any]
    api_base: str = ""
    engines: list[str] = field(default_factory=list)  # engine roots, http://host:port

    def start_api(self) -> str:
        port = free_port()
        self.procs.coachline("api", ["api", "--host", "127.0.0.1", "--port", str(port)], self.env)
        self.api_base = f"http://127.0.0.1:{port}"
        wait_http(f"{self.api_base}/healthz", timeout_s=60)
        return self.api_base

    def start_router(self, concurrency: int | None = None) -> None:
        extra = ["--concurrency", str(concurrency)] if concurrency else []
        self.procs.coachline("router", ["worker", "router", *extra], self.env)

    def start_gpu(
        self,
        *,
        gpu: int,
        attach: bool = False,
        impl: str = "threads",
        name: str | None = None,
        concurrency: int | None = None,
    ) -> subprocess.Popen[bytes]:
        args = ["worker", "gpu", "--pool", "bench", "--gpu", str(gpu), "--pool-impl", impl]
        if concurrency:
            args += ["--concurrency", str(concurrency)]
        if attach:
            args.append("--attach")
        # A stopped worker's entry outlives it; wait for the new worker's own.
        url = self.pools["pools"][0]["engines"][gpu]["base_url"]
        redis.Redis.from_url(REDIS_URL).hdel("coachline:load:bench", url)
        proc = self.procs.coachline(name or f"gpu{gpu}", args, self.env)
        self.wait_consuming(gpu)
        return proc

    def wait_consuming(self, gpu: int, timeout_s: float = 90) -> None:
        """A GPU worker publishes its engine's load once it consumes; wait for that."""
        url = self.pools["pools"][0]["engines"][gpu]["base_url"]
        client = redis.Redis.from_url(REDIS_URL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if client.hget("coachline:load:bench", url):
                return
            time.sleep(0.1)
        raise RuntimeError(f"the GPU worker for {url} did not start consuming\n{self.logs()}")

    def start_sim(self, gpu: int, command: str, *, max_num_seqs: int = MAX_NUM_SEQS) -> None:
        """The engine of GPU ``gpu``, started outside coachline (for --attach and `worker pool`)."""
        engine = self.pools["pools"][0]["engines"][gpu]
        port = int(engine["base_url"].rsplit(":", 1)[1].split("/")[0])
        argv = [
            part.format(python=sys.executable, port=port, model=MODEL, max_num_seqs=max_num_seqs, gpu=gpu)
            for part in command.split()
        ]
        self.procs.start(f"sim{gpu}", argv, self.env)
        wait_http(f"http://127.0.0.1:{port}/health", timeout_s=30)

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{self.procs.tail(name)}" for name in self.procs.procs)


@contextlib.contextmanager
def stack(
    work: Path, *, engines: int, engine_command: str, max_num_seqs: int = MAX_NUM_SEQS
) -> Iterator[Stack]:
    redis.Redis.from_url(REDIS_URL).flushdb()
    name = f"coachline_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    work.mkdir(parents=True, exist_ok=True)
    ports = [free_port() for _ in range(engines)]
    pools = {
        "pools": [
            {
                "name": "bench",
                "model": MODEL,
                "engines": [{"base_url": f"http://127.0.0.1:{p}/v1", "gpu": i} for i, p in enumerate(ports)],
                "max_num_seqs": max_num_seqs,
                # Every tier stays on this pool: no cloud is configured.
                "tiers": ["LOCAL_FAST", "LOCAL_STANDARD"],
                "gpu_hour_usd": 2.0,
            }
        ]
    }
    (work / "pools.yaml").write_text(yaml.safe_dump(pools))
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHLINE_")}
    env.update(
        {
            "COACHLINE_DATABASE_URL": url,
            "COACHLINE_BROKER_URL": REDIS_URL,
            "COACHLINE_REDIS_URL": REDIS_URL,
            "COACHLINE_API_KEYS": json.dumps({API_KEY: "bench"}),
            "COACHLINE_POOLS_FILE": str(work / "pools.yaml"),
            "COACHLINE_LOG_LEVEL": "WARNING",
            "COACHLINE_ENGINE_COMMAND": engine_command,
        }
    )
    procs = Procs(work)
    try:
        import migrations

        migrations.upgrade(url)
        yield Stack(
            work=work,
            procs=procs,
            env=env,
            database_url=url,
            pools=pools,
            engines=[f"http://127.0.0.1:{p}" for p in ports],
        )
    finally:
        procs.stop_all()
        from coachline.db.session import dispose_engines

        dispose_engines()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- load --------------------------------------------------------------------------------------


def _contents() -> list[str]:
    lines = [json.loads(line) for line in SAMPLE_REQUESTS_FILE.read_text().splitlines() if line.strip()]
    return [item["messages"][-1]["content"] for item in lines]


CONTENTS = _contents()


def request_body(index: int) -> dict[str, Any]:
    """A sample coaching request made unique, so the engine's prompt cache has nothing to share."""
    content = f"{CONTENTS[index % len(CONTENTS)]} (bench request {index})"
    return {"messages": [{"role": "user", "content": content}], "max_tokens": 256}


@dataclass(frozen=True)
class Done:
    started: float
    finished: float
    status: str

    @property
    def latency_ms(self) -> float:
        return (self.finished - self.started) * 1000


async def api_closed_loop(base: str, *, clients: int, duration_s: float, first_index: int = 0) -> list[Done]:
    """``clients`` clients, each POSTing a request and long-polling it to its end, until ``duration_s``."""
    deadline = time.perf_counter() + duration_s
    done: list[Done] = []
    counter = iter(range(first_index, first_index + 10_000_000))

    async def one_client() -> None:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                accepted = await client.post("/v1/requests", json=request_body(next(counter)))
                accepted.raise_for_status()
                request_id = accepted.json()["id"]
                while True:
                    view = (await client.get(f"/v1/requests/{request_id}", params={"wait_s": 30})).json()
                    if view["status"] in TERMINAL:
                        break
                done.append(Done(started, time.perf_counter(), view["status"]))

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return done


async def direct_closed_loop(root: str, *, clients: int, duration_s: float) -> list[Done]:
    """``clients`` clients streaming chat completions straight from the engine, until ``duration_s``."""
    deadline = time.perf_counter() + duration_s
    done: list[Done] = []
    counter = iter(range(10_000_000))

    async def one_client() -> None:
        async with httpx.AsyncClient(base_url=f"{root}/v1", timeout=120) as client:
            while time.perf_counter() < deadline:
                body = {"model": MODEL, **request_body(next(counter)), "stream": True}
                started = time.perf_counter()
                response = await client.post("/chat/completions", json=body)
                await response.aread()
                status = "succeeded" if response.status_code == 200 else "failed"
                done.append(Done(started, time.perf_counter(), status))

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return done


async def scrape(client: httpx.AsyncClient, roots: list[str]) -> dict[str, float]:
    """Generation tokens and running sequences, summed over engines."""
    totals = {GENERATION_TOKENS: 0.0, "running": 0.0}
    for root in roots:
        text = (await client.get(f"{root}/metrics")).text
        for line in text.splitlines():
            if line.startswith(GENERATION_TOKENS):
                totals[GENERATION_TOKENS] += float(line.rsplit(" ", 1)[1])
        totals["running"] += parse_engine_metrics(text).get("vllm:num_requests_running", 0.0)
    return totals


@dataclass(frozen=True)
class Window:
    tokens_per_s: float
    mean_running: float  # sequences running in the engines, averaged over the window

    @property
    def rps(self) -> float:
        return self.tokens_per_s / ANSWER_TOKENS


async def engine_window(roots: list[str], *, warmup_s: float, window_s: float) -> Window:
    """Engine-side throughput over [warmup_s, warmup_s + window_s] of a run that starts now."""
    async with httpx.AsyncClient(timeout=5) as client:
        await asyncio.sleep(warmup_s)
        t0, first = time.perf_counter(), await scrape(client, roots)
        running: list[float] = []
        while time.perf_counter() - t0 < window_s:
            running.append((await scrape(client, roots))["running"])
            await asyncio.sleep(0.1)
        t1, last = time.perf_counter(), await scrape(client, roots)
    tokens = last[GENERATION_TOKENS] - first[GENERATION_TOKENS]
    return Window(tokens / (t1 - t0), statistics.fmean(running) if running else 0.0)


def nearest_rank(values: list[float], pct: float) -> float:
    """Percentiles as workers/sim/loadgen.py computes them, so (a) and (b) compare like with like."""
    ordered = sorted(values)
    if pct == 50:
        return statistics.median(ordered)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def wait_idle(database_url: str, timeout_s: float = 120) -> None:
    """Until every request of the database is terminal (requests left over from a closed loop)."""
    engine = sa.create_engine(database_url)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                left = conn.execute(
                    sa.text(f"SELECT count(*) FROM requests WHERE status NOT IN ({OPEN_STATUSES})")
                ).scalar_one()
            if not left:
                return
            time.sleep(0.25)
        raise RuntimeError(f"{left} requests still open after {timeout_s} s")
    finally:
        engine.dispose()


# --- the phases --------------------------------------------------------------------------------


def phase_direct(
    work: Path, *, clients: int, moderate: int, warmup_s: float, window_s: float
) -> dict[str, float]:

    with stack(work, engines=1, engine_command=ENGINE_COMMAND) as s:
        s.start_sim(0, ENGINE_COMMAND)
        root = s.engines[0]

        async def saturate() -> Window:
            _, window = await asyncio.gather(
                run_load(
                    f"{root}/v1",
                    model=MODEL,
                    concurrency=clients,
                    duration_s=warmup_s + window_s,
                    max_tokens=256,
                    stream=True,
                ),
                engine_window([root], warmup_s=warmup_s, window_s=window_s),
            )
            return window

        window = asyncio.run(saturate())

        # Latency at moderate load the way (b) measures it: one client each, kept for the whole run,
        # and the first 2 s left out (a fresh client's first request pays ~200 ms of start-up).
        light_start = time.perf_counter()
        light = asyncio.run(direct_closed_loop(root, clients=moderate, duration_s=window_s + 2.0))
        latencies = [d.latency_ms for d in light if d.started >= light_start + 2.0]
    return {
        "rps": window.rps,
        "mean_running": window.mean_running,
        "moderate_p50_ms": nearest_rank(latencies, 50),
        "moderate_p99_ms": nearest_rank(latencies, 99),
        "moderate_requests": float(len(latencies)),
        "moderate_errors": float(sum(1 for d in light if d.status != "succeeded")),
    }


def run_system(s: Stack, *, clients: int, warmup_s: float, window_s: float) -> tuple[Window, list[Done]]:
    async def go() -> tuple[Window, list[Done]]:
        done, window = await asyncio.gather(
            api_closed_loop(s.api_base, clients=clients, duration_s=warmup_s + window_s),
            engine_window(s.engines, warmup_s=warmup_s, window_s=window_s),
        )
        return window, done

    result = asyncio.run(go())
    wait_idle(s.database_url)
    return result


def phase_system(
    work: Path, *, clients: int, moderate: int, warmup_s: float, window_s: float
) -> dict[str, float]:
    with stack(work, engines=1, engine_command=ENGINE_COMMAND) as s:
        s.start_api()
        s.start_router()
        started = time.monotonic()
        s.start_gpu(gpu=0)
        ready_s = time.monotonic() - started
        asyncio.run(api_closed_loop(s.api_base, clients=4, duration_s=1.0))  # warm connections and caches
        wait_idle(s.database_url)
        window, done = run_system(s, clients=clients, warmup_s=warmup_s, window_s=window_s)
        failed = sum(1 for d in done if d.status != "succeeded")
        light_start = time.perf_counter()
        light = asyncio.run(api_closed_loop(s.api_base, clients=moderate, duration_s=window_s + 2.0))
        latencies = [d.latency_ms for d in light if d.started >= light_start + 2.0]
        wait_idle(s.database_url)
    return {
        "rps": window.rps,
        "mean_running": window.mean_running,
        "failed": float(failed + sum(1 for d in light if d.status != "succeeded")),
        "moderate_p50_ms": nearest_rank(latencies, 50),
        "moderate_p99_ms": nearest_rank(latencies, 99),
        "moderate_requests": float(len(latencies)),
        "worker_ready_s": ready_s,
    }


def phase_scaling(work: Path, *, warmup_s: float, window_s: float, seqs: int) -> dict[str, float]:
    """One engine of ``seqs`` sequences, then two behind two pinned GPU workers, then the same two
    behind one unpinned `worker pool`; each saturated by 2 x seqs clients per engine."""
    results: dict[str, float] = {}

    def measure(s: Stack, engines: int) -> tuple[Window, list[Done]]:
        asyncio.run(api_closed_loop(s.api_base, clients=4, duration_s=1.0))
        wait_idle(s.database_url)
        return run_system(s, clients=2 * seqs * engines, warmup_s=warmup_s, window_s=window_s)

    with stack(work / "one", engines=1, engine_command=ENGINE_COMMAND, max_num_seqs=seqs) as s:
        s.start_api()
        s.start_router()
        s.start_gpu(gpu=0)
        window, _ = measure(s, 1)
        results["one_engine_rps"] = window.rps
        results["one_engine_mean_running"] = window.mean_running
    with stack(work / "pinned", engines=2, engine_command=ENGINE_COMMAND, max_num_seqs=seqs) as s:
        s.start_api()
        s.start_router()
        s.start_gpu(gpu=0)
        s.start_gpu(gpu=1)
        window, done = measure(s, 2)
        results["pinned_rps"] = window.rps
        results["pinned_mean_running"] = window.mean_running
        results["pinned_failed"] = float(sum(1 for d in done if d.status != "succeeded"))
    with stack(work / "unpinned", engines=2, engine_command=ENGINE_COMMAND, max_num_seqs=seqs) as s:
        s.start_api()
        s.start_router()
        s.start_sim(0, ENGINE_COMMAND, max_num_seqs=seqs)
        s.start_sim(1, ENGINE_COMMAND, max_num_seqs=seqs)
        s.procs.coachline("pool", ["worker", "pool", "--pool", "bench"], s.env)
        s.wait_consuming(0)
        window, _ = measure(s, 2)
        results["unpinned_rps"] = window.rps
        results["unpinned_mean_running"] = window.mean_running
    return results


def phase_scaling_both(work: Path, *, warmup_s: float, window_s: float) -> dict[str, float]:
    """Engines of 16 sequences, which two fit this machine's CPU; then of 32, which two do not."""
    small = phase_scaling(work / "16", warmup_s=warmup_s, window_s=window_s, seqs=MAX_NUM_SEQS // 2)
    large = phase_scaling(work / "32", warmup_s=warmup_s, window_s=window_s, seqs=MAX_NUM_SEQS)
    return {**small, **{f"{key}_32_seqs": value for key, value in large.items()}}


def role_pids(s: Stack) -> dict[str, int]:
    pids = {name: proc.pid for name, proc in s.procs.procs.items()}
    for name in [n for n in pids if n.startswith("gpu")]:
        for child in children(pids[name]):
            pids[f"engine({name})"] = child
    return pids


def phase_fast(work: Path, *, clients: int, warmup_s: float, window_s: float) -> dict[str, float]:
    """End to end with an engine that costs ~nothing: coachline's own throughput, CPU per role."""
    with stack(work, engines=1, engine_command=FAST_ENGINE_COMMAND, max_num_seqs=64) as s:
        s.start_api()
        s.start_router()
        s.start_gpu(gpu=0)
        asyncio.run(api_closed_loop(s.api_base, clients=4, duration_s=1.0))
        wait_idle(s.database_url)
        pids = role_pids(s)

        async def go() -> tuple[list[Done], dict[str, float], dict[str, float], float, float]:
            loop_task = asyncio.create_task(
                api_closed_loop(s.api_base, clients=clients, duration_s=warmup_s + window_s)
            )
            await asyncio.sleep(warmup_s)
            t0, cpu0 = time.perf_counter(), {n: cpu_s(p) for n, p in pids.items()}
            await asyncio.sleep(window_s)
            t1, cpu1 = time.perf_counter(), {n: cpu_s(p) for n, p in pids.items()}
            return await loop_task, cpu0, cpu1, t0, t1

        done, cpu0, cpu1, t0, t1 = asyncio.run(go())
        in_window = [d for d in done if t0 <= d.finished <= t1]
        wait_idle(s.database_url)
    n = max(1, len(in_window))
    result = {
        "rps": len(in_window) / (t1 - t0),
        "p50_ms": nearest_rank([d.latency_ms for d in in_window], 50),
        "failed": float(sum(1 for d in done if d.status != "succeeded")),
    }
    for name in pids:
        result[f"cpu_ms_per_request[{name}]"] = (cpu1[name] - cpu0[name]) * 1000 / n
    return result


def _post_backlog(base: str, count: int, first_index: int) -> None:
    async def go() -> None:
        queue = iter(range(first_index, first_index + count))
        headers = {"Authorization": f"Bearer {API_KEY}"}

        async def poster() -> None:
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
                for index in queue:
                    (await client.post("/v1/requests", json=request_body(index))).raise_for_status()

        await asyncio.gather(*(poster() for _ in range(16)))

    asyncio.run(go())


def _count(database_url: str, where: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM requests WHERE {where}")).scalar_one())
    finally:
        engine.dispose()


def phase_pool_impl(work: Path, *, backlog: int) -> dict[str, float]:
    """The same backlog of routed requests drained by a GPU worker with threads, then with gevent."""
    results: dict[str, float] = {}
    with stack(work, engines=1, engine_command=FAST_ENGINE_COMMAND, max_num_seqs=64) as s:
        s.start_api()
        s.start_router()
        s.start_sim(0, FAST_ENGINE_COMMAND)
        for round_index, impl in enumerate(("threads", "gevent", "threads", "gevent")):
            _post_backlog(s.api_base, backlog, first_index=round_index * backlog)
            deadline = time.monotonic() + 300
            while _count(s.database_url, "status = 'routing'") < backlog:  # routed, waiting in pool.bench
                if time.monotonic() > deadline:
                    raise RuntimeError("the router did not route the backlog\n" + s.logs())
                time.sleep(0.2)
            proc = s.start_gpu(gpu=0, attach=True, impl=impl, name=f"gpu-{impl}-{round_index}")
            before = round_index * backlog
            # Measure from the first finished request on, so the worker's start-up is not counted.
            while (first := _count(s.database_url, "status IN ('succeeded','failed')")) == before:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the {impl} worker served nothing\n" + s.logs())
                time.sleep(0.01)
            t0, cpu0 = time.perf_counter(), cpu_s(proc.pid)
            deadline = time.monotonic() + 600
            while (finished := _count(s.database_url, "status IN ('succeeded','failed')")) < before + backlog:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the {impl} worker did not drain the backlog\n" + s.logs())
                time.sleep(0.05)
            t1, cpu1 = time.perf_counter(), cpu_s(proc.pid)
            drained = finished - first
            hwm = vm_hwm_mb(proc.pid)
            s.procs.stop(f"gpu-{impl}-{round_index}")
            results.setdefault(f"{impl}_rps", 0.0)
            results[f"{impl}_rps"] += drained / (t1 - t0) / 2
            results.setdefault(f"{impl}_cpu_ms_per_request", 0.0)
            results[f"{impl}_cpu_ms_per_request"] += (cpu1 - cpu0) * 1000 / drained / 2
            results[f"{impl}_vm_hwm_mb"] = max(results.get(f"{impl}_vm_hwm_mb", 0.0), hwm)
        results["failed"] = float(_count(s.database_url, "status <> 'succeeded'"))
    return results


# --- (c) the Celery floor ----------------------------------------------------------------------

FLOOR_KEY = "bench:floor:"


def floor_app() -> Any:
    """coachline's Celery app and config with two trivial tasks: hop1 enqueues hop2, hop2 answers."""
    from broker.app import create_app
    from coachline.settings import Settings

    work = Path(tempfile.gettempdir()) / "coachline-bench-floor"
    work.mkdir(exist_ok=True)
    pools = work / "pools.yaml"
    pools.write_text(
        yaml.safe_dump(
            {
                "pools": [
                    {
                        "name": "bench",
                        "model": MODEL,
                        "engines": ["http://127.0.0.1:9/v1"],
                        "tiers": ["LOCAL_FAST"],
                    }
                ]
            }
        )
    )
    settings = Settings(broker_url=REDIS_URL, database_url="sqlite://", pools_file=pools)
    app = create_app(settings)
    answers = redis.Redis.from_url(REDIS_URL)

    @app.task(name="bench.hop1", shared=False, acks_late=True)
    def hop1(token: str) -> None:
        app.send_task("bench.hop2", args=[token], queue="pool.bench", routing_key="pool.bench")

    @app.task(name="bench.hop2", shared=False, acks_late=True)
    def hop2(token: str) -> None:
        answers.lpush(FLOOR_KEY + token, b"1")

    return app


def floor_worker(queue: str, concurrency: int) -> None:
    from broker.worker import worker_argv

    floor_app().worker_main(
        worker_argv(queues=[queue], concurrency=concurrency, hostname=f"floor-{queue}@%h", loglevel="WARNING")
    )


def phase_floor(work: Path, *, clients: int, window_s: float) -> dict[str, float]:
    redis.Redis.from_url(REDIS_URL).flushdb()
    work.mkdir(parents=True, exist_ok=True)
    procs = Procs(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHLINE_")}
    script = str(Path(__file__).resolve())
    try:
        procs.start("hop1", [sys.executable, script, "floor-worker", "router", "8"], env)
        procs.start("hop2", [sys.executable, script, "floor-worker", "pool.bench", str(MAX_NUM_SEQS)], env)
        app = floor_app()
        client = redis.Redis.from_url(REDIS_URL)

        def round_trip() -> float:
            token = uuid.uuid4().hex
            started = time.perf_counter()
            app.send_task("bench.hop1", args=[token], queue="router", routing_key="router")
            if client.blpop([FLOOR_KEY + token], timeout=30) is None:
                raise RuntimeError("a round trip did not come back within 30 s\n" + procs.tail("hop1"))
            return (time.perf_counter() - started) * 1000

        round_trip()  # both workers are up once one round trip comes back

        def drive(drivers: int, duration_s: float) -> tuple[list[float], float]:
            latencies: list[float] = []
            lock = threading.Lock()
            stop_at = time.perf_counter() + duration_s

            def driver() -> None:
                while time.perf_counter() < stop_at:
                    latency = round_trip()
                    with lock:
                        latencies.append(latency)

            started = time.perf_counter()
            threads = [threading.Thread(target=driver) for _ in range(drivers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return latencies, time.perf_counter() - started

        alone, _ = drive(1, 5.0)  # latency with nothing else in flight
        cpu0 = {name: cpu_s(proc.pid) for name, proc in procs.procs.items()}
        latencies, elapsed = drive(clients, window_s)
        cpu1 = {name: cpu_s(proc.pid) for name, proc in procs.procs.items()}
        return {
            "rps": len(latencies) / elapsed,
            "p50_ms": nearest_rank(latencies, 50),
            "p99_ms": nearest_rank(latencies, 99),
            "one_client_p50_ms": nearest_rank(alone[5:], 50),
            "one_client_p99_ms": nearest_rank(alone[5:], 99),
            **{f"cpu_ms_per_round_trip[{n}]": (cpu1[n] - cpu0[n]) * 1000 / len(latencies) for n in cpu0},
        }
    finally:
        procs.stop_all()


# --- report ------------------------------------------------------------------------------------

PHASES: dict[str, str] = {
    "a": "direct",
    "b": "system",
    "c": "floor",
    "d": "scaling",
    "e": "fast",
    "f": "pool_impl",
}


def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    steps: dict[str, Callable[[Path], dict[str, float]]] = {
        "a": lambda w: phase_direct(
            w, clients=args.clients, moderate=args.moderate, warmup_s=args.warmup_s, window_s=args.window_s
        ),
        "b": lambda w: phase_system(
            w, clients=args.clients, moderate=args.moderate, warmup_s=args.warmup_s, window_s=args.window_s
        ),
        "c": lambda w: phase_floor(w, clients=MAX_NUM_SEQS, window_s=args.window_s),
        "d": lambda w: phase_scaling_both(w, warmup_s=args.warmup_s, window_s=args.window_s),
        "e": lambda w: phase_fast(w, clients=64, warmup_s=3.0, window_s=args.window_s),
        "f": lambda w: phase_pool_impl(w, backlog=args.backlog),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for key in args.phases:
            name = PHASES[key]
            print(f"running ({key}) {name} ...", file=sys.stderr, flush=True)
            started = time.monotonic()
            results[name] = steps[key](Path(tmp) / name)
            print(
                f"  done in {time.monotonic() - started:.0f} s: {results[name]}", file=sys.stderr, flush=True
            )
    return results


def summary(results: dict[str, dict[str, float]]) -> dict[str, float | None]:
    def get(phase: str, key: str) -> float | None:
        return results.get(phase, {}).get(key)

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None or b == 0 else a / b

    def minus(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a - b

    out = {
        "direct_rps": get("direct", "rps"),
        "system_rps": get("system", "rps"),
        "saturation_ratio": ratio(get("system", "rps"), get("direct", "rps")),
        "added_latency_p50_ms": minus(get("system", "moderate_p50_ms"), get("direct", "moderate_p50_ms")),
        "added_latency_p99_ms": minus(get("system", "moderate_p99_ms"), get("direct", "moderate_p99_ms")),
        "celery_floor_rps": get("floor", "rps"),
        "celery_floor_one_client_p50_ms": get("floor", "one_client_p50_ms"),
        "two_engine_scaling": ratio(get("scaling", "pinned_rps"), get("scaling", "one_engine_rps")),
        "two_engine_scaling_unpinned_pool_worker": ratio(
            get("scaling", "unpinned_rps"), get("scaling", "one_engine_rps")
        ),
        "two_engine_scaling_32_seqs": ratio(
            get("scaling", "pinned_rps_32_seqs"), get("scaling", "one_engine_rps_32_seqs")
        ),
        "fast_engine_system_rps": get("fast", "rps"),
        "threads_rps": get("pool_impl", "threads_rps"),
        "gevent_rps": get("pool_impl", "gevent_rps"),
        "threads_cpu_ms_per_request": get("pool_impl", "threads_cpu_ms_per_request"),
        "gevent_cpu_ms_per_request": get("pool_impl", "gevent_cpu_ms_per_request"),
    }
    return {k: (None if v is None else round(v, 3)) for k, v in out.items()}


def report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    capacity = MAX_NUM_SEQS / ((TTFT_MS + ANSWER_TOKENS * ITL_MS) / 1000)
    print(
        f"engine: max_num_seqs {MAX_NUM_SEQS}, TTFT {TTFT_MS:g} ms, ITL {ITL_MS:g} ms, "
        f"{ANSWER_TOKENS} tokens per answer -> capacity {capacity:.1f} req/s per engine; "
        f"{args.clients} clients saturate, {args.moderate} are moderate; "
        f"windows of {args.window_s:g} s after {args.warmup_s:g} s warm-up"
    )
    for phase, values in results.items():
        print(f"[{phase}]")
        for key, value in values.items():
            print(f"  {key:<44}{value:>12.3f}")
    s = summary(results)
    print(
        "targets: saturation_ratio >= 0.95, added latency p50 <= 6 ms and p99 <= 15 ms, two_engine_scaling "
        ">= 1.8, fast_engine_system_rps >= 250"
    )
    print(json.dumps(s))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "floor-worker":
        floor_worker(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--phases", default="abcdef", help="Which phases to run, e.g. 'ab' (default: all).")
    parser.add_argument(
        "--clients", type=int, default=2 * MAX_NUM_SEQS, help="Clients that saturate an engine."
    )
    parser.add_argument("--moderate", type=int, default=MAX_NUM_SEQS // 2, help="Clients at moderate load.")
    parser.add_argument("--warmup-s", type=float, default=6.0)
    parser.add_argument("--window-s", type=float, default=20.0)
    parser.add_argument(
        "--backlog", type=int, default=1000, help="Routed requests each pool-impl round drains."
    )
    args = parser.parse_args()
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {''.join(sorted(unknown))}; choose from {''.join(PHASES)}")
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so processes stop and databases are dropped.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    results = run(args)
    report(results, args)


if __name__ == "__main__":
    main()
