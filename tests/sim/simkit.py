"""Helpers for the simulator's tests: clients, metric scraping, message building."""

from __future__ import annotations

from typing import Any

import httpx
import openai
from prometheus_client.parser import text_string_to_metric_families

from workers.sim import SimHandle

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def client(handle: SimHandle, **kwargs: Any) -> openai.OpenAI:
    """The real openai client against a simulator; retries off unless asked for."""
    kwargs.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=handle.url, api_key="x", **kwargs)


def scrape(handle: SimHandle) -> Samples:
    """/metrics as {(sample name, labels): value}."""
    response = httpx.get(f"{handle.base_url}/metrics")
    assert response.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, handle: SimHandle, name: str, **labels: str) -> float:
    """One sample; labels default to the sim's model_name and engine "0", as vLLM labels them."""
    labels.setdefault("model_name", handle.config.served_model_name)
    labels.setdefault("engine", "0")
    return samples[(name, frozenset(labels.items()))]


def metric(handle: SimHandle, name: str, **labels: str) -> float:
    return value(scrape(handle), handle, name, **labels)


def user(content: str) -> list[Any]:
    """One user message (typed loosely so it passes as the openai client's message params)."""
    return [{"role": "user", "content": content}]


def chat(handle: SimHandle, body: dict[str, Any]) -> httpx.Response:
    """A raw POST /v1/chat/completions, for what the openai client would hide."""
    return httpx.post(f"{handle.url}/chat/completions", json=body, timeout=30.0)
