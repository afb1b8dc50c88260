"""structlog configuration: JSON lines with dotted event names; never prompt or response text."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

import structlog


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """Configure structlog and the standard library once per process."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    logging.basicConfig(stream=sys.stderr, level=numeric, format="%(message)s", force=True)
    for noisy in ("httpx", "httpcore", "openai", "celery.worker.strategy", "celery.app.trace"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


@contextlib.contextmanager
def task_context(task: str, request_id: str) -> Iterator[None]:
    """Bind ``task`` and ``request_id`` to every log line of one task run.

    Celery reuses pool threads, so the context is cleared on the way in and on the way out.
    """
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(task=task, request_id=request_id)
    try:
        yield
    finally:
        structlog.contextvars.clear_contextvars()
