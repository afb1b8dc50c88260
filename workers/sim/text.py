"""Deterministic stand-ins for a tokenizer and a model: token counts and answers from a prompt hash.

There is no tokenizer here, so a token is estimated as four characters of text (OpenAI's rule of
thumb for English) plus a few tokens per message for the chat template. An answer is a run of
words from a fixed coaching vocabulary, one word per token, chosen by a random generator seeded
from the prompt: the same messages and seed always give the same answer.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any

# Chat templates wrap each message in role markers (e.g. "[INST]", "<|start_header_id|>user...").
TEMPLATE_TOKENS_PER_MESSAGE = 3
# ...and open the assistant's turn once at the end.
TEMPLATE_TOKENS_REPLY = 3

VOCABULARY: tuple[str, ...] = (
    "focus",
    "habit",
    "goal",
    "progress",
    "breathe",
    "plan",
    "reflect",
    "energy",
    "routine",
    "small",
    "steps",
    "momentum",
    "clarity",
    "balance",
    "rest",
    "practice",
    "notice",
    "choose",
    "commit",
    "today",
    "tomorrow",
    "week",
    "morning",
    "evening",
    "journal",
    "gratitude",
    "priority",
    "boundary",
    "value",
    "strength",
    "growth",
    "feedback",
    "listen",
    "question",
    "curious",
    "kind",
    "honest",
    "patient",
    "consistent",
    "celebrate",
    "review",
    "adjust",
    "schedule",
    "block",
    "time",
    "minutes",
    "walk",
    "sleep",
    "water",
    "pause",
    "intention",
    "mindset",
    "confidence",
    "support",
    "team",
    "conversation",
    "outcome",
    "effort",
    "learning",
    "experiment",
    "track",
    "simple",
    "next",
    "action",
)

# Sentence lengths in words; a short answer is still a few full-ish sentences.
_SENTENCE_MIN_WORDS = 5
_SENTENCE_MAX_WORDS = 14


def message_text(message: dict[str, Any]) -> str:
    """The text of one chat message: a string content, or the text parts of a list content."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def estimate_prompt_tokens(messages: Sequence[dict[str, Any]]) -> int:
    """Prompt length in tokens: ceil(chars / 4) per message plus chat-template overhead."""
    total = TEMPLATE_TOKENS_REPLY
    for message in messages:
        total += TEMPLATE_TOKENS_PER_MESSAGE + (len(message_text(message)) + 3) // 4
    return total


def prompt_digest(messages: Sequence[dict[str, Any]], *, seed: int, request_seed: int | None) -> int:
    """A 64-bit hash of the conversation, the simulator's seed and the request's own ``seed``."""
    h = hashlib.blake2b(digest_size=8)
    h.update(f"{seed}|{request_seed}".encode())
    for message in messages:
        # Separators that cannot appear in JSON strings keep ("ab","c") and ("a","bc") apart.
        h.update(b"\x00" + str(message.get("role", "")).encode() + b"\x01")
        h.update(message_text(message).encode())
    return int.from_bytes(h.digest(), "big")


def natural_length(digest: int, *, low: int, high: int) -> int:
    """The answer length the "model" wants, before max_tokens caps it; depends only on the prompt."""
    return low + digest % (high - low + 1)


def answer_tokens(digest: int, count: int) -> list[str]:
    """``count`` tokens of a deterministic answer; token i is a word with its leading space.

    The first ``k`` tokens of a longer answer equal the answer of length ``k``, so a max_tokens cap
    truncates the same text rather than producing a different one.
    """
    rng = random.Random(digest)
    tokens: list[str] = []
    words_left_in_sentence = 0
    choice = rng.choice
    for i in range(count):
        word = choice(VOCABULARY)
        if words_left_in_sentence == 0:
            words_left_in_sentence = rng.randint(_SENTENCE_MIN_WORDS, _SENTENCE_MAX_WORDS)
            word = word.capitalize()
        words_left_in_sentence -= 1
        if words_left_in_sentence == 0:
            word += "."
        tokens.append(word if i == 0 else " " + word)
    return tokens
