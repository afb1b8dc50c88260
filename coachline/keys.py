"""Redis key and channel names, in one place."""

from __future__ import annotations

PREFIX = "coachline"
DONE_CHANNEL_PREFIX = f"{PREFIX}:done:"
DONE_CHANNEL_PATTERN = f"{DONE_CHANNEL_PREFIX}*"


def done_channel(request_id: str) -> str:
    return f"{DONE_CHANNEL_PREFIX}{request_id}"


def load_key(pool: str) -> str:
    """The pool-load snapshot hash of ``pool``: engine URL -> EngineLoad JSON."""
    return f"{PREFIX}:load:{pool}"


def cooldown_key(engine_url: str) -> str:
    """An engine that keeps failing is skipped while this key lives."""
    return f"{PREFIX}:cooldown:{engine_url}"


def failures_key(engine_url: str) -> str:
    """Recent consecutive failures of an engine."""
    return f"{PREFIX}:failures:{engine_url}"
