"""The OpenAI chat-completions wire format: parse a request body, write answers and stream chunks.

Only what coachline and the ``openai`` client use is modelled; unknown fields are ignored, as vLLM
does. Validation errors carry the message a vLLM server would give a client (400, BadRequestError).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


class BadRequest(Exception):
    """The request body is malformed; ``param`` names the offending field when there is one."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str | None
    messages: list[dict[str, Any]]
    max_tokens: int | None
    stream: bool
    include_usage: bool
    seed: int | None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_int(body: dict[str, Any], key: str, minimum: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not _is_int(value):
        raise BadRequest(f"'{key}' must be an integer, got {json.dumps(value)}.", key)
    if value < minimum:
        raise BadRequest(f"'{key}' must be at least {minimum}, got {value}.", key)
    return int(value)


def _messages(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise BadRequest("'messages' must be a non-empty list of chat messages.", "messages")
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise BadRequest(f"messages[{i}] must be an object with 'role' and 'content'.", "messages")
        role = message.get("role")
        if role not in _ROLES:
            raise BadRequest(
                f"messages[{i}].role must be one of {', '.join(sorted(_ROLES))}, got {role!r}.", "messages"
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise BadRequest(
                f"messages[{i}].content must be a string or a list of content parts.", "messages"
            )
    return value


def parse_chat_request(raw: bytes) -> ChatRequest:
    """Validate a chat-completions body; raises BadRequest with a client-facing sentence."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"The request body is not valid JSON: {e}.") from e
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise BadRequest("'model' must be a string.", "model")
    messages = _messages(body.get("messages"))
    max_tokens = _optional_int(body, "max_tokens", 1)
    # The newer name wins, as in OpenAI's API and vLLM.
    max_completion_tokens = _optional_int(body, "max_completion_tokens", 1)
    if max_completion_tokens is not None:
        max_tokens = max_completion_tokens
    temperature = body.get("temperature")
    if temperature is not None:
        number = isinstance(temperature, int | float) and not isinstance(temperature, bool)
        if not number or not math.isfinite(temperature):
            raise BadRequest("'temperature' must be a number.", "temperature")
        if not 0.0 <= temperature <= 2.0:
            raise BadRequest(f"'temperature' must be between 0 and 2, got {temperature}.", "temperature")
    n = _optional_int(body, "n", 1)
    if n is not None and n != 1:
        raise BadRequest("The simulator answers with one choice only; 'n' must be 1.", "n")
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise BadRequest("'stream' must be true or false.", "stream")
    stream_options = body.get("stream_options")
    include_usage = False
    if stream_options is not None:
        if not isinstance(stream_options, dict):
            raise BadRequest("'stream_options' must be an object.", "stream_options")
        if not stream:
            # vLLM rejects this combination with the same message.
            raise BadRequest("Stream options can only be defined when `stream=True`.", "stream_options")
        include_usage = stream_options.get("include_usage") is True
    seed = body.get("seed")
    if seed is not None and not _is_int(seed):
        raise BadRequest("'seed' must be an integer.", "seed")
    return ChatRequest(
        model=model,
        messages=messages,
        max_tokens=max_tokens,
        stream=stream,
        include_usage=include_usage,
        seed=seed,
    )


def new_completion_id() -> str:
    return "chatcmpl-" + os.urandom(16).hex()


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_body(
    *,
    completion_id: str,
    created: int,
    model: str,
    text: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
) -> bytes:
    """A non-streamed ``chat.completion`` object."""
    return json.dumps(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "tool_calls": []},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": usage(prompt_tokens, completion_tokens),
        }
    ).encode()


class ChunkWriter:
    """Server-sent events for one streamed completion, built from pre-rendered JSON around each token.

    Rendering the fixed part once and splicing in ``json.dumps(token)`` keeps a chunk to one small
    string operation, which matters with hundreds of concurrent streams.
    """

    def __init__(self, *, completion_id: str, created: int, model: str) -> None:
        self._id = completion_id
        self._created = created
        self._model = model
        head = json.dumps(
            {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}
        )[:-1]
        self._choice_head = head + ',"choices":[{"index":0,"delta":'
        self._role = (
            self._choice_head + '{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}'
        )
        self._usage_head = head + ',"choices":[],"usage":'

    def role(self) -> str:
        return f"data: {self._role}\n\n"

    def token(self, text: str, finish_reason: str | None = None) -> str:
        # vLLM puts finish_reason on the chunk that carries the last token.
        reason = "null" if finish_reason is None else f'"{finish_reason}"'
        return (
            f'data: {self._choice_head}{{"content":{json.dumps(text)}}},"logprobs":null,'
            f'"finish_reason":{reason}}}]}}\n\n'
        )

    def usage(self, prompt_tokens: int, completion_tokens: int) -> str:
        return f"data: {self._usage_head}{json.dumps(usage(prompt_tokens, completion_tokens))}}}\n\n"

    @staticmethod
    def done() -> str:
        return "data: [DONE]\n\n"
