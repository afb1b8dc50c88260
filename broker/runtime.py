"""What a task needs besides its arguments: settings, the Celery app and the event bus."""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery

from coachline.events import EventPublisher
from coachline.settings import Settings


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    app: Celery
    events: EventPublisher
