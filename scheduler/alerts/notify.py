"""Webhook notifications: Slack-compatible payloads, written to an outbox, delivered after commit.

The evaluation writes an ``AlertNotification`` row in the same transaction as the transition, so a
notification exists exactly when the transition does. ``deliver_pending`` then claims one row at a
time (``FOR UPDATE SKIP LOCKED``), posts it and marks it sent: two beats never send it twice, and a
webhook that is down is retried with backoff until ``max_attempts``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from sqlalchemy import select

from coachline.db.monitoring import Alert, AlertNotification
from coachline.db.session import session_scope
from coachline.telemetry import metrics
from scheduler.alerts.rules import EscalationStep, Rule
from scheduler.alerts.signals import format_value

log = structlog.get_logger(__name__)

_COLORS = {"critical": "#d62728", "warning": "#ff7f0e", "resolved": "#2ca02c"}
_BACKOFF_S = (30, 60, 300, 900, 3600)

Post = Callable[[str, dict[str, Any], float], int]


def _labels_text(labels: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "all traffic"


def payload(
    alert: Alert, kind: str, rule: Rule, *, steps: list[EscalationStep], now: dt.datetime
) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` for any client, ``attachments`` for detail."""
    heading = {"firing": "FIRING", "resolved": "RESOLVED", "escalated": "ESCALATED"}[kind]
    value = format_value(rule.metric, alert.value)
    threshold = format_value(rule.metric, rule.threshold)
    labels = _labels_text(alert.labels)
    text = f"[{heading}] {alert.level.upper()} {alert.rule}: {alert.summary} ({value}; {labels})"
    fields = [
        {"title": "Value", "value": value, "short": True},
        {"title": "Condition", "value": f"{rule.metric} {rule.op} {threshold}", "short": True},
        {"title": "Labels", "value": labels, "short": True},
        {"title": "Alert", "value": f"#{alert.id}", "short": True},
        {"title": "Channels", "value": ", ".join(alert.channels), "short": True},
    ]
    if kind == "escalated":
        step = next((s for s in steps if s.level == alert.escalation_level), None)
        who = ", ".join(step.stakeholders) if step else "?"
        text += f" -- escalated to level {alert.escalation_level}: {who}"
        level = f"level {alert.escalation_level}: {who}"
        fields.append({"title": "Escalation", "value": level, "short": True})
    if kind != "resolved":
        fields.append({"title": "Acknowledge", "value": f"coachline alerts ack {alert.id}", "short": False})
    return {
        "text": text,
        "attachments": [
            {
                "color": _COLORS["resolved" if kind == "resolved" else alert.level],
                "title": f"{alert.rule} is {alert.state}",
                "text": rule.source or alert.summary,
                "fields": fields,
                "footer": f"coachline alert rules v{alert.rules_version}",
                "ts": int(now.timestamp()),
            }
        ],
    }


def webhook_urls(rule: Rule, *, default_url: str, per_channel: dict[str, str]) -> list[str]:
    """Where a rule's notifications go: each channel's URL, else the default; no URL, no message."""
    urls: list[str] = []
    for channel in rule.channels:
        url = per_channel.get(channel, default_url)
        if url and url not in urls:
            urls.append(url)
    return urls


def http_post(url: str, body: dict[str, Any], timeout_s: float) -> int:
    return httpx.post(url, json=body, timeout=timeout_s).status_code


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    retrying: int
    failed: int


def deliver_pending(
    database_url: str,
    *,
    now: dt.datetime,
    timeout_s: float,
    max_attempts: int,
    post: Post = http_post,
    limit: int = 100,
) -> DeliveryReport:
    """Post due notifications, one claimed row per transaction."""
    sent = retrying = failed = 0
    for _ in range(limit):
        with session_scope(database_url) as session:
            row = session.scalars(
                select(AlertNotification)
                .where(
                    AlertNotification.sent_at.is_(None),
                    AlertNotification.failed_at.is_(None),
                    AlertNotification.next_attempt_at <= now,
                )
                .order_by(AlertNotification.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                break
            error = _try_post(post, row, timeout_s)
            row.attempts += 1
            if error is None:
                row.sent_at = now
                sent += 1
                outcome = "sent"
            elif row.attempts >= max_attempts:
                row.failed_at, row.last_error = now, error
                failed += 1
                outcome = "failed"
            else:
                backoff = _BACKOFF_S[min(row.attempts, len(_BACKOFF_S)) - 1]
                row.next_attempt_at, row.last_error = now + dt.timedelta(seconds=backoff), error
                retrying += 1
                outcome = "retrying"
        metrics.ALERT_NOTIFICATIONS.labels(outcome=outcome).inc()
        if error is not None:
            log.warning("alerts.notify_failed", notification_id=row.id, alert_id=row.alert_id, error=error)
    return DeliveryReport(sent=sent, retrying=retrying, failed=failed)


def _try_post(post: Post, row: AlertNotification, timeout_s: float) -> str | None:
    try:
        status = post(row.url, row.payload, timeout_s)
    except httpx.HTTPError as e:
        return f"{type(e).__name__}"
    if 200 <= status < 300:
        return None
    return f"HTTP {status}"
