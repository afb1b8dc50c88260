"""The engine client against a simulated vLLM server: one code path for local and cloud engines."""

from __future__ import annotations

import pytest

from tests.conftest import free_port
from workers.engines import EngineTarget, _chunk, complete
from workers.errors import EngineError
from workers.sim.config import SimConfig
from workers.sim.server import start_in_thread

MESSAGES = [{"role": "user", "content": "One tip for a calmer morning?"}]
MODEL = "mistralai/Mistral-7B-Instruct-v0.3"


def _call(url: str, model: str = MODEL, **kwargs: object) -> object:
    target = EngineTarget(url, model, "EMPTY", "fast", "local")
    return complete(
        target, MESSAGES, max_tokens=12, temperature=None, timeout_s=5, connect_timeout_s=1, **kwargs
    )


def test_streams_content_usage_and_timing() -> None:
    with start_in_thread(SimConfig.from_profile("fast", model=MODEL, ttft_base_ms=30)) as sim:
        first = _call(sim.url)
        second = _call(sim.url)
    assert first.content and first.content == second.content  # type: ignore[attr-defined]
    assert 0 < first.tokens_out <= 12  # type: ignore[attr-defined]
    assert first.tokens_in > 0 and first.model == MODEL  # type: ignore[attr-defined]
    assert 25 <= first.ttft_ms <= first.engine_ms  # type: ignore[attr-defined]


def test_errors_are_classified() -> None:
    with start_in_thread(
        SimConfig.from_profile("fast", model=MODEL, fail_first_n=1, fail_first_kind="500")
    ) as sim:
        with pytest.raises(EngineError) as info:
            _call(sim.url)
        assert (info.value.code, info.value.transient) == ("engine_error", True)
        with pytest.raises(EngineError) as info:
            _call(sim.url, model="no-such-model")
        assert (info.value.code, info.value.transient) == ("model_not_found", False)
    with pytest.raises(EngineError) as info:
        _call(f"http://127.0.0.1:{free_port()}/v1")
    assert (info.value.code, info.value.transient) == ("engine_unreachable", True)


def test_a_mid_stream_error_or_garbage_is_a_transient_engine_error() -> None:
    assert _chunk('{"choices": []}') == {"choices": []}
    for data in ('{"error": {"message": "CUDA out of memory"}}', "not json", "[1, 2]"):
        with pytest.raises(EngineError) as info:
            _chunk(data)
        assert info.value.transient and info.value.code == "engine_error"
