"""The beat schedule, as data."""

from __future__ import annotations

from typing import Any

from broker.queues import REAP_TASK, SCHEDULER_QUEUE
from scheduler.monitor import AGGREGATE_TASK, SCORE_QUALITY_TASK


def beat_schedule(*, reap_every_s: float = 30.0, monitor_every_s: float = 60.0) -> dict[str, dict[str, Any]]:
    # scheduler.evaluate_alerts is not scheduled on its own: each aggregation sends it once done.
    return {
        "reap": {"task": REAP_TASK, "schedule": reap_every_s, "options": {"queue": SCHEDULER_QUEUE}},
        "aggregate": {
            "task": AGGREGATE_TASK,
            "schedule": monitor_every_s,
            "options": {"queue": SCHEDULER_QUEUE},
        },
        "score-quality": {
            "task": SCORE_QUALITY_TASK,
            "schedule": monitor_every_s,
            "options": {"queue": SCHEDULER_QUEUE},
        },
    }
