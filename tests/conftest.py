"""Shared fixtures: real PostgreSQL, Redis and RabbitMQ.

A service that is not reachable skips its tests on a developer's machine and fails them on CI
(``CI=true``), so a green CI always means the real thing ran.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import migrations
from coachline.db.session import dispose_engines

PG_ADMIN_URL = os.environ.get(
    "COACHLINE_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("COACHLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
RABBITMQ_URL = os.environ.get("COACHLINE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing(service: str, error: Exception) -> None:
    message = f"{service} is not reachable: {error}"
    if ON_CI:
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def pg_server() -> str:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as e:
        _missing("PostgreSQL", e)
    return PG_ADMIN_URL


def _create_pg_database(admin_url: str) -> str:
    name = f"coachline_test_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(admin_url: str, url: str) -> None:
    dispose_engines()
    name = sa.make_url(url).database
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh PostgreSQL database built by the Alembic migrations."""
    url = _create_pg_database(pg_server)
    migrations.upgrade(url)
    try:
        yield url
    finally:
        _drop_pg_database(pg_server, url)


@pytest.fixture
def pg_empty_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database (no migrations run)."""
    url = _create_pg_database(pg_server)
    try:
        yield url
    finally:
        _drop_pg_database(pg_server, url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'coachline.db'}"
    migrations.upgrade(url)
    yield url
    dispose_engines()


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL)
        client.flushdb()
        client.close()
    except Exception as e:
        _missing("Redis", e)
    return REDIS_URL


@pytest.fixture
def rabbitmq_url() -> str:
    from kombu import Connection

    try:
        with Connection(RABBITMQ_URL, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
            channel = conn.channel()
            # Leftovers of an earlier run would be consumed by this one.
            for queue in ("router", "cloud", "scheduler", "finetune", "pool.fast", "pool.standard"):
                try:
                    channel.queue_purge(queue)
                except Exception:
                    channel = conn.channel()
    except Exception as e:
        _missing("RabbitMQ", e)
    return RABBITMQ_URL
