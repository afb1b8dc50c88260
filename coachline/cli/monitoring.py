"""``coachline status``, ``coachline alerts ...`` and ``coachline rollups backfill``: monitoring from
a shell, straight from the database (no API key needed where the database is reachable)."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from coachline.cli.options import parse_when


def _settings() -> Any:
    from coachline.settings import get_settings

    return get_settings()


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    return ["  " + line.format(*headers).rstrip(), *("  " + line.format(*r).rstrip() for r in rows)]


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def _pct(value: float | None, *, scale: float = 100.0) -> str:
    return "-" if value is None else f"{value * scale:.1f} %"


def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def _clock(iso: str | None) -> str:
    return "-" if not iso else iso.replace("T", " ").replace("Z", "")[:19]


def render_status(view: dict[str, Any]) -> str:
    """The status view as text for a terminal."""
    window_min = view["health_window_s"] / 60
    out = [f"coachline status as of {_clock(view['as_of'])} UTC (model health: last {window_min:g} min)"]
    out += ["", "MODELS"]
    if view["models"]:
        rows = [
            [
                m["model"],
                m["level"] or "NO DATA",
                _num(m["score"]),
                str(m["requests"]),
                _ms(m["latency_mean_ms"]),
                _ms(m["latency_p95_ms"]),
                _num(m["mean_rating"]),
                "; ".join(m["reasons"]) or "-",
            ]
            for m in view["models"]
        ]
        out += _table(["model", "level", "score", "requests", "mean", "p95", "rating", "why"], rows)
    else:
        out.append("  no traffic in the window")
    sections = (("OPEN ALERTS", view["open_alerts"]), ("CLOSED IN THE LAST 24 H", view["recently_closed"]))
    for title, alerts in sections:
        out += ["", title]
        if not alerts:
            out.append("  none")
            continue
        rows = [
            [
                str(a["id"]),
                a["state"],
                a["level"],
                a["rule"],
                ",".join(f"{k}={v}" for k, v in a["labels"].items()) or "-",
                f"{a['expression']} (now {a['value_text']})",
                _clock(a["pending_since"])[11:],
                _clock(a["fired_at"])[11:] if a["fired_at"] else "-",
                _clock(a["resolved_at"])[11:] if a["resolved_at"] else "-",
                str(a["escalation_level"] or "-"),
                a["acknowledged_by"] or "-",
            ]
            for a in alerts
        ]
        headers = ["id", "state", "level", "rule", "labels", "condition", "pending", "fired", "ended"]
        headers += ["esc", "ack"]
        out += _table(headers, rows)
    out += ["", "LAST CLOSED WINDOWS (all traffic)"]
    if view["rollups"]:
        rows = [
            [
                r["granularity"],
                _clock(r["window_start"])[:16],
                str(r["requests"]),
                _pct(r["error_rate"]),
                _pct(r["fallback_rate"]),
                f"{_ms(r['latency_p50_ms'])} / {_ms(r['latency_p95_ms'])} / {_ms(r['latency_p99_ms'])}",
                _ms(r["ttft_p95_ms"]),
                _pct(r["local_processing_rate"]),
                _pct(r["cost_savings_percentage"], scale=1.0),
                f"${r['cost_usd']:.4f}",
                _num(r["mean_rating"]),
                str(r["privacy_violations"]),
            ]
            for r in view["rollups"]
        ]
        headers = ["window", "start", "requests", "errors", "fallback", "p50 / p95 / p99", "ttft p95"]
        headers += ["local", "savings", "cost", "rating", "privacy"]
        out += _table(headers, rows)
    else:
        out.append("  no rollups yet (is `coachline beat` running, with a scheduler worker?)")
    if view["no_data"]:
        out += ["", "RULES WITHOUT DATA"]
        for item in view["no_data"]:
            labels = ",".join(f"{k}={v}" for k, v in item["labels"].items())
            out.append(f"  {item['rule']}{'{' + labels + '}' if labels else ''}: {item['reason']}")
    if view["runs"]:
        out += ["", "SCHEDULER"]
        for task, run in sorted(view["runs"].items()):
            out.append(f"  {task:<27} last ran for {_clock(run['now'])}")
    return "\n".join(out)


@click.command("status")
@click.option("--at", "at", default=None, help="Evaluate health as of this ISO time (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON (as GET /v1/status).")
def status(at: str | None, as_json: bool) -> None:
    """Model health, open alerts and the last rollups."""
    from coachline.db.session import session_scope
    from scheduler.status import build_status

    settings = _settings()
    with session_scope(settings.database_url) as session:
        view = build_status(
            session,
            now=parse_when(at),
            lag_s=settings.aggregation_lag_s,
            health_window_s=settings.health_window_s,
        ).as_dict()
    click.echo(json.dumps(view, indent=2) if as_json else render_status(view))


_RULES_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("alerts")
def alerts() -> None:
    """Alert rules and alerts."""


@alerts.command("list")
@click.option("--closed-within-h", default=24.0, show_default=True, type=click.FloatRange(min=0))
def alerts_list(closed_within_h: float) -> None:
    """Open alerts, and those closed in the last hours."""
    from coachline.db.session import session_scope
    from scheduler.alerts.manage import list_alerts
    from scheduler.status import alert_status

    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=closed_within_h)
    with session_scope(_settings().database_url) as session:
        for alert in list_alerts(session, include_closed_since=since):
            a = alert_status(alert)
            labels = ",".join(f"{k}={v}" for k, v in a.labels.items()) or "-"
            click.echo(
                f"{a.id}\t{a.state}\t{a.level}\t{a.rule}\t{labels}\t{a.value_text}\tesc={a.escalation_level}"
            )


@alerts.command("show")
@click.argument("alert_id", type=int)
def alerts_show(alert_id: int) -> None:
    """One alert and its history."""
    from coachline.db.monitoring import Alert
    from coachline.db.session import session_scope
    from scheduler.alerts.manage import history
    from scheduler.status import alert_status

    with session_scope(_settings().database_url) as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            raise click.ClickException(f"no alert {alert_id}")
        a = alert_status(alert)
        click.echo(f"#{a.id} {a.rule} {a.state} ({a.level}) {a.expression}, last value {a.value_text}")
        for event in history(session, alert_id):
            click.echo(f"  {_clock(event.at.isoformat())}  {event.kind:<12} {json.dumps(event.detail)}")


@alerts.command("ack")
@click.argument("alert_id", type=int)
@click.option("--by", default=None, help="Who acknowledges (default: the login name).")
def alerts_ack(alert_id: int, by: str | None) -> None:
    """Acknowledge an open alert: its escalation stops."""
    from coachline.db.session import session_scope
    from scheduler.alerts.manage import AlertError, acknowledge

    who = by or getpass.getuser()
    try:
        with session_scope(_settings().database_url) as session:
            alert = acknowledge(session, alert_id=alert_id, by=who, now=dt.datetime.now(dt.UTC))
            rule, acked_by = alert.rule, alert.acknowledged_by
    except AlertError as e:
        raise click.ClickException(e.message) from e
    click.echo(f"alert {alert_id} ({rule}) acknowledged by {acked_by}")


@alerts.command("export-prometheus")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--rules", "rules_file", type=_RULES_FILE, default=None)
def alerts_export(output: Path | None, rules_file: Path | None) -> None:
    """Write the alert rules as a Prometheus rules file (`promtool check rules` accepts it)."""
    from scheduler.alerts.promql import export_prometheus
    from scheduler.alerts.rules import load_rules

    text = export_prometheus(load_rules(rules_file or _settings().alert_rules_file))
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        click.echo(f"wrote {output}", err=True)


@alerts.command("check")
@click.option("--rules", "rules_file", type=_RULES_FILE, default=None)
def alerts_check(rules_file: Path | None) -> None:
    """Validate a rules file (default: the configured one)."""
    from scheduler.alerts.promql import skipped_rules
    from scheduler.alerts.rules import load_rules

    rules = load_rules(rules_file or _settings().alert_rules_file)
    skipped = ", ".join(r.name for r in skipped_rules(rules)) or "none"
    click.echo(f"version {rules.version}: {len(rules.rules)} rules; not exportable to Prometheus: {skipped}")


@click.group("rollups")
def rollups() -> None:
    """Metric rollups."""


@rollups.command("backfill")
@click.option("--start", required=True, help="ISO time, e.g. 2026-01-05T00:00:00Z")
@click.option("--end", default=None, help="ISO time (default: now)")
def rollups_backfill(start: str, end: str | None) -> None:
    """Recompute the rollups of [start, end), e.g. after the scheduler was down."""
    from coachline.db.session import session_scope
    from scheduler.aggregation import backfill

    settings = _settings()
    now = dt.datetime.now(dt.UTC)
    begin, finish = parse_when(start), parse_when(end) if end else now
    if finish <= begin:
        raise click.BadParameter("--end must be after --start")
    with session_scope(settings.database_url) as session:
        rows = backfill(session, start=begin, end=min(finish, now), pools=settings.pools, now=now)
    click.echo(f"{rows} rollup rows written", err=True)


def register(cli: click.Group) -> None:
    for command in (status, alerts, rollups):
        cli.add_command(command)
