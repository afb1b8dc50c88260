"""One client path for every engine: vLLM's OpenAI-compatible server and OpenAI itself."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx2
import openai

from workers.errors import EngineError


@dataclass(frozen=True)
class EngineTarget:
    base_url: str
    model: str
    api_key: str
    pool: str | None  # None for the cloud
    processing_mode: str  # "local" | "cloud"


@dataclass(frozen=True)
class Completion:
    content: str
    model: str
    tokens_in: int
    tokens_out: int
    ttft_ms: float
    engine_ms: float


_clients: dict[tuple[str, str, float, float], openai.OpenAI] = {}
_clients_lock = threading.Lock()


def _client(target: EngineTarget, timeout_s: float, connect_timeout_s: float) -> openai.OpenAI:
    key = (target.base_url, target.api_key, timeout_s, connect_timeout_s)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                # Retries are ours (with fallback and stored attempts), so the SDK's own are off.
                # The pool is sized for a full continuous batch per engine.
                http = openai.DefaultHttpxClient(
                    limits=httpx2.Limits(max_connections=2048, max_keepalive_connections=512),
                    timeout=openai.Timeout(timeout_s, connect=connect_timeout_s),
                )
                client = openai.OpenAI(
                    base_url=target.base_url, api_key=target.api_key, max_retries=0, http_client=http
                )
                _clients[key] = client
    return client


def _retry_after_s(error: openai.APIStatusError) -> float | None:
    value = error.response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def classify(error: Exception) -> EngineError:
    """Map an ``openai`` exception to an EngineError with a stable code."""
    if isinstance(error, openai.APITimeoutError):
        return EngineError("engine_timeout", "the engine did not answer in time", transient=True)
    if isinstance(error, openai.APIConnectionError):
        return EngineError("engine_unreachable", "the engine could not be reached", transient=True)
    if isinstance(error, openai.RateLimitError):
        return EngineError(
            "engine_rate_limited",
            "the engine is rate limiting",
            transient=True,
            retry_after_s=_retry_after_s(error),
        )
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        body = str(error.message).lower()
        if status == 400 and (
            "context length" in body or "maximum context" in body or "context_length" in body
        ):
            return EngineError(
                "context_length_exceeded",
                "the conversation is longer than the model's context",
                transient=False,
            )
        if status in (401, 403):
            return EngineError(
                "engine_auth", f"the engine refused the credentials ({status})", transient=False
            )
        if status == 404:
            return EngineError("model_not_found", "the engine does not serve this model", transient=False)
        if status >= 500 or status == 408:
            return EngineError(
                "engine_error",
                f"the engine failed ({status})",
                transient=True,
                retry_after_s=_retry_after_s(error),
            )
        return EngineError("engine_rejected", f"the engine rejected the request ({status})", transient=False)
    if isinstance(error, openai.APIError):
        return EngineError("engine_error", "the engine's answer could not be read", transient=True)
    raise TypeError(f"not an engine error: {type(error).__name__}") from error


def _chunk(data: str) -> dict[str, Any]:
    """One streamed chunk; an error the server sends mid-stream becomes an EngineError."""
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError as e:
        raise EngineError(
            "engine_error", "the engine streamed a chunk that is not JSON", transient=True
        ) from e
    if not isinstance(chunk, dict):
        raise EngineError("engine_error", "the engine streamed a chunk that is not an object", transient=True)
    if "error" in chunk:
        error = chunk["error"] if isinstance(chunk["error"], dict) else {"message": str(chunk["error"])}
        message = str(error.get("message", "error"))[:200]
        raise EngineError("engine_error", f"the engine failed mid-stream: {message}", transient=True)
    return chunk


def complete(
    target: EngineTarget,
    messages: Sequence[dict[str, Any]],
    *,
    max_tokens: int,
    temperature: float | None,
    timeout_s: float,
    connect_timeout_s: float,
) -> Completion:
    """Stream one chat completion from ``target``; raises EngineError."""
    client = _client(target, timeout_s, connect_timeout_s)
    started = time.perf_counter()
    first_token_at: float | None = None
    parts: list[str] = []
    tokens_in = tokens_out = 0
    model = target.model
    kwargs: dict[str, Any] = {}
    if temperature is not None:
        kwargs["temperature"] = temperature
    try:
        # The SDK sends the request and maps error statuses; the server-sent events are read as
        # plain JSON, because building a typed model per chunk cost half the worker's CPU.
        with client.chat.completions.with_streaming_response.create(  # type: ignore[call-overload]
            model=target.model,
            messages=list(messages),  # plain role/content dicts
            max_tokens=max_tokens,
            stream=True,
            stream_options={"include_usage": True},
            **kwargs,
        ) as response:
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = _chunk(data)
                model = chunk.get("model") or model
                usage = chunk.get("usage")
                if usage:
                    tokens_in = int(usage.get("prompt_tokens", 0))
                    tokens_out = int(usage.get("completion_tokens", 0))
                for choice in chunk.get("choices") or ():
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        if first_token_at is None:
                            first_token_at = time.perf_counter()
                        parts.append(text)
    except openai.APIError as e:
        raise classify(e) from e
    except openai.OpenAIError as e:
        # Raised before any request is sent: the client itself is misconfigured.
        raise EngineError(
            "engine_client_error", f"the engine client is misconfigured: {e}", transient=False
        ) from e
    except httpx2.HTTPError as e:
        raise EngineError(
            "engine_unreachable", f"the stream broke ({type(e).__name__})", transient=True
        ) from e
    finished = time.perf_counter()
    if first_token_at is None:
        first_token_at = finished
    return Completion(
        content="".join(parts),
        model=model,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        ttft_ms=(first_token_at - started) * 1000,
        engine_ms=(finished - started) * 1000,
    )
