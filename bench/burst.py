"""A burst of requests through the Redis + PostgreSQL stack: none lost, none doubled, memory bounded.

Starts the API, a router worker and a GPU worker (which starts its simulated engine), POSTs
``--requests`` requests as fast as the API takes them, waits until every one is terminal, then checks
the database: every request succeeded, exactly one Result and one succeeded attempt each. Reports
each role's peak memory (VmHWM from /proc/PID/status) and its resident memory as the burst
progresses, so growth with the number of requests shows. ``--restart-worker`` sends the GPU worker
SIGTERM half-way and starts another: what was in flight drains, the rest waits in the queue.

    .venv/bin/python bench/burst.py [--requests 10000] [--restart-worker]

Uses PostgreSQL (COACHLINE_TEST_PG_ADMIN_URL) and Redis database 12 (COACHLINE_TEST_REDIS_URL),
which it flushes. At ~45 requests/s end to end, 10,000 take about four minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_pools import (
    API_KEY,
    FAST_ENGINE_COMMAND,
    request_body,
    role_pids,
    stack,
    vm_hwm_mb,
    vm_rss_mb,
)

# Beyond this, a role's memory is not "bounded" for a burst of this size; it is a leak to look at.
MAX_HWM_MB = 600.0


async def post_all(base: str, count: int, posters: int) -> list[str]:
    ids: list[str] = []
    indexes = iter(range(count))

    async def poster() -> None:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
            for index in indexes:
                response = await client.post("/v1/requests", json=request_body(index))
                response.raise_for_status()
                ids.append(response.json()["id"])

    await asyncio.gather(*(poster() for _ in range(posters)))
    return ids


def status_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT status, count(*) FROM requests GROUP BY status")).all()
    return {status: int(n) for status, n in rows}


class MemoryWatch:
    """Samples resident memory of every role; keeps the high-water marks of processes that exit."""

    def __init__(self) -> None:
        self.hwm_mb: dict[str, float] = {}
        self.rss_at: dict[str, dict[int, float]] = {}  # role -> {percent done: RSS}

    def sample(self, pids: dict[str, int], percent: int | None = None) -> None:
        for role, pid in pids.items():
            try:
                hwm, rss = vm_hwm_mb(pid), vm_rss_mb(pid)
            except FileNotFoundError:
                continue
            self.hwm_mb[role] = max(self.hwm_mb.get(role, 0.0), hwm)
            if percent is not None:
                self.rss_at.setdefault(role, {})[percent] = rss


def run(args: argparse.Namespace, work: Path) -> int:
    with stack(work, engines=1, engine_command=FAST_ENGINE_COMMAND, max_num_seqs=args.max_num_seqs) as s:
        s.start_api()
        s.start_router()
        s.start_gpu(gpu=0)
        engine = sa.create_engine(s.database_url)
        watch = MemoryWatch()
        pids = role_pids(s)
        watch.sample(pids, 0)
        started = time.monotonic()
        posted: list[str] = []
        poster = threading.Thread(
            target=lambda: posted.extend(asyncio.run(post_all(s.api_base, args.requests, args.posters)))
        )
        poster.start()
        marks = [25, 50, 75, 100]
        restarted = not args.restart_worker
        done = 0
        deadline = started + args.timeout_s
        while True:
            counts = status_counts(engine)
            done = sum(
                n for status, n in counts.items() if status in ("succeeded", "failed", "cancelled", "expired")
            )
            percent = 100 * done // args.requests
            while marks and percent >= marks[0]:
                watch.sample(pids, marks.pop(0))
            watch.sample(pids)
            if not restarted and percent >= 50:
                print(
                    f"{time.monotonic() - started:6.1f} s: SIGTERM to the GPU worker at {done} done",
                    flush=True,
                )
                code = s.procs.stop("gpu0", timeout_s=120)
                print(f"{time.monotonic() - started:6.1f} s: it drained and exited with {code}", flush=True)
                s.start_gpu(gpu=0)
                pids = role_pids(s)
                restarted = True
            if done >= args.requests:
                break
            if time.monotonic() > deadline:
                print(f"gave up after {args.timeout_s:g} s with {counts}", file=sys.stderr)
                break
            time.sleep(1.0)
        elapsed = time.monotonic() - started
        poster.join()
        with engine.connect() as conn:
            results = conn.execute(sa.text("SELECT count(*) FROM results")).scalar_one()
            succeeded_attempts = conn.execute(
                sa.text("SELECT count(*) FROM attempts WHERE outcome = 'succeeded'")
            ).scalar_one()
            doubled = conn.execute(
                sa.text(
                    "SELECT count(*) FROM (SELECT request_id FROM attempts WHERE outcome = 'succeeded' "
                    "GROUP BY request_id HAVING count(*) > 1) AS d"
                )
            ).scalar_one()
            attempts = conn.execute(sa.text("SELECT count(*) FROM attempts")).scalar_one()
            unserved = conn.execute(
                sa.text(
                    "SELECT count(*) FROM requests r WHERE NOT EXISTS "
                    "(SELECT 1 FROM results x WHERE x.request_id = r.id)"
                )
            ).scalar_one()
        counts = status_counts(engine)
        engine.dispose()

    succeeded = counts.get("succeeded", 0)
    bounded = all(hwm <= MAX_HWM_MB for hwm in watch.hwm_mb.values())
    ok = (
        len(posted) == args.requests
        and succeeded == args.requests
        and results == args.requests
        and succeeded_attempts == args.requests
        and doubled == 0
        and unserved == 0
        and bounded
    )
    print(f"burst of {args.requests} requests in {elapsed:.0f} s ({args.requests / elapsed:.1f} requests/s)")
    print(f"  accepted {len(posted)}, statuses {dict(sorted(counts.items()))}")
    print(
        f"  results {results}, succeeded attempts {succeeded_attempts}, requests with two or more {doubled}"
    )
    print(
        f"  attempts {attempts} ({attempts - succeeded_attempts} failed and retried), "
        f"without a result {unserved}"
    )
    print(f"  peak memory (VmHWM) per role, bound {MAX_HWM_MB:g} MB:")
    for role, hwm in sorted(watch.hwm_mb.items()):
        rss = "  ".join(f"{p}%: {mb:.0f}" for p, mb in sorted(watch.rss_at.get(role, {}).items()))
        print(f"    {role:<16}{hwm:8.1f} MB   RSS MB at {rss}")
    print("  verdict:", "OK" if ok else "FAILED")
    print(
        json.dumps(
            {
                "requests": args.requests,
                "succeeded": succeeded,
                "results": results,
                "succeeded_attempts": succeeded_attempts,
                "duplicated": doubled,
                "elapsed_s": round(elapsed, 1),
                "rps": round(args.requests / elapsed, 2),
                "vm_hwm_mb": {role: round(mb, 1) for role, mb in sorted(watch.hwm_mb.items())},
                "ok": ok,
            }
        )
    )
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--posters", type=int, default=16, help="Concurrent clients that POST the burst.")
    parser.add_argument(
        "--max-num-seqs", type=int, default=64, help="The engine's batch (and worker threads)."
    )
    parser.add_argument("--restart-worker", action="store_true", help="SIGTERM the GPU worker half-way.")
    parser.add_argument("--timeout-s", type=float, default=3600.0)
    args = parser.parse_args()
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    with tempfile.TemporaryDirectory() as tmp:
        sys.exit(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
