"""The OpenAI-compatible API, through the real openai client: answers, streaming, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.sim.conftest import StartSim
from tests.sim.simkit import chat, client, user
from workers.sim import SimConfig, SimHandle, start_in_thread
from workers.sim.text import VOCABULARY, estimate_prompt_tokens

MODEL = "coach-7b"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    config = SimConfig.from_profile(
        "fast",
        model=MODEL,
        served_model_names=(MODEL, "coach-alias"),
        output_tokens_min=10,
        output_tokens_max=40,
        max_model_len=256,
        kv_capacity_tokens=10_000,
    )
    with start_in_thread(config) as handle:
        yield handle


def _words(text: str) -> list[str]:
    return text.split()


def test_non_stream_answer_is_a_chat_completion_with_usage(sim: SimHandle) -> None:
    messages = user("How do I build a morning routine that sticks?")
    answer = client(sim).chat.completions.create(model=MODEL, messages=messages, max_tokens=100)

    assert answer.object == "chat.completion"
    assert answer.model == MODEL
    assert answer.id.startswith("chatcmpl-")
    choice = answer.choices[0]
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    words = _words(choice.message.content or "")
    # One vocabulary word per token, so the usage is exact.
    assert 10 <= len(words) <= 40
    assert {w.rstrip(".").lower() for w in words} <= set(VOCABULARY)
    assert answer.usage is not None
    assert answer.usage.completion_tokens == len(words)
    assert answer.usage.prompt_tokens == estimate_prompt_tokens(messages)
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


def test_stream_with_usage_matches_the_plain_answer(sim: SimHandle) -> None:
    messages = user("Give me one tip for staying calm before a presentation.")
    plain = client(sim).chat.completions.create(model=MODEL, messages=messages, max_tokens=100)
    stream = client(sim).chat.completions.create(
        model=MODEL,
        messages=messages,
        max_tokens=100,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    finishing = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishing == ["stop"]
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and plain.usage is not None
    assert last.usage.model_dump() == plain.usage.model_dump()


def test_raw_stream_is_sse_ending_with_usage_then_done(sim: SimHandle) -> None:
    body = {
        "model": MODEL,
        "messages": user("raw stream"),
        "stream": True,
        "max_tokens": 5,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream("POST", f"{sim.url}/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    usage_chunk = json.loads(events[-2].removeprefix("data: "))
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] == 5
    # role chunk + 5 token chunks + usage + [DONE]
    assert len(events) == 8
    assert json.loads(events[-3].removeprefix("data: "))["choices"][0]["finish_reason"] == "length"


def test_stream_without_include_usage_sends_no_usage_chunk(sim: SimHandle) -> None:
    stream = client(sim).chat.completions.create(
        model=MODEL, messages=user("no usage"), stream=True, max_tokens=20
    )
    chunks = list(stream)
    assert chunks and all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)


def test_max_tokens_truncates_the_same_answer_with_finish_reason_length(sim: SimHandle) -> None:
    messages = user("Truncate me kindly.")
    full = client(sim).chat.completions.create(model=MODEL, messages=messages, max_tokens=200)
    short = client(sim).chat.completions.create(model=MODEL, messages=messages, max_tokens=3)
    newer = client(sim).chat.completions.create(
        model=MODEL, messages=messages, max_tokens=200, max_completion_tokens=4
    )

    full_words = _words(full.choices[0].message.content or "")
    assert short.choices[0].finish_reason == "length"
    assert _words(short.choices[0].message.content or "") == full_words[:3]
    assert short.usage is not None and short.usage.completion_tokens == 3
    # max_completion_tokens wins over max_tokens, as in OpenAI's API and vLLM.
    assert _words(newer.choices[0].message.content or "") == full_words[:4]


def test_models_lists_every_served_name(sim: SimHandle) -> None:
    models = client(sim).models.list()
    assert [m.id for m in models.data] == [MODEL, "coach-alias"]
    assert all(m.owned_by == "vllm" for m in models.data)
    # An alias is as good as the main name.
    answer = client(sim).chat.completions.create(model="coach-alias", messages=user("alias"))
    assert answer.model == "coach-alias"


def test_request_without_model_uses_the_served_model(sim: SimHandle) -> None:
    response = chat(sim, {"messages": user("no model field"), "max_tokens": 4})
    assert response.status_code == 200
    assert response.json()["model"] == MODEL


def test_unknown_model_is_404_in_vllm_error_shape(sim: SimHandle) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client(sim).chat.completions.create(model="gpt-nope", messages=user("hi"))
    assert caught.value.status_code == 404
    error = caught.value.response.json()["error"]
    assert error == {
        "message": "The model `gpt-nope` does not exist.",
        "type": "NotFoundError",
        "param": "model",
        "code": 404,
    }


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        ({"model": MODEL}, "'messages'"),
        ({"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}, "role"),
        ({"model": MODEL, "messages": user("x"), "max_tokens": 0}, "'max_tokens' must be at least 1"),
        ({"model": MODEL, "messages": user("x"), "max_tokens": "ten"}, "'max_tokens' must be an integer"),
        ({"model": MODEL, "messages": user("x"), "temperature": 7}, "'temperature'"),
        ({"model": MODEL, "messages": user("x"), "stream_options": {"include_usage": True}}, "stream=True"),
        ({"model": MODEL, "messages": user("x"), "n": 2}, "'n' must be 1"),
    ],
)
def test_malformed_body_is_400_in_vllm_error_shape(sim: SimHandle, body: Any, fragment: str) -> None:
    if isinstance(body, bytes):
        response = httpx.post(
            f"{sim.url}/chat/completions", content=body, headers={"content-type": "application/json"}
        )
    else:
        response = chat(sim, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "BadRequestError"
    assert error["code"] == 400
    assert fragment in error["message"]


def test_context_length_is_checked_like_vllm(sim: SimHandle) -> None:
    # max_model_len is 256 here; a 900-character message is ~230 tokens.
    long_prompt = user("x" * 900)
    prompt_tokens = estimate_prompt_tokens(long_prompt)
    with pytest.raises(openai.BadRequestError) as caught:
        client(sim).chat.completions.create(model=MODEL, messages=long_prompt, max_tokens=50)
    message = caught.value.response.json()["error"]["message"]
    assert message.startswith("This model's maximum context length is 256 tokens.")
    assert f"({prompt_tokens} in the messages, 50 in the completion)" in message

    # Exactly at the limit is allowed.
    fits = 256 - prompt_tokens
    answer = client(sim).chat.completions.create(model=MODEL, messages=long_prompt, max_tokens=fits)
    assert answer.usage is not None and answer.usage.completion_tokens <= fits

    # A prompt that fills the window alone is rejected even without max_tokens.
    with pytest.raises(openai.BadRequestError, match="maximum context length is 256"):
        client(sim).chat.completions.create(model=MODEL, messages=user("y" * 1100))


def test_same_prompt_same_answer_and_the_seed_changes_it(start_sim: StartSim) -> None:
    messages = user("What should I focus on this week?")
    other = user("What should I focus on next week?")

    def answer(handle: SimHandle, msgs: list[Any]) -> str:
        result = client(handle).chat.completions.create(model="m", messages=msgs)
        return result.choices[0].message.content or ""

    first = start_sim(model="m", seed=1, output_tokens_min=20, output_tokens_max=60)
    twin = start_sim(model="m", seed=1, output_tokens_min=20, output_tokens_max=60)
    reseeded = start_sim(model="m", seed=2, output_tokens_min=20, output_tokens_max=60)

    reference = answer(first, messages)
    assert answer(first, messages) == reference
    assert answer(twin, messages) == reference  # another process run, same config: same text
    assert answer(first, other) != reference
    assert answer(reseeded, messages) != reference
