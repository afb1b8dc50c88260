"""The beat schedule, as data."""

from __future__ import annotations

from typing import Any

from broker.queues import REAP_TASK, SCHEDULER_QUEUE


def beat_schedule(*, reap_every_s: float = 30.0) -> dict[str, dict[str, Any]]:
    return {
        "reap": {"task": REAP_TASK, "schedule": reap_every_s, "options": {"queue": SCHEDULER_QUEUE}},
    }
