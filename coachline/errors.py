"""The error hierarchy shared by every part of coachline."""

from __future__ import annotations

from pydantic import ValidationError


class CoachlineError(Exception):
    """Base of every error coachline raises on purpose."""


class ConfigError(CoachlineError):
    """A setting or the pools file is wrong; the message names the field."""


def describe_validation(error: ValidationError, source: str) -> str:
    """One sentence per problem of a validated file, each naming the field (``pools.0.tiers``)."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        parts.append(f"{where}: {item['msg']}")
    return f"{source}: " + "; ".join(parts)
