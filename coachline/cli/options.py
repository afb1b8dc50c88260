"""Option parsing shared by the CLI's command groups."""

from __future__ import annotations

import datetime as dt

import click


def parse_when(value: str | None) -> dt.datetime:
    """``--at`` values: an ISO time (``2026-01-05T10:15:00Z``; UTC when no zone), or now."""
    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise click.BadParameter(f"{value!r} is not an ISO time like 2026-01-05T10:15:00Z") from e
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
