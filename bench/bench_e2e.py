"""End-to-end throughput and latency of coachline on the simulator, in one run:

(a) the embedded default (one process, in-memory transport, SQLite), and
(b) the production shape (API, router, pool and cloud workers as processes; Redis + PostgreSQL).

Closed loop: CONCURRENCY clients each POST a request and long-poll it to its end, N requests in all,
against engines with the `fast` profile (near-zero model time) so the figures are coachline's own.
Prints a report and, last, one JSON line.

    .venv/bin/python bench/bench_e2e.py [--requests 1000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coachline.settings import SAMPLE_REQUESTS_FILE
from coachline.stats import percentile
from tests.conftest import PG_ADMIN_URL, REDIS_URL, free_port
from tests.support import processes, start_stack, wait_http

API_KEY = "bench-key"
TERMINAL = {"succeeded", "failed", "cancelled", "expired"}


def _bodies() -> list[dict[str, object]]:
    lines = [json.loads(line) for line in SAMPLE_REQUESTS_FILE.read_text().splitlines() if line.strip()]
    return [{"messages": item["messages"], "max_tokens": 16} for item in lines]


async def drive(base: str, *, requests: int, concurrency: int) -> dict[str, float]:
    """Closed-loop load; returns throughput and client-side and server-side latency percentiles."""
    bodies = _bodies()
    client_ms: list[float] = []
    server_ms: list[float] = []
    statuses: dict[str, int] = {}
    counter = iter(range(requests))

    async def client_loop() -> None:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
            for index in counter:
                started = time.perf_counter()
                accepted = await client.post("/v1/requests", json=bodies[index % len(bodies)])
                accepted.raise_for_status()
                request_id = accepted.json()["id"]
                while True:
                    view = (await client.get(f"/v1/requests/{request_id}", params={"wait_s": 30})).json()
                    if view["status"] in TERMINAL:
                        break
                client_ms.append((time.perf_counter() - started) * 1000)
                statuses[view["status"]] = statuses.get(view["status"], 0) + 1
                if view["metrics"]:
                    server_ms.append(view["metrics"]["latency_ms"])

    # Warm up connections, imports and caches, outside the measurement.
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {API_KEY}"}) as warm:
        for body in _bodies()[:5]:
            request_id = (await warm.post("/v1/requests", json=body)).json()["id"]
            await warm.get(f"/v1/requests/{request_id}", params={"wait_s": 30})
    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    elapsed_s = time.perf_counter() - started
    return {
        "requests": float(requests),
        "succeeded": float(statuses.get("succeeded", 0)),
        "rps": requests / elapsed_s,
        "client_p50_ms": percentile(client_ms, 50),
        "client_p99_ms": percentile(client_ms, 99),
        "server_p50_ms": percentile(server_ms, 50) if server_ms else float("nan"),
        "server_p99_ms": percentile(server_ms, 99) if server_ms else float("nan"),
    }


def _fast_pools(work: Path) -> Path:
    from tests.support import write_pools_file

    return write_pools_file(
        work / "pools.yaml",
        fast_ports=[free_port()],
        standard_ports=[free_port()],
        cloud_port=free_port(),
        profile="fast",
        max_num_seqs=64,
    )


def run_embedded(work: Path, *, requests: int, concurrency: int) -> dict[str, float]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACHLINE_")}
    env.update(
        {
            "COACHLINE_POOLS_FILE": str(_fast_pools(work)),
            "COACHLINE_LOG_LEVEL": "WARNING",
            "COACHLINE_API_KEYS": json.dumps({API_KEY: "bench"}),
        }
    )
    with processes(work) as procs:
        procs.start(
            "up", ["up", "--port", str(port), "--data-dir", str(work / "var")], env, inherit_env=False
        )
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout_s=60, procs=procs)
        return asyncio.run(drive(f"http://127.0.0.1:{port}", requests=requests, concurrency=concurrency))


def run_redis_postgres(work: Path, *, requests: int, concurrency: int) -> dict[str, float]:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    name = f"coachline_bench_{os.getpid()}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        import migrations

        migrations.upgrade(url)
        with processes(work) as procs:
            base = start_stack(
                procs,
                work,
                database_url=url,
                broker_url=REDIS_URL,
                redis_url=REDIS_URL,
                api_key=API_KEY,
                max_num_seqs=64,
                free_port=free_port,
            )
            return asyncio.run(drive(base, requests=requests, concurrency=concurrency))
    finally:
        from coachline.db.session import dispose_engines

        dispose_engines()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    if args.requests < 1 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be at least 1")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, run in (("embedded", run_embedded), ("redis_postgres", run_redis_postgres)):
            work = Path(tmp) / name
            work.mkdir()
            results[name] = run(work, requests=args.requests, concurrency=args.concurrency)
    print(f"{args.requests} requests, {args.concurrency} concurrent clients, simulator profile 'fast'")
    print(
        f"{'stack':<16}{'ok':>6}{'req/s':>9}{'client p50':>12}{'client p99':>12}{'server p50':>12}"
        f"{'server p99':>12}"
    )
    for name, r in results.items():
        print(
            f"{name:<16}{int(r['succeeded']):>6}{r['rps']:>9.1f}{r['client_p50_ms']:>10.1f}ms"
            f"{r['client_p99_ms']:>10.1f}ms{r['server_p50_ms']:>10.1f}ms{r['server_p99_ms']:>10.1f}ms"
        )
    print(
        json.dumps(
            {f"{stack}_{key}": round(value, 2) for stack, r in results.items() for key, value in r.items()}
        )
    )


if __name__ == "__main__":
    main()
