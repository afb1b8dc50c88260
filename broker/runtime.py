"""What a task needs besides its arguments: settings, the Celery app and the event bus."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from celery import Celery

from coachline.cooldown import CooldownStore
from coachline.events import EventPublisher
from coachline.loadsnap import CachedLoadReader, LoadStore
from coachline.settings import Settings


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    app: Celery
    events: EventPublisher
    # Shared by every process of the deployment: engine cooldowns and the pool-load snapshot.
    cooldowns: CooldownStore
    loads: LoadStore
    load_reader: CachedLoadReader
    # Replaces personal identifiers in a conversation (the router's detector, injected here so the
    # scheduler can redact exports without importing the router).
    redact: Callable[[Sequence[dict[str, Any]]], list[dict[str, Any]]]
