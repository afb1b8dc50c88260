"""Redis key and channel names, in one place."""

from __future__ import annotations

PREFIX = "coachline"
DONE_CHANNEL_PREFIX = f"{PREFIX}:done:"
DONE_CHANNEL_PATTERN = f"{DONE_CHANNEL_PREFIX}*"


def done_channel(request_id: str) -> str:
    return f"{DONE_CHANNEL_PREFIX}{request_id}"
