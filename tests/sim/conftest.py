"""Fixtures for the engine simulator's tests: real simulators on free ports, stopped afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from workers.sim import SimConfig, SimHandle, start_in_thread

StartSim = Callable[..., SimHandle]


@pytest.fixture
def start_sim() -> Iterator[StartSim]:
    """``start_sim(profile="fast", **overrides)`` starts a simulator on a free port."""
    handles: list[SimHandle] = []

    def start(profile: str = "fast", **overrides: Any) -> SimHandle:
        handle = start_in_thread(SimConfig.from_profile(profile, **overrides))
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()
