"""The fine-tune steps the tasks and the CLI run: evaluate and trigger, trigger by hand, train.

Each step opens its own sessions and calls the plain functions; none imports Celery. Publishing the
training task is the caller's ``enqueue(session, job_id)``, which must send only once ``session``
commits (``broker.publish.publish_after_commit``), so a job is never announced before it exists.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from coachline.db.lifecycle import FineTuneJob
from coachline.db.session import session_scope
from coachline.settings import Settings
from coachline.telemetry import metrics
from scheduler.finetune.cooldown import Claim, claim_trigger, record_job
from scheduler.finetune.dataset import Audience, Redact, build_dataset, load_candidates, write_atomically
from scheduler.finetune.evidence import ModelEvidence, read_evidence
from scheduler.finetune.skills import Skill, detect_skills, estimate_improvement, write_prompt
from scheduler.finetune.trainers import Trainer, TrainingInput, TrainingOutcome
from scheduler.finetune.trigger import (
    Assessment,
    Decision,
    Method,
    TriggerPolicy,
    assess,
    decide,
    select_method,
)
from scheduler.monitor import record_run, step

log = structlog.get_logger(__name__)

FINETUNE_CHECK_TASK = "scheduler.finetune_check"
FINETUNE_TRAIN_TASK = "finetune.train"

Enqueue = Callable[[Session, str], None]
DONE_STATUSES = ("exported", "submitted", "succeeded", "failed")


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def target_models(settings: Settings) -> list[str]:
    """The models the trigger watches: the configured list, else every local pool's model."""
    return sorted(set(settings.finetune_models or [p.model for p in settings.pools.pools]))


def known_models(settings: Settings) -> list[str]:
    """Every model a manual trigger may name."""
    pools = settings.pools
    cloud = [pools.cloud.model] if pools.cloud is not None else []
    return sorted({*target_models(settings), *(p.model for p in pools.pools), *cloud})


@dataclass(frozen=True)
class Evaluation:
    assessment: Assessment
    skills: list[Skill]
    decision: Decision


def evaluate(evidence: ModelEvidence, policy: TriggerPolicy) -> Evaluation:
    """Assessment, weak skills and the threshold decision of one model (no database)."""
    assessment = assess(evidence, policy)
    skills = detect_skills(evidence, assessment.health) if assessment.level is not None else []
    return Evaluation(assessment, skills, decide(assessment, has_skills=bool(skills), policy=policy))


@dataclass(frozen=True)
class ModelCheck:
    model: str
    outcome: str  # triggered | cooldown | healthy | attention | below_threshold | no_data | no_skill
    level: str | None
    score: float | None
    confidence: float
    urgency: float
    reasons: list[str]
    method: str | None = None
    skills: list[str] = field(default_factory=list)
    job_id: str | None = None
    cooldown_until: str | None = None
    assessment: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def create_job(
    session: Session,
    *,
    model: str,
    now: dt.datetime,
    evaluation: Evaluation,
    method: Method,
    method_reason: str,
    trigger: str,
    reason: str,
    policy: TriggerPolicy,
    window_s: float,
    enqueue: Enqueue,
    requested_by: str | None = None,
    force: bool = False,
) -> tuple[FineTuneJob | None, Claim]:
    """Claim the model's cooldown slot and, if granted, store the job and enqueue its training
    (both in ``session``'s transaction)."""
    claim = claim_trigger(session, model=model, now=now, cooldown_s=policy.cooldown_s, force=force)
    if not claim.granted:
        return None, claim
    a = evaluation.assessment
    estimate = estimate_improvement(a.health, method)
    job = FineTuneJob(
        model=model,
        trigger=trigger,
        requested_by=requested_by,
        forced=force,
        reason=reason,
        reasons=[
            *evaluation.decision.reasons,
            *([] if method_reason in evaluation.decision.reasons else [method_reason]),
            *([estimate.reason] if estimate else []),
        ],
        level=a.level_name,
        health_score=a.score,
        confidence=a.confidence,
        urgency=a.urgency,
        method=method.value,
        skills=[s.as_dict() for s in evaluation.skills],
        prompt=write_prompt(model, evaluation.skills, window_s=window_s),
        estimated_improvement=None if estimate is None else estimate.relative,
        evidence={**a.as_dict(), "estimate": None if estimate is None else estimate.as_dict()},
        status="queued",
        created_at=now,
        cooldown_until=claim.until or now,
    )
    session.add(job)
    session.flush()
    record_job(session, model=model, job_id=job.id)
    enqueue(session, job.id)
    metrics.FINETUNE_JOBS.labels(model=model, method=method.value, trigger=trigger).inc()
    log.info(
        "finetune.triggered", model=model, job_id=job.id, method=method.value, trigger=trigger, forced=force
    )
    return job, claim


def _auto_reason(model: str, a: Assessment) -> str:
    why = "; ".join(a.health.reasons) or "no threshold crossed"
    return (
        f"auto: {model} is {a.level_name} (health {a.score:.2f}: {why}); "
        f"confidence {a.confidence:.2f}, urgency {a.urgency:.2f}"
    )


def check_model(
    settings: Settings, evidence: ModelEvidence, *, now: dt.datetime, policy: TriggerPolicy, enqueue: Enqueue
) -> ModelCheck:
    """Evaluate one model; when the thresholds call for it, claim the cooldown and create the job."""
    evaluation = evaluate(evidence, policy)
    a, decision = evaluation.assessment, evaluation.decision
    check = ModelCheck(
        model=evidence.model,
        outcome=decision.outcome,
        level=a.level_name,
        score=a.score,
        confidence=a.confidence,
        urgency=a.urgency,
        reasons=decision.reasons,
        method=None if decision.method is None else decision.method.value,
        skills=[s.name for s in evaluation.skills],
        assessment=a.as_dict(),
    )
    if not decision.trigger or decision.method is None:
        return check
    with session_scope(settings.database_url) as session:
        job, claim = create_job(
            session,
            model=evidence.model,
            now=now,
            evaluation=evaluation,
            method=decision.method,
            method_reason=decision.reasons[-1],
            trigger="auto",
            reason=_auto_reason(evidence.model, a),
            policy=policy,
            window_s=evidence.window_s,
            enqueue=enqueue,
        )
        job_id = None if job is None else job.id
    until = _iso(claim.until)
    if job_id is None:
        reasons = [*decision.reasons, f"in cooldown: the last trigger's window ends at {until}"]
        return replace(check, outcome="cooldown", reasons=reasons, cooldown_until=until)
    return replace(check, outcome="triggered", job_id=job_id, cooldown_until=until)


def requeue_stale_jobs(
    session: Session, *, now: dt.datetime, stale_after_s: float, enqueue: Enqueue
) -> list[str]:
    """Jobs whose training message was lost (queued for long, or running past their lease): send again.
    The training step claims a job conditionally, so a duplicate does nothing."""
    before = now - dt.timedelta(seconds=stale_after_s)
    ids = session.scalars(
        select(FineTuneJob.id).where(
            or_(
                (FineTuneJob.status == "queued") & (FineTuneJob.created_at < before),
                (FineTuneJob.status == "running") & (FineTuneJob.lease_until < now),
            )
        )
    ).all()
    for job_id in ids:
        enqueue(session, job_id)
    return list(ids)


def _evidence(
    session: Session, settings: Settings, *, now: dt.datetime, models: list[str]
) -> dict[str, ModelEvidence]:
    """The monitoring evidence of ``models`` over the configured fine-tune window."""
    return read_evidence(
        session,
        now=now,
        lag_s=settings.aggregation_lag_s,
        window_s=settings.finetune_window_s,
        slices=settings.finetune_window_slices,
        models=models,
    )


def run_check(settings: Settings, *, now: dt.datetime, enqueue: Enqueue) -> dict[str, Any]:
    """Beat's fine-tune step: evaluate every watched model for ``now``; trigger where due."""
    with step(FINETUNE_CHECK_TASK, now):
        if not settings.finetune_enabled:
            detail: dict[str, Any] = {"enabled": False, "models": []}
        else:
            policy = TriggerPolicy.from_settings(settings)
            with session_scope(settings.database_url) as session:
                evidence = _evidence(session, settings, now=now, models=target_models(settings))
            checks = [
                check_model(settings, ev, now=now, policy=policy, enqueue=enqueue) for ev in evidence.values()
            ]
            for check in checks:
                metrics.FINETUNE_EVALUATIONS.labels(decision=check.outcome).inc()
                metrics.FINETUNE_CONFIDENCE.labels(model=check.model).set(check.confidence)
                metrics.FINETUNE_URGENCY.labels(model=check.model).set(check.urgency)
                log.info(
                    "finetune.evaluated",
                    model=check.model,
                    outcome=check.outcome,
                    level=check.level,
                    confidence=check.confidence,
                    urgency=check.urgency,
                )
            with session_scope(settings.database_url) as session:
                requeued = requeue_stale_jobs(
                    session, now=now, stale_after_s=settings.requeue_after_s, enqueue=enqueue
                )
            detail = {"enabled": True, "models": [c.as_dict() for c in checks], "requeued_jobs": requeued}
        with session_scope(settings.database_url) as session:
            record_run(session, FINETUNE_CHECK_TASK, now=now, detail=detail)
    return detail


@dataclass(frozen=True)
class ManualResult:
    job: dict[str, Any] | None
    cooldown_until: dt.datetime | None


def trigger_manual(
    settings: Settings,
    *,
    model: str,
    reason: str,
    requested_by: str,
    force: bool,
    now: dt.datetime,
    enqueue: Enqueue,
    method: Method | None = None,
) -> ManualResult:
    """A fine-tune asked for by a person: the thresholds do not apply; the cooldown does, unless
    ``force`` (then the job is marked forced and starts a new cooldown window)."""
    policy = TriggerPolicy.from_settings(settings)
    with session_scope(settings.database_url) as session:
        evidence = _evidence(session, settings, now=now, models=[model])[model]
    evaluation = evaluate(evidence, policy)
    a = evaluation.assessment
    if method is None:
        chosen, why = select_method(confidence=a.confidence, urgency=a.urgency, policy=policy)
    else:
        chosen, why = method, f"{method.label}: chosen by {requested_by}"
    manual = Decision(
        True,
        "manual",
        [
            f"requested by {requested_by}: thresholds bypassed"
            + (", cooldown bypassed (--force)" if force else "")
        ],
    )
    with session_scope(settings.database_url) as session:
        job, claim = create_job(
            session,
            model=model,
            now=now,
            evaluation=Evaluation(a, evaluation.skills, manual),
            method=chosen,
            method_reason=why,
            trigger="manual",
            reason=f"manual by {requested_by}: {reason}",
            policy=policy,
            window_s=evidence.window_s,
            enqueue=enqueue,
            requested_by=requested_by,
            force=force,
        )
        view = None if job is None else job_view(job)
    return ManualResult(view, claim.until)


# -- training -------------------------------------------------------------------------------------


def job_view(job: FineTuneJob) -> dict[str, Any]:
    """The job as JSON: what the CLI, the API and the trainer's job file show (no conversations)."""
    return {
        "id": job.id,
        "model": job.model,
        "status": job.status,
        "status_detail": job.status_detail,
        "trigger": job.trigger,
        "requested_by": job.requested_by,
        "forced": job.forced,
        "reason": job.reason,
        "reasons": list(job.reasons),
        "level": job.level,
        "health_score": job.health_score,
        "confidence": job.confidence,
        "urgency": job.urgency,
        "method": job.method,
        "skills": list(job.skills),
        "prompt": job.prompt,
        "estimated_improvement": job.estimated_improvement,
        "expected_health": (job.evidence.get("estimate") or {}).get("expected_score"),
        "created_at": _iso(job.created_at),
        "cooldown_until": _iso(job.cooldown_until),
        "trainer": job.trainer,
        "dataset": {
            "path": job.dataset_path,
            "audience": job.dataset_audience,
            "rows": job.dataset_rows,
            "excluded": job.dataset_excluded,
        },
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
    }


def _claim_job(session: Session, job_id: str, *, now: dt.datetime, lease_s: float) -> bool:
    return bool(
        session.execute(
            update(FineTuneJob)
            .where(
                FineTuneJob.id == job_id,
                or_(
                    FineTuneJob.status == "queued",
                    (FineTuneJob.status == "running") & (FineTuneJob.lease_until < now),
                ),
            )
            .values(
                status="running",
                lease_until=now + dt.timedelta(seconds=lease_s),
                started_at=now,
                runs=FineTuneJob.runs + 1,
            )
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]  # an UPDATE returns a CursorResult
    )


def run_training(
    settings: Settings, job_id: str, *, now: dt.datetime, redact: Redact, trainer: Trainer
) -> dict[str, Any]:
    """The training step: export the job's dataset for ``trainer``'s audience, hand it over, store
    the outcome. A duplicate message finds the job taken (or done) and does nothing."""
    url = settings.database_url
    with session_scope(url) as session:
        claimed = _claim_job(session, job_id, now=now, lease_s=settings.finetune_trainer_timeout_s + 60)
        job = session.get(FineTuneJob, job_id, populate_existing=True)
        if job is None or not claimed:
            return {"job": job_id, "skipped": "unknown job" if job is None else f"job is {job.status}"}
        # The conversations up to the trigger's `now`, so a re-run exports the same ones.
        candidates = load_candidates(
            session,
            model=job.model,
            since=job.created_at - dt.timedelta(seconds=settings.finetune_dataset_lookback_s),
            until=job.created_at,
            low_rating_max=settings.finetune_low_rating_max,
            limit=settings.finetune_dataset_max_rows,
        )
        spec = job_view(job)
    audience = Audience.CLOUD if trainer.cloud else Audience.LOCAL
    dataset = build_dataset(candidates, audience=audience, redact=redact)
    folder = settings.finetune_dataset_dir
    paths = {
        "dataset": folder / f"{job_id}.jsonl",
        "job": folder / f"{job_id}.job.json",
        "prompt": folder / f"{job_id}.prompt.txt",
    }
    spec = {**spec, "trainer": trainer.name}
    spec["dataset"] = {
        "path": str(paths["dataset"]),
        "format": "openai-chat-jsonl",
        "audience": audience.value,
        "rows": len(dataset.examples),
        "corrected": dataset.corrected,
        "excluded": dict(dataset.excluded),
    }
    write_atomically(paths["dataset"], dataset.jsonl())
    write_atomically(paths["prompt"], spec["prompt"] + "\n")
    write_atomically(paths["job"], json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
    metrics.FINETUNE_DATASET_CONVERSATIONS.labels(audience=audience.value, outcome="included").inc(
        len(dataset.examples)
    )
    for why, count in dataset.excluded.items():
        metrics.FINETUNE_DATASET_CONVERSATIONS.labels(audience=audience.value, outcome=why).inc(count)
    with session_scope(url) as session:
        session.execute(
            update(FineTuneJob)
            .where(FineTuneJob.id == job_id)
            .values(
                trainer=trainer.name,
                dataset_path=str(paths["dataset"]),
                dataset_audience=audience.value,
                dataset_rows=len(dataset.examples),
                dataset_excluded=dict(dataset.excluded),
            )
            .execution_options(synchronize_session=False)
        )
    item = TrainingInput(
        job=spec,
        dataset_path=paths["dataset"],
        job_path=paths["job"],
        prompt_path=paths["prompt"],
        rows=len(dataset.examples),
    )
    try:
        outcome = trainer.train(item)
    except Exception as e:  # a trainer bug must end the job failed, counted and logged, not stuck running
        log.error("finetune.trainer_failed", job_id=job_id, trainer=trainer.name, error=type(e).__name__)
        outcome = TrainingOutcome("failed", f"the {trainer.name} trainer raised {type(e).__name__}")
    with session_scope(url) as session:
        session.execute(
            update(FineTuneJob)
            .where(FineTuneJob.id == job_id, FineTuneJob.status == "running")
            .values(status=outcome.status, status_detail=outcome.detail, finished_at=now, lease_until=None)
            .execution_options(synchronize_session=False)
        )
    metrics.FINETUNE_TRAINING.labels(trainer=trainer.name, status=outcome.status).inc()
    log.info(
        "finetune.trained",
        job_id=job_id,
        trainer=trainer.name,
        status=outcome.status,
        rows=len(dataset.examples),
    )
    return {
        "job": job_id,
        "status": outcome.status,
        "rows": len(dataset.examples),
        "excluded": dict(dataset.excluded),
    }


def list_jobs(session: Session, *, model: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    stmt = select(FineTuneJob).order_by(FineTuneJob.created_at.desc(), FineTuneJob.id).limit(limit)
    if model is not None:
        stmt = stmt.where(FineTuneJob.model == model)
    return [job_view(job) for job in session.scalars(stmt)]
