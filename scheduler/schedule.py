"""The beat schedule, as data."""

from __future__ import annotations

from typing import Any

from broker.queues import REAP_TASK, SCHEDULER_QUEUE
from scheduler.finetune.service import FINETUNE_CHECK_TASK
from scheduler.gates.service import EVALUATE_GATES_TASK
from scheduler.monitor import AGGREGATE_TASK, SCORE_QUALITY_TASK


def beat_schedule(
    *,
    reap_every_s: float = 30.0,
    monitor_every_s: float = 60.0,
    finetune_every_s: float = 300.0,
    gates_every_s: float = 3600.0,
) -> dict[str, dict[str, Any]]:
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
        "finetune-check": {
            "task": FINETUNE_CHECK_TASK,
            "schedule": finetune_every_s,
            "options": {"queue": SCHEDULER_QUEUE},
        },
        # Hourly; the step evaluates each phase once per UTC day from COACHLINE_GATES_NIGHTLY_HOUR_UTC.
        "evaluate-gates": {
            "task": EVALUATE_GATES_TASK,
            "schedule": gates_every_s,
            "options": {"queue": SCHEDULER_QUEUE},
        },
    }
