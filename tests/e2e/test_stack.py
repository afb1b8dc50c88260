"""End to end over HTTP: API, router, pool and cloud workers and engines as separate processes."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from coachline.settings import SAMPLE_REQUESTS_FILE
from tests.conftest import free_port
from tests.support import processes, start_stack, wait_terminal

pytestmark = pytest.mark.slow

API_KEY = "e2e-key"


def _sample() -> list[dict[str, object]]:
    return [json.loads(line) for line in SAMPLE_REQUESTS_FILE.read_text().splitlines() if line.strip()]


def _run_stack(tmp_path: Path, *, database_url: str, broker_url: str, redis_url: str) -> None:
    sample = _sample()
    with processes(tmp_path) as procs:
        base = start_stack(
            procs,
            tmp_path,
            database_url=database_url,
            broker_url=broker_url,
            redis_url=redis_url,
            api_key=API_KEY,
            free_port=free_port,
        )

        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60
        ) as client:

            def one(item: dict[str, object]) -> dict[str, object]:
                accepted = client.post("/v1/requests", json={"messages": item["messages"], "max_tokens": 32})
                assert accepted.status_code == 202, accepted.text
                return wait_terminal(client, accepted.json()["id"], timeout_s=90)

            with ThreadPoolExecutor(16) as pool:
                views = list(pool.map(one, sample))

        failed = [v for v in views if v["status"] != "succeeded"]
        assert not failed, f"{failed[:3]}\n{procs.logs()}"

    for item, view in zip(sample, views, strict=True):
        routing = view["routing"]
        assert isinstance(routing, dict)
        if item["privacy"] == "sensitive":
            assert routing["processing_mode"] == "local", (item["id"], routing)
        metrics = view["metrics"]
        assert isinstance(metrics, dict)
        assert metrics["tokens_generated"] > 0
        assert metrics["latency_ms"] >= metrics["ttft_ms"] > 0
        assert view["response"]["content"]  # type: ignore[index]
        assert [a["outcome"] for a in view["attempts"]] == ["succeeded"]  # type: ignore[union-attr]

    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        counts = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM requests WHERE status = 'succeeded'),"
                " (SELECT count(*) FROM routing_decisions), (SELECT count(*) FROM results)"
            )
        ).one()
        modes = dict(
            conn.execute(
                sa.text("SELECT processing_mode, count(*) FROM routing_decisions GROUP BY processing_mode")
            ).all()
        )
    engine.dispose()
    assert tuple(counts) == (len(sample), len(sample), len(sample))
    # Both paths were exercised: simple requests stay local, complex public ones reach the cloud.
    assert modes.get("local", 0) > 0 and modes.get("cloud", 0) > 0, modes


def test_redis_and_postgres(tmp_path: Path, pg_url: str, redis_url: str) -> None:
    _run_stack(tmp_path, database_url=pg_url, broker_url=redis_url, redis_url=redis_url)


def test_rabbitmq_and_postgres(tmp_path: Path, pg_url: str, rabbitmq_url: str, redis_url: str) -> None:
    _run_stack(tmp_path, database_url=pg_url, broker_url=rabbitmq_url, redis_url=redis_url)
