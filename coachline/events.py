"""The completion event bus: workers announce terminal states, the API wakes its long-polls.

On Redis it is a pub/sub channel per request; in the embedded default, where the API and workers
share a process, it is a direct call. The API never relies on events alone: a missed event only
delays a long-poll until its next database read.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Protocol

import redis
import structlog

from coachline.keys import DONE_CHANNEL_PATTERN, DONE_CHANNEL_PREFIX, done_channel

log = structlog.get_logger(__name__)


class EventPublisher(Protocol):
    def publish_done(self, request_id: str, status: str) -> None: ...


_Entry = tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]


class CompletionWaiter:
    """Lets asyncio tasks wait for a request's completion; ``notify`` may be called from any thread.

    Watch first, then read the state, then wait: an event that lands between the read and the wait
    is not lost.
    """

    def __init__(self) -> None:
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = defaultdict(
            list
        )
        self._lock = threading.Lock()

    def notify(self, request_id: str) -> None:
        with self._lock:
            waiters = self._waiters.pop(request_id, [])
        for loop, future in waiters:
            loop.call_soon_threadsafe(_resolve, future)

    @contextlib.contextmanager
    def watch(self, request_id: str) -> Iterator[Watch]:
        """Register interest in ``request_id`` for the duration of the block."""
        loop = asyncio.get_running_loop()
        entry = (loop, loop.create_future())
        with self._lock:
            self._waiters[request_id].append(entry)
        try:
            yield Watch(entry[1])
        finally:
            with self._lock:
                waiters = self._waiters.get(request_id)
                if waiters and entry in waiters:
                    waiters.remove(entry)
                    if not waiters:
                        del self._waiters[request_id]

    async def wait(self, request_id: str, timeout_s: float) -> bool:
        """True when notified within ``timeout_s``."""
        with self.watch(request_id) as watch:
            return await watch.wait(timeout_s)


class Watch:
    def __init__(self, future: asyncio.Future[None]) -> None:
        self._future = future

    async def wait(self, timeout_s: float) -> bool:
        """True when the request was announced (since the watch began) within ``timeout_s``."""
        try:
            await asyncio.wait_for(asyncio.shield(self._future), timeout_s)
            return True
        except TimeoutError:
            return False


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class LocalPublisher:
    """In-process bus: the publisher calls the waiter directly."""

    def __init__(self, waiter: CompletionWaiter) -> None:
        self._waiter = waiter

    def publish_done(self, request_id: str, status: str) -> None:
        self._waiter.notify(request_id)


class RedisPublisher:
    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)

    def publish_done(self, request_id: str, status: str) -> None:
        try:
            self._client.publish(done_channel(request_id), status)
        except redis.RedisError as e:
            # The result is already committed; a long-poll finds it on its next read.
            log.warning("events.publish_failed", error=type(e).__name__)


class RedisListener:
    """A background thread that relays Redis completion events to a CompletionWaiter."""

    def __init__(self, url: str, waiter: CompletionWaiter) -> None:
        self._url = url
        self._waiter = waiter
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="coachline-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                client = redis.Redis.from_url(self._url)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(DONE_CHANNEL_PATTERN)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message and message["type"] == "pmessage":
                        channel = message["channel"].decode()
                        self._waiter.notify(channel[len(DONE_CHANNEL_PREFIX) :])
                pubsub.close()
                client.close()
            except redis.RedisError as e:
                log.warning("events.listener_reconnect", error=type(e).__name__)
                self._stop.wait(1.0)
