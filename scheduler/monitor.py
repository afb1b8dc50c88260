"""The monitoring steps beat runs every minute, between the thin tasks and the plain functions:
each opens its session, runs its step for ``now``, records the run and publishes its gauges."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from sqlalchemy.orm import Session

from coachline.db.monitoring import SchedulerRun
from coachline.db.session import session_scope
from coachline.settings import Settings
from coachline.telemetry import metrics
from scheduler.aggregation import aggregate, latest_totals, publish_gauges
from scheduler.alerts.evaluate import Routing, evaluate_alerts
from scheduler.alerts.manage import OPEN_STATES, list_alerts
from scheduler.alerts.notify import deliver_pending, http_post
from scheduler.alerts.rules import RuleSet, load_rules
from scheduler.quality import ChatJudge, Evaluator, LexicalOverlapHeuristic, score_recent
from scheduler.status import model_health, publish_health_gauges

log = structlog.get_logger(__name__)

AGGREGATE_TASK = "scheduler.aggregate"
EVALUATE_ALERTS_TASK = "scheduler.evaluate_alerts"
SCORE_QUALITY_TASK = "scheduler.score_quality"

# SQLite has no advisory locks; within one process (the embedded default) this serialises evaluations.
_EVALUATION_LOCK = threading.Lock()


def parse_now(value: str | None) -> dt.datetime:
    """The ``now`` a task runs for: the one it was sent with (tests, chained tasks), else the clock."""
    if value is None:
        return dt.datetime.now(dt.UTC)
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def record_run(session: Session, task: str, *, now: dt.datetime, detail: dict[str, Any]) -> None:
    run = session.get(SchedulerRun, task)
    finished = dt.datetime.now(dt.UTC)
    if run is None:
        session.add(SchedulerRun(task=task, last_now=now, finished_at=finished, detail=detail))
    elif run.last_now <= now:  # an older, redelivered run does not overwrite a newer one
        run.last_now, run.finished_at, run.detail = now, finished, detail


@contextmanager
def step(task: str, now: dt.datetime) -> Iterator[None]:
    """Time the step, count its failure, and bind the task and its ``now`` to every log line."""
    started = time.perf_counter()
    with structlog.contextvars.bound_contextvars(task=task, now=now.isoformat()):
        try:
            yield
        except Exception as e:
            metrics.SCHEDULER_FAILURES.labels(task=task).inc()
            log.error("scheduler.step_failed", error=type(e).__name__)
            raise
        finally:
            metrics.SCHEDULER_RUN_TIME.labels(task=task).observe(time.perf_counter() - started)


def run_aggregation(settings: Settings, *, now: dt.datetime) -> dict[str, Any]:
    with step(AGGREGATE_TASK, now):
        with session_scope(settings.database_url) as session:
            report = aggregate(
                session,
                now=now,
                pools=settings.pools,
                lag_s=settings.aggregation_lag_s,
                catchup_minutes=settings.aggregation_catchup_minutes,
                minute_retention_days=settings.rollup_minute_retention_days,
            )
            totals = latest_totals(session, now=now, lag_s=settings.aggregation_lag_s)
            record_run(session, AGGREGATE_TASK, now=now, detail=report.as_dict())
        publish_gauges(totals)
        log.info("scheduler.aggregated", rows=report.rows, pruned=report.pruned)
    return report.as_dict()


def rules_of(settings: Settings) -> RuleSet:
    return load_rules(settings.alert_rules_file)


def run_alert_evaluation(
    settings: Settings, *, now: dt.datetime, post: Callable[[str, dict[str, Any], float], int] | None = None
) -> dict[str, Any]:
    rules = rules_of(settings)
    routing = Routing(
        default_url=settings.alert_webhook_url, per_channel=dict(settings.alert_channel_webhooks)
    )
    with step(EVALUATE_ALERTS_TASK, now):
        with _EVALUATION_LOCK:
            with session_scope(settings.database_url) as session:
                report = evaluate_alerts(
                    session, rules=rules, now=now, lag_s=settings.aggregation_lag_s, routing=routing
                )
                health = model_health(
                    session, now=now, lag_s=settings.aggregation_lag_s, window_s=settings.health_window_s
                )
                open_alerts = [a for a in list_alerts(session) if a.state in OPEN_STATES]
            # After the commit: the outbox rows exist exactly when their transitions do.
            delivery = deliver_pending(
                settings.database_url,
                now=now,
                timeout_s=settings.alert_notify_timeout_s,
                max_attempts=settings.alert_notify_max_attempts,
                post=post or http_post,
            )
            # Recorded last, so a finished run means its notifications were attempted too.
            with session_scope(settings.database_url) as session:
                detail = {**report.as_dict(), "delivery": delivery.__dict__}
                record_run(session, EVALUATE_ALERTS_TASK, now=now, detail=detail)
        for rule, kind in report.transitions:
            metrics.ALERT_TRANSITIONS.labels(rule=rule, kind=kind).inc()
            log.info("alerts.transition", rule=rule, kind=kind)
        for state in OPEN_STATES:
            for level in ("critical", "warning"):
                count = sum(1 for a in open_alerts if a.state == state and a.level == level)
                metrics.ALERTS_OPEN.labels(state=state, level=level).set(count)
        publish_health_gauges(health)
    return {
        "transitions": len(report.transitions),
        "sent": delivery.sent,
        "retrying": delivery.retrying,
        "failed": delivery.failed,
    }


def judge_of(settings: Settings) -> Evaluator | None:
    """The configured judge model, or None when judging is off or has nothing to call."""
    if settings.quality_judge_sample_rate <= 0:
        return None
    pools = settings.pools
    if settings.quality_judge.startswith("pool:"):
        pool = pools.pool(settings.quality_judge.removeprefix("pool:"))
        return ChatJudge(
            base_url=pool.engines[0].base_url,
            model=pool.model,
            api_key="EMPTY",
            remote=False,
            timeout_s=settings.quality_judge_timeout_s,
        )
    cloud = pools.cloud
    if cloud is None:
        return None
    api_key = os.environ.get(cloud.api_key_env) or ("simulated" if cloud.sim_profile else "")
    if not api_key:
        log.warning("quality.judge_without_key", env=cloud.api_key_env)
        return None
    return ChatJudge(
        base_url=cloud.base_url,
        model=cloud.model,
        api_key=api_key,
        remote=True,
        timeout_s=settings.quality_judge_timeout_s,
    )


def run_quality_scoring(
    settings: Settings, *, now: dt.datetime, judge: Evaluator | None = None
) -> dict[str, Any]:
    with step(SCORE_QUALITY_TASK, now):
        report = score_recent(
            settings.database_url,
            now=now,
            lookback_s=settings.quality_lookback_s,
            batch=settings.quality_batch,
            heuristic=LexicalOverlapHeuristic(),
            judge=judge if judge is not None else judge_of(settings),
            judge_sample_rate=settings.quality_judge_sample_rate,
        )
        with session_scope(settings.database_url) as session:
            record_run(session, SCORE_QUALITY_TASK, now=now, detail=report.as_dict())
    return report.as_dict()
