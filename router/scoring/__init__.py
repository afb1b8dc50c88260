"""Complexity and privacy scoring of chat requests: plain functions over plain data."""

from router.scoring.complexity import ComplexityResult, calibrate_threshold, score_complexity
from router.scoring.privacy import PrivacyResult, detect_privacy, redact_messages

__all__ = [
    "ComplexityResult",
    "PrivacyResult",
    "calibrate_threshold",
    "detect_privacy",
    "redact_messages",
    "score_complexity",
]
