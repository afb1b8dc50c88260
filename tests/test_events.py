"""The completion waiter: an event between reading a request's state and waiting is not lost."""

from __future__ import annotations

import asyncio
import threading
import time

from coachline.events import CompletionWaiter


def test_a_notification_before_the_wait_is_kept() -> None:
    async def scenario() -> tuple[bool, float]:
        waiter = CompletionWaiter()
        with waiter.watch("r1") as watch:
            waiter.notify("r1")  # lands after the state was read, before the wait begins
            started = time.perf_counter()
            woke = await watch.wait(5.0)
            return woke, time.perf_counter() - started

    woke, waited_s = asyncio.run(scenario())
    assert woke and waited_s < 0.5


def test_notify_from_another_thread_and_timeouts() -> None:
    async def scenario() -> tuple[bool, bool]:
        waiter = CompletionWaiter()
        timer = threading.Timer(0.05, waiter.notify, args=("r2",))
        timer.start()
        woke = await waiter.wait("r2", 5.0)
        other = await waiter.wait("r3", 0.05)  # nobody announces r3
        return woke, other

    assert asyncio.run(scenario()) == (True, False)


def test_watches_are_forgotten_when_their_block_ends() -> None:
    async def scenario() -> int:
        waiter = CompletionWaiter()
        for _ in range(100):
            with waiter.watch("r4"):
                pass
        return len(waiter._waiters)

    assert asyncio.run(scenario()) == 0
