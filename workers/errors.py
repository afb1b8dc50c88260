"""Engine errors, classified once so retry and fallback decide on a code, not on exception types."""

from __future__ import annotations

from coachline.errors import CoachlineError


class EngineError(CoachlineError):
    """An engine call failed. ``transient`` errors are worth another attempt."""

    def __init__(
        self, code: str, message: str, *, transient: bool, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = transient
        self.retry_after_s = retry_after_s
