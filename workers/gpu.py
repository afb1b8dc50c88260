"""The GPU-pinned pool worker, ``coachline worker gpu --pool NAME --gpu N``: one engine per GPU, kept full.

1. Which engine: the pool's engine whose ``gpu`` field is N, else the pool's N-th engine.
2. Start the engine command (``vllm serve`` by default) with ``CUDA_VISIBLE_DEVICES=N`` on the port of
   that engine's URL, or attach to an engine already serving there, and wait for ``GET /health`` to
   answer 200. The load time and the outcome are metrics.
3. Pin the process to that engine (``pinned_engine_url``: its pool is narrowed to it, so every attempt
   goes to this GPU) and consume ``pool.NAME`` with ``max_num_seqs`` threads plus headroom, so the
   engine's continuous batch stays full; a background thread publishes the engine's load.
4. SIGTERM: Celery's warm shutdown stops consuming and lets the tasks in flight finish; messages that
   were not started go back to the queue (tasks are acknowledged late). Then the engine is stopped.
   If the engine dies while consuming, the worker shuts down the same way and exits 1, rather than
   take messages it can only fail.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from broker.worker import worker_argv
from coachline.errors import CoachlineError, ConfigError
from coachline.pools import EngineSpec, PoolsConfig, PoolSpec
from coachline.settings import Settings
from coachline.telemetry import metrics
from workers.loadpub import LoadPublisher, engine_root, start_publisher

log = structlog.get_logger(__name__)

PLACEHOLDERS = ("model", "port", "max_num_seqs", "gpu", "python")
_HEALTH_POLL_S = 0.25
_WATCH_EVERY_S = 1.0
_PR_SET_PDEATHSIG = 1


class EngineStartError(CoachlineError):
    """The engine did not become healthy; the message is the sentence the operator reads."""


class _Interrupted(BaseException):
    """SIGTERM or SIGINT arrived while the engine was still loading."""


@dataclass(frozen=True)
class PinnedEngine:
    pool: PoolSpec
    engine: EngineSpec
    gpu: int

    @property
    def port(self) -> int:
        parts = urlsplit(self.engine.base_url)
        if parts.port is not None:
            return parts.port
        return 443 if parts.scheme == "https" else 80

    @property
    def root_url(self) -> str:
        return engine_root(self.engine.base_url)


def select_engine(pools: PoolsConfig, pool_name: str, gpu: int) -> PinnedEngine:
    """The engine of ``pool_name`` that GPU ``gpu`` serves: its ``gpu`` field, else its index."""
    try:
        pool = pools.pool(pool_name)
    except KeyError:
        names = ", ".join(p.name for p in pools.pools)
        raise ConfigError(f"there is no pool {pool_name!r} in the pools file (pools: {names})") from None
    for engine in pool.engines:
        if engine.gpu == gpu:
            return PinnedEngine(pool, engine, gpu)
    if any(engine.gpu is not None for engine in pool.engines):
        gpus = ", ".join(str(e.gpu) for e in pool.engines if e.gpu is not None)
        raise ConfigError(f"no engine of pool {pool_name!r} is on GPU {gpu} (its engines are on GPUs {gpus})")
    if not 0 <= gpu < len(pool.engines):
        raise ConfigError(
            f"pool {pool_name!r} has {len(pool.engines)} engine(s) and none names a gpu, so --gpu must be "
            f"an index from 0 to {len(pool.engines) - 1}, not {gpu}"
        )
    return PinnedEngine(pool, pool.engines[gpu], gpu)


def engine_argv(template: str, pinned: PinnedEngine) -> list[str]:
    """The engine command for ``pinned``; placeholders are filled per argument, so a model name with
    spaces stays one argument."""
    fields: dict[str, Any] = {
        "model": pinned.pool.model,
        "port": pinned.port,
        "max_num_seqs": pinned.pool.max_num_seqs,
        "gpu": pinned.gpu,
        "python": sys.executable,
    }
    try:
        argv = [part.format(**fields) for part in shlex.split(template)]
    except (KeyError, IndexError, ValueError) as e:
        known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
        raise ConfigError(f"COACHLINE_ENGINE_COMMAND: cannot fill in {e} (placeholders: {known})") from e
    if not argv:
        raise ConfigError("COACHLINE_ENGINE_COMMAND is empty")
    return argv


def _die_with_parent() -> None:
    # Runs in the child before exec: if the worker is killed outright, the engine gets SIGTERM
    # instead of holding the GPU as an orphan. Linux only; elsewhere the worker's own stop suffices.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EngineProcess:
    """An engine this worker started, in its own session so a terminal's Ctrl-C reaches the worker
    (which drains first) and not the engine."""

    def __init__(self, argv: list[str], *, gpu: int) -> None:
        self.argv = argv
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": str(gpu)}
        try:
            self._proc = subprocess.Popen(argv, env=env, start_new_session=True, preexec_fn=_die_with_parent)
        except OSError as e:
            raise EngineStartError(
                f"the engine command could not be run ({e.strerror or e}: {argv[0]}); install the engine "
                f"or set COACHLINE_ENGINE_COMMAND"
            ) from e

    @property
    def pid(self) -> int:
        return self._proc.pid

    def exit_code(self) -> int | None:
        return self._proc.poll()

    def stop(self, timeout_s: float) -> int:
        """SIGTERM the engine's process group, SIGKILL it after ``timeout_s``; returns its exit code."""
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("gpu.engine_killed", pid=self._proc.pid, after_s=timeout_s)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        return self._proc.returncode


def port_in_use(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=1):
            return True
    except OSError:
        return False


def wait_healthy(root_url: str, *, timeout_s: float, process: EngineProcess | None = None) -> float:
    """Poll ``GET /health`` until it answers 200; returns the seconds it took.

    Raises EngineStartError when the engine process exits first or ``timeout_s`` passes.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    last = "no answer"
    with httpx.Client(timeout=2.0) as client:
        while True:
            if process is not None and (code := process.exit_code()) is not None:
                raise EngineStartError(
                    f"the engine exited with code {code} before it became healthy "
                    f"(command: {shlex.join(process.argv)}; its output is above)"
                )
            try:
                response = client.get(f"{root_url}/health")
                if response.status_code == 200:
                    return time.monotonic() - started
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as e:
                last = type(e).__name__
            if time.monotonic() >= deadline:
                raise EngineStartError(
                    f"the engine did not answer GET {root_url}/health with 200 within {timeout_s:g} s "
                    f"(last answer: {last})"
                )
            time.sleep(_HEALTH_POLL_S)


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """While the engine loads, SIGTERM/SIGINT abort the wait (Celery installs its own later)."""

    def _raise(_signum: int, _frame: FrameType | None) -> None:
        raise _Interrupted

    previous = {sig: signal.signal(sig, _raise) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def load_engine(pinned: PinnedEngine, settings: Settings, *, attach: bool) -> EngineProcess | None:
    """Start (or attach to) the engine and wait until it is healthy; record load time and outcome."""
    labels = {"pool": pinned.pool.name, "model": pinned.pool.model}
    process: EngineProcess | None = None
    try:
        if not attach:
            if port_in_use(pinned.root_url):
                raise EngineStartError(
                    f"something already listens on {pinned.root_url}; stop it, or pass --attach to use it "
                    f"as this GPU's engine"
                )
            argv = engine_argv(settings.engine_command, pinned)
            process = EngineProcess(argv, gpu=pinned.gpu)
            log.info("gpu.engine_starting", pid=process.pid, command=argv[0], gpu=pinned.gpu, **labels)
        load_s = wait_healthy(pinned.root_url, timeout_s=settings.engine_startup_timeout_s, process=process)
    except BaseException as e:
        if not isinstance(e, _Interrupted):  # stopped on purpose while loading: not a failed load
            metrics.ENGINE_LOADS.labels(outcome="failure", **labels).inc()
        if process is not None:
            process.stop(settings.engine_stop_timeout_s)
        raise
    metrics.ENGINE_LOADS.labels(outcome="success", **labels).inc()
    metrics.ENGINE_LOAD_TIME.labels(**labels).observe(load_s)
    metrics.ENGINE_LOAD_LAST.labels(**labels).set(load_s)
    log.info(
        "gpu.engine_ready", load_s=round(load_s, 3), attached=attach, engine=pinned.engine.base_url, **labels
    )
    return process


class _Watchdog:
    """Turns the death of the engine into the worker's warm shutdown (the SIGTERM path)."""

    def __init__(self, process: EngineProcess) -> None:
        self.engine_died = False
        self._process = process
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpu-watchdog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(_WATCH_EVERY_S):
            code = self._process.exit_code()
            if code is not None:
                self.engine_died = True
                log.error("gpu.engine_died", exit_code=code, pid=self._process.pid)
                os.kill(os.getpid(), signal.SIGTERM)
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def gevent_patched() -> bool:
    if "gevent" not in sys.modules:
        return False
    from gevent import monkey

    return bool(monkey.is_module_patched("socket"))


def reexec_with_gevent() -> None:
    """Run this same command again, in this same process (same pid), with gevent patched in first.

    gevent must patch the standard library before anything imports it, and by the time the CLI
    parses ``--pool-impl gevent`` much has been imported. psycopg 3 (3.1.14+) cooperates with a
    patched process by itself; SQLAlchemy's pool, redis-py, kombu and httpx use patched sockets
    and locks.
    """
    try:
        import gevent  # noqa: F401
    except ImportError as e:
        raise ConfigError("--pool-impl gevent needs gevent installed (pip install gevent)") from e
    bootstrap = "from gevent import monkey; monkey.patch_all(); from coachline.cli import main; main()"
    os.execv(sys.executable, [sys.executable, "-c", bootstrap, *sys.argv[1:]])


def batch_concurrency(max_num_seqs: int, headroom: float) -> int:
    """Tasks a GPU worker runs at once: the engine's batch plus a few that wait inside the engine.

    Between two engine calls a task claims and stores its request (database round trips) and the
    worker fetches the next message; with exactly max_num_seqs tasks that gap is an empty batch slot.
    Measured on the bench (max_num_seqs 32, 2 s answers): 32 tasks kept ~29 sequences running, 40
    kept 31.6.
    """
    return max_num_seqs + math.ceil(max_num_seqs * headroom)


def pin(settings: Settings, pinned: PinnedEngine) -> Settings:
    """``settings`` for a process that serves only ``pinned``'s engine (see Settings.pinned_engine_url)."""
    return type(settings)(**{**settings.model_dump(), "pinned_engine_url": pinned.engine.base_url})


def run_gpu_worker(
    settings: Settings,
    *,
    pool_name: str,
    gpu: int,
    attach: bool,
    concurrency: int | None,
    hostname: str | None,
    build: Callable[[Settings], Any],
    pool_impl: str = "threads",
) -> int:
    """The whole life of a GPU worker; returns the process exit code (0 after a drain, 1 when the
    engine died while serving). ``build`` makes the runtime (the Celery app and its tasks) from
    settings. Raises ConfigError for a wrong pool or GPU and EngineStartError when the engine does
    not become healthy."""
    pinned = select_engine(settings.pools, pool_name, gpu)
    process: EngineProcess | None = None
    watchdog: _Watchdog | None = None
    publisher: LoadPublisher | None = None
    try:
        # Until Celery installs its own signal handlers (early in worker_main), SIGTERM and SIGINT
        # end the start-up here, and the finally below stops the engine.
        with _interruptible():
            process = load_engine(pinned, settings, attach=attach)
            pinned_settings = pin(settings, pinned)
            runtime = build(pinned_settings)
            if process is not None:
                watchdog = _Watchdog(process)
            pool = pinned_settings.pools.pool(pool_name)
            publisher = start_publisher(
                app=runtime.app,
                store=runtime.loads,
                pool=pool,
                interval_s=settings.load_publish_interval_s,
                scrape_timeout_s=settings.engine_scrape_timeout_s,
            )
            threads = concurrency or batch_concurrency(pool.max_num_seqs, settings.gpu_batch_headroom)
            # Every task acknowledges its message itself (acks_late); kombu's Redis transport gives
            # each a connection from a pool of 10 by default, which a batch of greenlets overruns
            # ("Too many connections", then a reconnect that redelivers everything in flight).
            options = dict(runtime.app.conf.broker_transport_options or {})
            options["max_connections"] = max(int(options.get("max_connections", 10)), threads + 16)
            runtime.app.conf.broker_transport_options = options
            log.info(
                "gpu.consuming",
                queue=pool.queue,
                concurrency=threads,
                pool_impl=pool_impl,
                engine=pinned.engine.base_url,
            )
            runtime.app.worker_main(
                worker_argv(
                    queues=[pool.queue],
                    concurrency=threads,
                    hostname=hostname or f"gpu-{pool_name}-{gpu}@%h",
                    loglevel=settings.log_level,
                    pool=pool_impl,
                )
            )
    except _Interrupted:
        log.info("gpu.stopped_before_consuming", pool=pool_name, gpu=gpu)
    finally:
        if publisher is not None:
            publisher.stop()
        if watchdog is not None:
            watchdog.stop()
        if process is not None:
            code = process.stop(settings.engine_stop_timeout_s)
            log.info("gpu.engine_stopped", exit_code=code, pool=pool_name, gpu=gpu)
    return 1 if watchdog is not None and watchdog.engine_died else 0
