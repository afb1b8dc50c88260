"""What people do with alerts: list them, read their history, acknowledge them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from coachline.db.monitoring import Alert, AlertEvent
from coachline.errors import CoachlineError

OPEN_STATES = ("pending", "firing")


class AlertError(CoachlineError):
    """An alert action that cannot be done; ``code`` is stable for the API."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def acknowledge(session: Session, *, alert_id: int, by: str, now: dt.datetime) -> Alert:
    """Stop an open alert's escalation; acknowledging twice keeps the first acknowledgement."""
    alert = session.scalar(select(Alert).where(Alert.id == alert_id).with_for_update())
    if alert is None:
        raise AlertError("not_found", f"no alert {alert_id}")
    if alert.state not in OPEN_STATES:
        raise AlertError("alert_closed", f"alert {alert_id} is {alert.state}; only open alerts take an ack")
    if alert.acknowledged_at is None:
        alert.acknowledged_at = now
        alert.acknowledged_by = by
        session.add(AlertEvent(alert_id=alert.id, at=now, kind="acknowledged", detail={"by": by}))
    return alert


def list_alerts(
    session: Session, *, include_closed_since: dt.datetime | None = None, limit: int = 200
) -> list[Alert]:
    """Open alerts, and closed ones that ended after ``include_closed_since``; newest first."""
    condition: ColumnElement[bool] = Alert.state.in_(OPEN_STATES)
    if include_closed_since is not None:
        condition = or_(condition, Alert.resolved_at >= include_closed_since)
    return list(session.scalars(select(Alert).where(condition).order_by(Alert.id.desc()).limit(limit)))


def history(session: Session, alert_id: int) -> list[AlertEvent]:
    return list(
        session.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id))
    )
