"""The pool-load publisher: a pool worker's background thread that tells the router how busy its engines are.

Every ``interval_s`` it builds one ``EngineLoad`` per engine the process serves, from

- the process's own in-flight count for the engine (``workers.generate.IN_FLIGHT``);
- the engine's ``/metrics``: ``vllm:num_requests_running``, ``vllm:num_requests_waiting``,
  ``vllm:kv_cache_usage_perc`` (``vllm:gpu_cache_usage_perc`` before vLLM 0.10), and the sums of the
  end-to-end and queue-time histograms, whose growth over the last few seconds is the service time
  (engine time of one request once it runs);
- the depth of the pool's queue: a passive declare through kombu, which on Redis sums the lengths of
  the queue's list and of its priority sub-lists (``pool.fast``, ``pool.fast\\x06\\x163``, ...), and on
  RabbitMQ is the broker's message count;

and publishes it to the shared ``LoadStore`` (a Redis hash with a TTL; a dict in the embedded default).
An engine whose ``/metrics`` cannot be read is left out of that round, so its entry ages out and the
router treats its load as unknown instead of trusting old figures.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from kombu.exceptions import ChannelError

from coachline.loadsnap import EngineLoad, LoadStore
from coachline.pools import PoolSpec
from coachline.telemetry import metrics
from workers.generate import IN_FLIGHT

log = structlog.get_logger(__name__)

RUNNING = "vllm:num_requests_running"
WAITING = "vllm:num_requests_waiting"
KV_USAGE = "vllm:kv_cache_usage_perc"
KV_USAGE_BEFORE_0_10 = "vllm:gpu_cache_usage_perc"
E2E_SUM = "vllm:e2e_request_latency_seconds_sum"
E2E_COUNT = "vllm:e2e_request_latency_seconds_count"
QUEUE_SUM = "vllm:request_queue_time_seconds_sum"
_WANTED = frozenset({RUNNING, WAITING, KV_USAGE, KV_USAGE_BEFORE_0_10, E2E_SUM, E2E_COUNT, QUEUE_SUM})
# Service time is measured over the requests that finished in this recent window.
SERVICE_WINDOW_S = 10.0


def engine_root(base_url: str) -> str:
    """``http://host:port`` of an engine whose OpenAI base URL is ``http://host:port/v1``."""
    url = base_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def parse_engine_metrics(text: str) -> dict[str, float]:
    """The few vLLM series the snapshot needs, summed over label sets (e.g. data-parallel engines).

    KV-cache usage is the largest of its label sets, not the sum: it is a fraction.
    """
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("vllm:"):
            continue
        # `name{labels} value [timestamp]` or `name value [timestamp]`; label values may hold spaces.
        end = min((i for i in (line.find("{"), line.find(" ")) if i >= 0), default=len(line))
        name = line[:end]
        if name not in _WANTED:
            continue
        rest = line[line.rfind("}") + 1 :] if line[end : end + 1] == "{" else line[end:]
        try:
            value = float(rest.split()[0])
        except (IndexError, ValueError):
            continue
        if name in (KV_USAGE, KV_USAGE_BEFORE_0_10):
            values[name] = max(values.get(name, 0.0), value)
        else:
            values[name] = values.get(name, 0.0) + value
    return values


@dataclass(frozen=True)
class EngineReading:
    running: int
    waiting: int
    kv_cache_usage: float
    e2e_sum_s: float
    queue_sum_s: float
    finished: float  # requests the engine finished since it started


def reading_from(values: dict[str, float]) -> EngineReading:
    kv = values.get(KV_USAGE, values.get(KV_USAGE_BEFORE_0_10, 0.0))
    return EngineReading(
        running=int(values.get(RUNNING, 0)),
        waiting=int(values.get(WAITING, 0)),
        kv_cache_usage=max(0.0, min(1.0, kv)),
        e2e_sum_s=values.get(E2E_SUM, 0.0),
        queue_sum_s=values.get(QUEUE_SUM, 0.0),
        finished=values.get(E2E_COUNT, 0.0),
    )


class ServiceTime:
    """Mean engine time of the requests an engine finished in the last ``window_s`` (queue time
    inside the engine excluded); keeps its last value while nothing finishes."""

    def __init__(self, window_s: float = SERVICE_WINDOW_S) -> None:
        self._window_s = window_s
        self._samples: deque[tuple[float, EngineReading]] = deque()
        self.ms = 0.0

    def update(self, now: float, reading: EngineReading) -> float:
        samples = self._samples
        if samples and reading.finished < samples[-1][1].finished:
            samples.clear()  # the engine restarted: its counters began again
        samples.append((now, reading))
        while len(samples) > 2 and now - samples[1][0] >= self._window_s:
            samples.popleft()
        oldest = samples[0][1]
        finished = reading.finished - oldest.finished
        if finished > 0:
            busy_s = (reading.e2e_sum_s - oldest.e2e_sum_s) - (reading.queue_sum_s - oldest.queue_sum_s)
            self.ms = max(0.0, busy_s / finished * 1000)
        return self.ms


def inflight(engine_url: str) -> int:
    """Requests this process has in flight to ``engine_url`` (the engine call of generate)."""
    # _InFlight has no reader yet; a count(url) method is requested in issue 4's notes.
    return max(0, IN_FLIGHT.count(engine_url))


class QueueDepth:
    """Messages waiting in a queue, through a kombu connection this object owns (one thread only)."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._conn: Any = None

    def __call__(self, queue: str) -> int:
        if self._conn is None:
            self._conn = self._connect()
        try:
            return int(self._conn.default_channel.queue_declare(queue=queue, passive=True).message_count)
        except ChannelError:
            # Redis: no list exists for an empty queue; RabbitMQ: the queue is not declared yet.
            self.close()
            return 0
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.release()
            except Exception as e:  # a broken connection cannot always be closed cleanly
                log.debug("loadpub.close_failed", error=type(e).__name__)
            self._conn = None


class LoadPublisher:
    """Publishes the load of ``engines`` of ``pool`` every ``interval_s`` from a daemon thread."""

    def __init__(
        self,
        *,
        pool: PoolSpec,
        engines: Sequence[str],
        store: LoadStore,
        queue_depth: Callable[[str], int],
        interval_s: float = 0.5,
        scrape_timeout_s: float = 0.25,
    ) -> None:
        self.pool = pool
        self.engines = list(engines)
        self._store = store
        self._queue_depth = queue_depth
        self._interval_s = interval_s
        self._http = httpx.Client(timeout=scrape_timeout_s)
        self._service = {url: ServiceTime() for url in self.engines}
        self._failing: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"loadpub-{pool.name}", daemon=True)

    def start(self) -> LoadPublisher:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self._http.close()
        close = getattr(self._queue_depth, "close", None)
        if close is not None:
            close()

    def publish_once(self) -> list[EngineLoad]:
        """Scrape, measure and publish one round; returns what was published."""
        name = self.pool.name
        try:
            depth = self._queue_depth(self.pool.queue)
        except Exception as e:
            metrics.LOAD_SNAPSHOT_FAILURES.labels(pool=name, stage="queue_depth").inc()
            log.warning("loadpub.queue_depth_failed", pool=name, error=type(e).__name__)
            depth = 0
        published = []
        for url in self.engines:
            reading = self._scrape(url)
            if reading is None:
                continue
            now = time.time()
            load = EngineLoad(
                engine_url=url,
                inflight=inflight(url),
                running=reading.running,
                waiting=reading.waiting,
                kv_cache_usage=reading.kv_cache_usage,
                queue_depth=depth,
                service_ms=self._service[url].update(time.monotonic(), reading),
                max_num_seqs=self.pool.max_num_seqs,
                updated_at=now,
            )
            try:
                self._store.publish(name, load)
            except Exception as e:
                metrics.LOAD_SNAPSHOT_FAILURES.labels(pool=name, stage="publish").inc()
                log.warning("loadpub.publish_failed", pool=name, error=type(e).__name__)
                continue
            published.append(load)
        return published

    def _scrape(self, url: str) -> EngineReading | None:
        try:
            response = self._http.get(f"{engine_root(url)}/metrics")
            response.raise_for_status()
            reading = reading_from(parse_engine_metrics(response.text))
        except httpx.HTTPError as e:
            metrics.LOAD_SNAPSHOT_FAILURES.labels(pool=self.pool.name, stage="scrape").inc()
            if url not in self._failing:  # one line when an engine starts failing, not two a second
                self._failing.add(url)
                log.warning("loadpub.scrape_failed", pool=self.pool.name, engine=url, error=type(e).__name__)
            return None
        if url in self._failing:
            self._failing.discard(url)
            log.info("loadpub.scrape_recovered", pool=self.pool.name, engine=url)
        return reading

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.publish_once()
            except Exception:
                # The publisher must outlive any surprise; the router copes with a stale snapshot.
                metrics.LOAD_SNAPSHOT_FAILURES.labels(pool=self.pool.name, stage="publish").inc()
                log.exception("loadpub.round_failed", pool=self.pool.name)
            self._stop.wait(max(0.0, self._interval_s - (time.monotonic() - started)))


def start_publisher(
    *, app: Any, store: LoadStore, pool: PoolSpec, interval_s: float, scrape_timeout_s: float
) -> LoadPublisher:
    """A running publisher for every engine of ``pool`` (one, when the process is pinned to a GPU)."""
    return LoadPublisher(
        pool=pool,
        engines=[engine.base_url for engine in pool.engines],
        store=store,
        queue_depth=QueueDepth(app.connection_for_read),
        interval_s=interval_s,
        scrape_timeout_s=scrape_timeout_s,
    ).start()
