"""The engine simulator: vLLM's OpenAI-compatible server without a GPU (``coachline sim``).

It stands in for external engines (vLLM on A100s, the OpenAI API) in the embedded default, tests,
benchmarks and capacity planning; it is never used to fake coachline's own code.
"""

from workers.sim.app import create_app
from workers.sim.config import PROFILES, SimConfig, SimConfigError
from workers.sim.server import SimHandle, SimStartError, serve, start_in_thread

__all__ = [
    "PROFILES",
    "SimConfig",
    "SimConfigError",
    "SimHandle",
    "SimStartError",
    "create_app",
    "serve",
    "start_in_thread",
]
