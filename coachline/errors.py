"""The error hierarchy shared by every part of coachline."""

from __future__ import annotations


class CoachlineError(Exception):
    """Base of every error coachline raises on purpose."""


class ConfigError(CoachlineError):
    """A setting or the pools file is wrong; the message names the field."""
