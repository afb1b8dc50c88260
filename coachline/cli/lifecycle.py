"""``coachline finetune ...`` and ``coachline gates ...``: the model lifecycle from a shell, straight
from the database (publishing training jobs needs the broker).

``coachline gates evaluate --phase P`` is made for release pipelines: it exits 0 on GO, 1 on NO-GO,
3 on PAUSE, and 2 on a usage error (an unknown phase, a bad option).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import sys
from typing import Any

import click

from coachline.cli.options import parse_when

EXIT_GO, EXIT_NO_GO, EXIT_USAGE, EXIT_PAUSE = 0, 1, 2, 3
VERDICT_EXIT = {"GO": EXIT_GO, "NO-GO": EXIT_NO_GO, "PAUSE": EXIT_PAUSE}


def _settings() -> Any:
    """The settings, with logs on stderr: stdout carries the report (a pipeline may parse it)."""
    from coachline.settings import get_settings
    from coachline.telemetry.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    return settings


def _enqueue(settings: Any) -> Any:
    """Publish the training task after the job's transaction commits (the Celery app, no tasks)."""
    from broker.app import create_app
    from broker.publish import publish_after_commit
    from broker.queues import FINETUNE_QUEUE
    from scheduler.finetune.service import FINETUNE_TRAIN_TASK

    app = create_app(settings)

    def enqueue(session: Any, job_id: str) -> None:
        publish_after_commit(session, app, FINETUNE_TRAIN_TASK, [job_id], queue=FINETUNE_QUEUE)

    return enqueue


# -- finetune -------------------------------------------------------------------------------------


@click.group("finetune")
def finetune() -> None:
    """Fine-tune jobs: the automatic trigger's, and manual ones."""


def _job_line(job: dict[str, Any]) -> str:
    skills = ",".join(s["name"] for s in job["skills"]) or "-"
    conf = "-" if job["confidence"] is None else f"{job['confidence']:.2f}"
    urg = "-" if job["urgency"] is None else f"{job['urgency']:.2f}"
    trigger = job["trigger"] + ("(forced)" if job["forced"] else "")
    rows = "-" if job["dataset"]["rows"] is None else job["dataset"]["rows"]
    return (
        f"{job['id']}  {job['created_at']}  {job['model']}  {trigger}  {job['status']}  {job['method']}  "
        f"level={job['level'] or '-'} confidence={conf} urgency={urg}  skills={skills}  rows={rows}"
    )


@finetune.command("trigger")
@click.argument("model")
@click.option("--reason", required=True, help="Why (stored on the job).")
@click.option("--force", is_flag=True, help="Bypass the model's cooldown (the job is marked forced).")
@click.option("--method", type=click.Choice(["text_to_lora", "transformer2"]), default=None)
@click.option("--by", "by", default=None, help="Who asks (default: the login name).")
@click.option("--at", "at", default=None, help="ISO time to trigger for (default: now).")
@click.option("--json", "as_json", is_flag=True)
def finetune_trigger(
    model: str, reason: str, force: bool, method: str | None, by: str | None, at: str | None, as_json: bool
) -> None:
    """Fine-tune MODEL now: the thresholds do not apply; the cooldown does unless --force.

    Exits 0 when the job was created, 1 when the cooldown refused it, 2 on a usage error."""
    from scheduler.finetune.service import known_models, trigger_manual
    from scheduler.finetune.trigger import Method

    settings = _settings()
    models = known_models(settings)
    if model not in models:
        raise click.UsageError(f"unknown model {model!r}; models: {', '.join(models)}")
    if not reason.strip():
        raise click.UsageError("--reason must not be empty")
    result = trigger_manual(
        settings,
        model=model,
        reason=reason.strip(),
        requested_by=by or getpass.getuser(),
        force=force,
        now=parse_when(at),
        enqueue=_enqueue(settings),
        method=Method(method) if method else None,
    )
    if result.job is None:
        until = result.cooldown_until.isoformat().replace("+00:00", "Z") if result.cooldown_until else "?"
        click.echo(
            f"refused: {model} was triggered within its cooldown, which ends at {until}; --force bypasses it"
        )
        sys.exit(EXIT_NO_GO)
    job = result.job
    if as_json:
        click.echo(json.dumps(job, indent=2))
        return
    click.echo(f"job {job['id']} queued for training: {job['method']} on {model}")
    click.echo(f"  skills: {', '.join(s['name'] for s in job['skills']) or '-'}")
    click.echo(f"  prompt: {job['prompt']}")
    click.echo(f"  next trigger of {model} possible after {job['cooldown_until']}")


@finetune.command("list")
@click.option("--model", default=None)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True)
def finetune_list(model: str | None, limit: int, as_json: bool) -> None:
    """Fine-tune jobs, newest first."""
    from coachline.db.session import session_scope
    from scheduler.finetune.service import list_jobs

    with session_scope(_settings().database_url) as session:
        jobs = list_jobs(session, model=model, limit=limit)
    if as_json:
        click.echo(json.dumps(jobs, indent=2))
    elif not jobs:
        click.echo("no fine-tune jobs")
    else:
        for job in jobs:
            click.echo(_job_line(job))


@finetune.command("check")
@click.option("--at", "at", default=None, help="ISO time to evaluate for (default: now).")
@click.option("--json", "as_json", is_flag=True)
def finetune_check(at: str | None, as_json: bool) -> None:
    """Run beat's fine-tune step once: evaluate every watched model, trigger where due."""
    from scheduler.finetune.service import run_check

    settings = _settings()
    detail = run_check(settings, now=parse_when(at), enqueue=_enqueue(settings))
    if as_json:
        click.echo(json.dumps(detail, indent=2))
        return
    if not detail["enabled"]:
        click.echo("the fine-tune trigger is disabled (COACHLINE_FINETUNE_ENABLED=false)")
    for check in detail["models"]:
        job = f" job {check['job_id']}" if check["job_id"] else ""
        click.echo(
            f"{check['model']}: {check['outcome']} (level {check['level'] or '-'}, confidence "
            f"{check['confidence']:.2f}, urgency {check['urgency']:.2f}){job}"
        )
        for reason in check["reasons"]:
            click.echo(f"  - {reason}")


# -- gates ----------------------------------------------------------------------------------------


@click.group("gates")
def gates() -> None:
    """Quality gates and go/no-go verdicts of the product plan's phases."""


@gates.command("evaluate")
@click.option("--phase", required=True, help="A phase of the gates file (coachline gates list).")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True)
@click.option("--at", "at", default=None, help="ISO time to evaluate as of (default: now).")
@click.option("--window-h", type=click.IntRange(1, 24 * 366), default=None, help="Hours to look back.")
@click.option("--no-store", is_flag=True, help="Do not store the report.")
@click.option("--by", "by", default=None, help="Who asks (default: the login name).")
def gates_evaluate(
    phase: str, fmt: str, at: str | None, window_h: int | None, no_store: bool, by: str | None
) -> None:
    """Evaluate PHASE's gates and print the report. Exit code: 0 GO, 1 NO-GO, 3 PAUSE, 2 usage error."""
    from scheduler.gates.report import render_markdown
    from scheduler.gates.service import gates_of, run_evaluation

    settings = _settings()
    phases = gates_of(settings).phases
    if phase not in phases:
        raise click.UsageError(f"unknown phase {phase!r}; phases: {', '.join(phases)}")
    report = run_evaluation(
        settings,
        phase=phase,
        now=parse_when(at),
        trigger="manual",
        requested_by=by or getpass.getuser(),
        window_h=window_h,
        store=not no_store,
    )
    click.echo(json.dumps(report, indent=2) if fmt == "json" else render_markdown(report), nl=fmt == "json")
    sys.exit(VERDICT_EXIT[report["verdict"]])


@gates.command("list")
def gates_list() -> None:
    """The phases of the gates file, their groups and gates."""
    from scheduler.gates.service import gates_of

    spec = gates_of(_settings())
    for name, phase in spec.phases.items():
        click.echo(f"{name}: {phase.title}")
        for group_name, group in phase.groups.items():
            items = ", ".join(f"{g.name} ({g.metric} {g.op} {g.threshold:g})" for g in group.gates)
            click.echo(f"  {group_name}: {items}")


@gates.command("record")
@click.argument("metric")
@click.argument("value", type=float)
@click.option("--source", required=True, help="Where the value comes from (a report, a survey, a tool).")
@click.option("--measured-at", default=None, help="ISO time of the measurement (default: now).")
@click.option("--by", "by", default=None, help="Who records it (default: the login name).")
def gates_record(metric: str, value: float, source: str, measured_at: str | None, by: str | None) -> None:
    """Record an external METRIC's VALUE, as POST /v1/metrics/external does."""
    from coachline.db.session import get_sessionmaker
    from scheduler.gates.external import ExternalMetricError, record_external
    from scheduler.gates.service import gates_of

    settings = _settings()
    now = dt.datetime.now(dt.UTC)
    with get_sessionmaker(settings.database_url)() as session:
        try:
            stored, created = record_external(
                session,
                gates_of(settings),
                metric=metric,
                value=value,
                source=source,
                measured_at=parse_when(measured_at),
                received_by=by or getpass.getuser(),
                now=now,
            )
        except ExternalMetricError as e:
            raise click.ClickException(e.message) from e
    click.echo(f"{'recorded' if created else 'already recorded'}: {stored['metric']} = {stored['value']:g}")


def register(cli: click.Group) -> None:
    for command in (finetune, gates):
        cli.add_command(command)
