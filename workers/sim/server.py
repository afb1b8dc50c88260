"""Run a simulator: blocking in the foreground, or on a background thread for tests and the embedded mode.

Each simulator gets its own uvicorn server, event loop and app state, so several can run in one
process (one thread each).
"""

from __future__ import annotations

import contextlib
import threading
import time
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from workers.sim.app import Simulator, create_app
from workers.sim.config import SimConfig

# In-flight answers get this long to finish on stop; then uvicorn cancels them.
GRACEFUL_SHUTDOWN_S = 5


class SimStartError(RuntimeError):
    """The simulator did not start listening (port taken, bad host, or too slow)."""


def _uvicorn_config(app: Starlette, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        # A full continuous batch is hundreds of open connections.
        backlog=4096,
    )


def serve(config: SimConfig, host: str = "127.0.0.1", port: int = 8100) -> None:
    """Serve until interrupted (SIGINT/SIGTERM stop it gracefully)."""
    uvicorn.Server(_uvicorn_config(create_app(config), host, port)).run()


class SimHandle:
    """A simulator running on a background thread. ``url`` is its OpenAI base URL (``.../v1``)."""

    def __init__(
        self,
        config: SimConfig,
        host: str,
        port: int,
        app: Starlette,
        server: uvicorn.Server,
        thread: threading.Thread,
    ) -> None:
        self.config = config
        self.app = app
        self.host = host
        self.port = port
        self._server = server
        self._thread = thread

    @property
    def base_url(self) -> str:
        """``http://host:port``, where /health and /metrics live."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL, e.g. ``http://127.0.0.1:8100/v1``."""
        return f"{self.base_url}/v1"

    @property
    def simulator(self) -> Simulator:
        """The app's state (engine, metrics, failure counts), for assertions in tests.

        It belongs to the server's event loop: read it, do not call into it from another thread.
        """
        sim: Simulator = self.app.state.sim
        return sim

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop gracefully: release held requests, let in-flight answers finish, close the socket."""
        if not self._thread.is_alive():
            return
        sim = self.simulator
        loop = sim.loop
        if loop is not None and not loop.is_closed():
            # The loop may close between the check and the call.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(sim.begin_shutdown)
        self._server.should_exit = True
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout_s)

    def __enter__(self) -> SimHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _run_quietly(server: uvicorn.Server) -> None:
    # uvicorn calls sys.exit() when it cannot bind; on a thread that is just the end of the thread,
    # which start_in_thread notices and reports as SimStartError.
    with contextlib.suppress(SystemExit):
        server.run()


def start_in_thread(
    config: SimConfig, host: str = "127.0.0.1", port: int = 0, *, ready_timeout_s: float = 10.0
) -> SimHandle:
    """Start a simulator on a daemon thread and return once its socket listens.

    ``port=0`` picks a free port (read it back from the handle). The simulated start-up delay
    (``startup_s``) is not waited for: /health answers 503 until it has passed.
    Raises SimStartError if the server does not come up.
    """
    app = create_app(config)
    server = uvicorn.Server(_uvicorn_config(app, host, port))
    name = f"sim:{config.served_model_name}:{port}"
    thread = threading.Thread(target=_run_quietly, args=(server,), name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + ready_timeout_s
    while not server.started:
        if not thread.is_alive():
            raise SimStartError(f"The simulator could not listen on {host}:{port} (see the log above).")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise SimStartError(f"The simulator did not start on {host}:{port} within {ready_timeout_s:g} s.")
        time.sleep(0.002)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    return SimHandle(config, host, int(bound_port), app, server, thread)
