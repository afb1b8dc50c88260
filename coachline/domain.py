"""Domain types every part shares: tiers, privacy levels, request states, chat messages."""

from __future__ import annotations

import enum
from typing import Literal, TypedDict


class Tier(enum.StrEnum):
    """The five processing tiers of the product plan."""

    LOCAL_FAST = "LOCAL_FAST"
    LOCAL_STANDARD = "LOCAL_STANDARD"
    CLOUD_ENHANCED = "CLOUD_ENHANCED"
    CLOUD_SPECIALIZED = "CLOUD_SPECIALIZED"
    CLOUD_FALLBACK = "CLOUD_FALLBACK"

    @property
    def is_local(self) -> bool:
        return self in (Tier.LOCAL_FAST, Tier.LOCAL_STANDARD)


class PrivacyLevel(enum.StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    SENSITIVE = "sensitive"

    @property
    def rank(self) -> int:
        return _PRIVACY_RANK[self]

    @classmethod
    def strictest(cls, *levels: PrivacyLevel | None) -> PrivacyLevel:
        """The strictest of the given levels (None ignored); public when none is given."""
        present = [lvl for lvl in levels if lvl is not None]
        return max(present, key=lambda lvl: lvl.rank, default=cls.PUBLIC)


_PRIVACY_RANK = {PrivacyLevel.PUBLIC: 0, PrivacyLevel.PRIVATE: 1, PrivacyLevel.SENSITIVE: 2}


class RequestStatus(enum.StrEnum):
    QUEUED = "queued"
    ROUTING = "routing"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {RequestStatus.SUCCEEDED, RequestStatus.FAILED, RequestStatus.CANCELLED, RequestStatus.EXPIRED}
)

Role = Literal["system", "user", "assistant"]


class ChatMessage(TypedDict):
    role: Role
    content: str
