"""External metrics: the values the cluster cannot measure, checked and stored for the gates.

Shared by ``POST /v1/metrics/external`` and ``coachline gates record``. A value is accepted only
for a metric the gates file declares external, in that metric's unit; the same (metric, source,
measured_at) again is a safe retry when the value is the same, a conflict when it differs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coachline.db.lifecycle import ExternalMetric
from coachline.errors import CoachlineError
from coachline.telemetry import metrics
from scheduler.gates.spec import GatesFile

# A clock slightly ahead of ours is not an error; a measurement from the future is.
FUTURE_SKEW = dt.timedelta(minutes=5)


class ExternalMetricError(CoachlineError):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def _iso(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def view(row: ExternalMetric) -> dict[str, Any]:
    return {
        "id": row.id,
        "metric": row.metric,
        "value": row.value,
        "source": row.source,
        "measured_at": _iso(row.measured_at),
        "received_at": _iso(row.received_at),
        "received_by": row.received_by,
    }


def validate(
    gates: GatesFile, *, metric: str, value: float, source: str, measured_at: dt.datetime, now: dt.datetime
) -> None:
    spec = gates.metrics.get(metric)
    if spec is None:
        known = ", ".join(sorted(gates.external_metrics()))
        raise ExternalMetricError(
            422, "unknown_metric", f"metric: unknown; external metrics: {known}", "metric"
        )
    if spec.source != "external":
        raise ExternalMetricError(
            422,
            "measured_by_cluster",
            f"metric: {metric} is measured by the cluster ({spec.source}); it cannot be posted",
            "metric",
        )
    problem = spec.check_value(value)
    if problem is not None:
        raise ExternalMetricError(
            422, "invalid_value", f"value: {metric} is in {spec.unit}: {problem}", "value"
        )
    if not source.strip():
        raise ExternalMetricError(422, "invalid_request", "source: must not be empty", "source")
    if measured_at.tzinfo is None:
        raise ExternalMetricError(
            422, "invalid_request", "measured_at: needs a timezone (e.g. Z)", "measured_at"
        )
    if measured_at > now + FUTURE_SKEW:
        raise ExternalMetricError(422, "invalid_request", "measured_at: is in the future", "measured_at")


def record_external(
    session: Session,
    gates: GatesFile,
    *,
    metric: str,
    value: float,
    source: str,
    measured_at: dt.datetime,
    received_by: str,
    now: dt.datetime,
) -> tuple[dict[str, Any], bool]:
    """Store one value; returns it and whether it is new. Commits."""
    validate(gates, metric=metric, value=value, source=source, measured_at=measured_at, now=now)
    row = ExternalMetric(
        metric=metric,
        value=float(value),
        source=source.strip(),
        measured_at=measured_at.astimezone(dt.UTC),
        received_at=now,
        received_by=received_by,
    )
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        existing = session.scalar(
            select(ExternalMetric).where(
                ExternalMetric.metric == metric,
                ExternalMetric.source == source.strip(),
                ExternalMetric.measured_at == measured_at,
            )
        )
        if existing is None:
            raise
        if existing.value != float(value):
            raise ExternalMetricError(
                409,
                "metric_exists",
                f"{metric} from {source} measured at {_iso(measured_at)} is already {existing.value:g}",
            ) from None
        return view(existing), False
    metrics.EXTERNAL_METRICS.labels(metric=metric).inc()
    return view(row), True


def latest_values(session: Session, gates: GatesFile) -> list[dict[str, Any]]:
    """Each external metric of the gates file with its newest value (None when never posted)."""
    out = []
    for name, spec in sorted(gates.external_metrics().items()):
        row = session.scalar(
            select(ExternalMetric)
            .where(ExternalMetric.metric == name)
            .order_by(ExternalMetric.measured_at.desc(), ExternalMetric.id.desc())
            .limit(1)
        )
        out.append(
            {
                "metric": name,
                "unit": spec.unit,
                "description": spec.description,
                "latest": view(row) if row else None,
            }
        )
    return out
