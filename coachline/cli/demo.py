"""``coachline demo``: the sample requests through the HTTP API, summarised as a table."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click
import httpx

from coachline.stats import percentile


def load_requests(path: Path) -> list[dict[str, Any]]:
    """Request bodies from a JSONL file of ``{"messages": [...], ...}`` lines."""
    bodies = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            messages = item["messages"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise click.ClickException(f"{path}:{number}: not a request line with 'messages' ({e})") from e
        body: dict[str, Any] = {"messages": messages}
        for key in ("routing_hints", "max_tokens", "user_id"):
            if key in item:
                body[key] = item[key]
        bodies.append(body)
    if not bodies:
        raise click.ClickException(f"{path}: no requests in the file")
    return bodies


def _one(client: httpx.Client, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    accepted = client.post("/v1/requests", json=body)
    if accepted.status_code != 202:
        return {"status": f"http_{accepted.status_code}", "error": accepted.text[:200]}
    request_id = accepted.json()["id"]
    deadline = time.monotonic() + timeout_s
    while True:
        wait_s = max(0.0, min(30.0, deadline - time.monotonic()))
        view = client.get(f"/v1/requests/{request_id}", params={"wait_s": wait_s}).json()
        if view["status"] in ("succeeded", "failed", "cancelled", "expired") or time.monotonic() >= deadline:
            return view


def run_demo(*, url: str, api_key: str, path: Path, concurrency: int, timeout_s: float) -> int:
    bodies = load_requests(path)
    headers = {"Authorization": f"Bearer {api_key}"}
    started = time.perf_counter()
    with httpx.Client(base_url=url, headers=headers, timeout=timeout_s + 10) as client:
        try:
            client.get("/healthz").raise_for_status()
        except httpx.HTTPError as e:
            raise click.ClickException(
                f"the API at {url} is not healthy ({e}); is `coachline up` running?"
            ) from e
        with ThreadPoolExecutor(concurrency) as pool:
            views = list(pool.map(lambda b: _one(client, b, timeout_s), bodies))
    elapsed_s = time.perf_counter() - started
    click.echo(format_summary(views, elapsed_s))
    return 0 if all(v["status"] == "succeeded" for v in views) else 1


def format_summary(views: list[dict[str, Any]], elapsed_s: float) -> str:
    statuses = Counter(v["status"] for v in views)
    done = [v for v in views if v["status"] == "succeeded"]
    tiers = Counter(v["routing"]["tier"] for v in done)
    pools = Counter(v["routing"]["pool"] or "cloud" for v in done)
    latencies = [v["metrics"]["latency_ms"] for v in done]
    cost = sum(v["metrics"]["cost_usd"] for v in done)
    local = sum(1 for v in done if v["routing"]["processing_mode"] == "local")
    lines = [
        f"requests        {len(views)}  ({', '.join(f'{k} {n}' for k, n in sorted(statuses.items()))})",
        f"elapsed         {elapsed_s:.2f} s  ({len(views) / elapsed_s:.1f} requests/s)",
        "tier mix        " + ", ".join(f"{k} {n}" for k, n in sorted(tiers.items())),
        "pool mix        " + ", ".join(f"{k} {n}" for k, n in sorted(pools.items())),
    ]
    if latencies:
        lines += [
            f"latency p50     {percentile(latencies, 50):.0f} ms",
            f"latency p95     {percentile(latencies, 95):.0f} ms",
            f"cost            ${cost:.6f}",
            f"local rate      {100 * local / len(done):.1f}%",
        ]
    return "\n".join(lines)
