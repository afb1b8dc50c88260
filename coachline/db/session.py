"""Engines and sessions: one engine per database URL per process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

_lock = threading.Lock()
_makers: dict[str, sessionmaker[Session]] = {}


def _sqlite_file(url: str) -> Path | None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        return Path(url[len(prefix) :])
    return None


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = _sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_size=10, max_overflow=60, pool_pre_ping=True)


def get_sessionmaker(url: str) -> sessionmaker[Session]:
    """The process's sessionmaker for ``url`` (SQLite gets WAL, a busy timeout and foreign keys)."""
    maker = _makers.get(url)
    if maker is None:
        with _lock:
            maker = _makers.get(url)
            if maker is None:
                maker = sessionmaker(_create_engine(url), expire_on_commit=False)
                _makers[url] = maker
    return maker


def get_engine(url: str) -> Engine:
    bind = get_sessionmaker(url).kw["bind"]
    assert isinstance(bind, Engine)
    return bind


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = get_sessionmaker(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_engines() -> None:
    """Close every pooled connection: after a fork, and at the end of tests."""
    with _lock:
        for maker in _makers.values():
            maker.kw["bind"].dispose()
        _makers.clear()
