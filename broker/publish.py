"""Publishing tasks only after the row they refer to is committed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from celery import Celery
from sqlalchemy import event
from sqlalchemy.orm import Session

from coachline.telemetry import metrics

log = structlog.get_logger(__name__)


def publish(
    app: Celery, task: str, args: Sequence[Any], *, queue: str, countdown: float | None = None
) -> None:
    """Send ``task`` by name to ``queue``."""
    app.send_task(task, args=list(args), queue=queue, routing_key=queue, countdown=countdown)


def publish_after_commit(
    session: Session,
    app: Celery,
    task: str,
    args: Sequence[Any],
    *,
    queue: str,
    countdown: float | None = None,
) -> None:
    """Send ``task`` once ``session`` commits; nothing is sent if it rolls back.

    A failure to publish after the commit leaves the row in a state the reaper re-publishes, so the
    request is late, never lost.
    """

    def _send(_session: Session) -> None:
        try:
            publish(app, task, args, queue=queue, countdown=countdown)
        except Exception as e:
            metrics.PUBLISH_FAILURES.labels(task=task).inc()
            log.error("broker.publish_failed", task=task, queue=queue, error=type(e).__name__)

    event.listen(session, "after_commit", _send, once=True)
    event.listen(session, "after_soft_rollback", lambda *_: _forget(session, _send), once=True)


def _forget(session: Session, fn: Any) -> None:
    if event.contains(session, "after_commit", fn):
        event.remove(session, "after_commit", fn)
