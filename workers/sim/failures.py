"""Error answers in vLLM's shape, and the seeded failure injector.

vLLM answers errors as ``{"error": {"message", "type", "param", "code"}}`` with ``code`` set to the
HTTP status; the ``openai`` client maps the status to its exception classes (BadRequestError,
NotFoundError, RateLimitError, InternalServerError...).
"""

from __future__ import annotations

import json
import math
import random

from starlette.responses import Response

from workers.sim.config import SimConfig

_TYPES = {
    400: "BadRequestError",
    404: "NotFoundError",
    429: "RateLimitError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
    504: "GatewayTimeoutError",
}


def error_response(
    status: int, message: str, *, param: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    error = {"message": message, "type": _TYPES.get(status, "APIError"), "param": param, "code": status}
    body = {"error": error}
    return Response(json.dumps(body), status_code=status, media_type="application/json", headers=headers)


def context_length_message(*, max_model_len: int, prompt_tokens: int, max_tokens: int | None) -> str:
    """vLLM's wording, which clients (coachline's included) recognise as context-length-exceeded."""
    if max_tokens is None:
        return (
            f"This model's maximum context length is {max_model_len} tokens. However, your request has "
            f"{prompt_tokens} input tokens. Please reduce the length of the input messages."
        )
    return (
        f"This model's maximum context length is {max_model_len} tokens. However, you requested "
        f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, {max_tokens} in the "
        f"completion). Please reduce the length of the messages or completion."
    )


def retry_after_headers(retry_after_s: float) -> dict[str, str]:
    """``Retry-After`` in seconds (fractional when configured so; coachline and openai read floats)
    plus ``retry-after-ms``, which the openai client prefers when present."""
    seconds = f"{retry_after_s:.3f}".rstrip("0").rstrip(".") or "0"
    return {"Retry-After": seconds, "retry-after-ms": str(math.ceil(retry_after_s * 1000))}


class FailureInjector:
    """Decides, request by request in arrival order, whether and how to fail.

    The first ``fail_first_n`` requests fail with ``fail_first_kind``; after that each request
    fails with probability ``failure_rate``, with a kind drawn from ``failure_kinds``. The draws
    come from ``random.Random(seed)``, so the same arrival order gives the same failures.
    """

    def __init__(self, config: SimConfig) -> None:
        self._config = config
        self._rng = random.Random(config.seed)
        self._seen = 0
        self.injected: dict[str, int] = {}

    def draw(self) -> str | None:
        config = self._config
        self._seen += 1
        kind: str | None = None
        if self._seen <= config.fail_first_n:
            kind = config.fail_first_kind
        elif config.failure_rate > 0.0 and self._rng.random() < config.failure_rate:
            kind = self._rng.choice(config.failure_kinds)
        if kind is not None:
            self.injected[kind] = self.injected.get(kind, 0) + 1
        return kind
