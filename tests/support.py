"""Helpers for tests that run coachline's roles as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

COACHLINE = [sys.executable, "-m", "coachline"]
TERMINAL = {"succeeded", "failed", "cancelled", "expired"}


def write_pools_file(
    path: Path,
    *,
    fast_ports: Sequence[int],
    standard_ports: Sequence[int],
    cloud_port: int | None,
    profile: str = "fast",
    max_num_seqs: int = 32,
    tenants: dict[str, dict[str, object]] | None = None,
) -> Path:
    """A pools file whose engines are simulators on the given ports."""
    data: dict[str, object] = {
        "pools": [
            {
                "name": "fast",
                "model": "mistralai/Mistral-7B-Instruct-v0.3",
                "engines": [f"http://127.0.0.1:{p}/v1" for p in fast_ports],
                "max_num_seqs": max_num_seqs,
                "tiers": ["LOCAL_FAST"],
                "gpu_hour_usd": 2.0,
                "sim_profile": profile,
            },
            {
                "name": "standard",
                "model": "meta-llama/Llama-3.1-8B-Instruct",
                "engines": [f"http://127.0.0.1:{p}/v1" for p in standard_ports],
                "max_num_seqs": max_num_seqs,
                "tiers": ["LOCAL_STANDARD"],
                "gpu_hour_usd": 2.0,
                "sim_profile": profile,
            },
        ]
    }
    if cloud_port is not None:
        data["cloud"] = {
            "model": "gpt-4o-mini",
            "base_url": f"http://127.0.0.1:{cloud_port}/v1",
            "api_key_env": "COACHLINE_TEST_OPENAI_KEY",
            "input_usd_per_1m": 0.15,
            "output_usd_per_1m": 0.60,
            "sim_profile": profile,
        }
    if tenants:
        data["tenants"] = tenants
    path.write_text(yaml.safe_dump(data))
    return path


class Processes:
    """Subprocesses that are stopped (SIGTERM, then SIGKILL) when the test ends; their output is kept."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(
        self, name: str, args: Sequence[str], env: dict[str, str], *, inherit_env: bool = True
    ) -> subprocess.Popen[bytes]:
        """Run ``coachline ARGS``; ``env`` is added to this process's environment unless told not to."""
        # The child keeps its own copy of the descriptor; ours closes when the block ends.
        with open(self.log_dir / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                [*COACHLINE, *args],
                env={**os.environ, **env} if inherit_env else env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.procs.append((name, proc))
        return proc

    def logs(self) -> str:
        out = []
        for name, _ in self.procs:
            text = (self.log_dir / f"{name}.log").read_text(errors="replace")
            out.append(f"--- {name} ---\n{text[-3000:]}")
        return "\n".join(out)

    def stop(self) -> None:
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for _, proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def processes(log_dir: Path) -> Iterator[Processes]:
    procs = Processes(log_dir)
    try:
        yield procs
    finally:
        procs.stop()


def wait_http(url: str, *, timeout_s: float = 30.0, procs: Processes | None = None) -> None:
    """Wait until ``url`` answers 200."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return
            last = response.status_code
        except httpx.HTTPError as e:
            last = e
        time.sleep(0.1)
    logs = procs.logs() if procs else ""
    raise AssertionError(f"{url} did not become ready: {last}\n{logs}")


def wait_terminal(client: httpx.Client, request_id: str, *, timeout_s: float = 60.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        view = client.get(
            f"/v1/requests/{request_id}", params={"wait_s": max(0.0, min(10.0, remaining))}
        ).json()
        if view["status"] in TERMINAL or remaining <= 0:
            return view


MODELS = {
    "fast": "mistralai/Mistral-7B-Instruct-v0.3",
    "standard": "meta-llama/Llama-3.1-8B-Instruct",
    "cloud": "gpt-4o-mini",
}


def start_stack(
    procs: Processes,
    work_dir: Path,
    *,
    database_url: str,
    broker_url: str,
    redis_url: str,
    api_key: str,
    profile: str = "fast",
    max_num_seqs: int = 32,
    free_port: Callable[[], int],
) -> str:
    """Engines, workers and the API as separate processes; returns the API's base URL once healthy."""
    ports = {name: free_port() for name in ("fast", "standard", "cloud", "api")}
    pools_file = write_pools_file(
        work_dir / "pools.yaml",
        fast_ports=[ports["fast"]],
        standard_ports=[ports["standard"]],
        cloud_port=ports["cloud"],
        profile=profile,
        max_num_seqs=max_num_seqs,
    )
    env = {
        "COACHLINE_DATABASE_URL": database_url,
        "COACHLINE_BROKER_URL": broker_url,
        "COACHLINE_REDIS_URL": redis_url,
        "COACHLINE_API_KEYS": json.dumps({api_key: "acme"}),
        "COACHLINE_POOLS_FILE": str(pools_file),
        "COACHLINE_LOG_LEVEL": "WARNING",
    }
    for name, model in MODELS.items():
        procs.start(
            f"sim-{name}",
            [
                "sim",
                "--profile",
                profile,
                "--port",
                str(ports[name]),
                "--model",
                model,
                "--max-num-seqs",
                str(max_num_seqs),
            ],
            env,
        )
    for role, extra in (
        ("router", []),
        ("pool", ["--pool", "fast"]),
        ("pool", ["--pool", "standard"]),
        ("cloud", []),
    ):
        procs.start(f"worker-{role}{''.join('-' + e for e in extra[1:])}", ["worker", role, *extra], env)
    procs.start("api", ["api", "--host", "127.0.0.1", "--port", str(ports["api"])], env)
    base = f"http://127.0.0.1:{ports['api']}"
    wait_http(f"{base}/healthz", procs=procs)
    for name in MODELS:
        wait_http(f"http://127.0.0.1:{ports[name]}/health", procs=procs)
    return base
