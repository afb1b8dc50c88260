"""The embedded default as a newcomer runs it: `coachline up`, then `coachline demo` over HTTP."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.support import COACHLINE, processes, wait_http

pytestmark = pytest.mark.slow


def _clean_env() -> dict[str, str]:
    # The embedded default must work with no COACHLINE_* configuration at all.
    return {k: v for k, v in os.environ.items() if not k.startswith("COACHLINE_")}


def test_up_then_demo(tmp_path: Path) -> None:
    port = free_port()
    env = _clean_env()
    with processes(tmp_path) as procs:
        procs.start(
            "up", ["up", "--port", str(port), "--data-dir", str(tmp_path / "var")], env, inherit_env=False
        )
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout_s=60, procs=procs)
        demo = subprocess.run(
            [*COACHLINE, "demo", "--url", f"http://127.0.0.1:{port}", "--concurrency", "34"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert demo.returncode == 0, demo.stdout + demo.stderr + procs.logs()
    out = demo.stdout
    assert re.search(r"requests\s+68\s+\(succeeded 68\)", out), out
    assert re.search(r"tier mix\s+.*LOCAL_FAST \d+", out), out
    assert re.search(r"latency p95\s+\d+ ms", out), out
    assert re.search(r"local rate\s+\d+\.\d%", out), out
    assert (tmp_path / "var" / "coachline.db").exists()


def test_up_with_a_bad_pools_file_says_which_field(tmp_path: Path) -> None:
    bad = tmp_path / "pools.yaml"
    bad.write_text(
        "pools:\n  - name: fast\n    model: m\n    engines: ['http://127.0.0.1:1/v1']\n    tiers: [NOPE]\n"
    )
    env = {**_clean_env(), "COACHLINE_POOLS_FILE": str(bad)}
    result = subprocess.run(
        [*COACHLINE, "up", "--port", str(free_port()), "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "pools.0.tiers.0" in result.stderr


def test_cli_usage_errors(tmp_path: Path) -> None:
    env = _clean_env()
    result = subprocess.run(
        [*COACHLINE, "worker", "pool"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "needs --pool NAME" in result.stderr
    result = subprocess.run(
        [*COACHLINE, "worker", "pool", "--pool", "nope"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "no pool 'nope'" in result.stderr
    result = subprocess.run(
        [*COACHLINE, "demo", "--url", f"http://127.0.0.1:{free_port()}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "is not healthy" in result.stderr
    result = subprocess.run(
        [*COACHLINE, "api"],
        env={**env, "COACHLINE_DATABASE_URL": "sqlite://"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "COACHLINE_API_KEYS is empty" in result.stderr
