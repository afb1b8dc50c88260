"""The simulated engine: continuous batching with a latency model, on one asyncio timer.

Like vLLM's scheduler, at most ``max_num_seqs`` sequences run; later ones wait first come first
served, and a waiting sequence is admitted as soon as a running one finishes and the KV cache has
room for its prompt. A running sequence produces its first token ``ttft_base_ms +
prefill_ms_per_token * prompt_tokens`` after admission, then one token per inter-token latency,
which grows with the number of running sequences; so throughput saturates as the batch fills.

Everything runs in callbacks of one timer on the event loop: no thread and no task per request.
A request's coroutine only waits on a future (its ``done``, or ``changed`` while streaming). When
the loop is late, the tick emits every token that was due, so simulated time does not drift.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import itertools
from collections import deque
from typing import Protocol

from workers.sim.config import SimConfig

# Deadlines this close together are served by one tick: fewer wake-ups, same timing within 0.5 ms.
_COALESCE_S = 0.0005


class SeqState(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"
    ABORTED = "aborted"


class Seq:
    """One request's sequence: how many tokens it will produce and how far it got."""

    __slots__ = (
        "_changed",
        "_loop",
        "admitted_s",
        "arrival_s",
        "done",
        "emitted",
        "finished_s",
        "first_token_s",
        "output_tokens",
        "prompt_tokens",
        "state",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, prompt_tokens: int, output_tokens: int) -> None:
        self._loop = loop
        self.prompt_tokens = prompt_tokens
        self.output_tokens = output_tokens
        self.arrival_s = loop.time()
        self.admitted_s = 0.0
        self.first_token_s = 0.0
        self.finished_s = 0.0
        self.emitted = 0
        self.state = SeqState.WAITING
        self.done: asyncio.Future[None] = loop.create_future()
        self._changed: asyncio.Future[None] | None = None

    @property
    def ended(self) -> bool:
        return self.state is SeqState.FINISHED or self.state is SeqState.ABORTED

    async def progress(self, seen: int) -> int:
        """Wait until more than ``seen`` tokens exist (or the sequence ended); return the count."""
        while self.emitted <= seen and not self.ended:
            self._changed = self._loop.create_future()
            await self._changed
        return self.emitted

    def _notify(self) -> None:
        changed = self._changed
        if changed is not None and not changed.done():
            changed.set_result(None)

    def _end(self, state: SeqState, now: float) -> None:
        self.state = state
        self.finished_s = now
        if not self.done.done():
            self.done.set_result(None)
        self._notify()


class EngineObserver(Protocol):
    """What the engine reports as it works (the metrics implement this)."""

    def on_admitted(self, seq: Seq) -> None: ...

    def on_first_token(self, seq: Seq) -> None: ...

    def on_generated(self, tokens: int) -> None: ...

    def on_finished(self, seq: Seq) -> None: ...


class Engine:
    """The scheduler of one simulated engine. Use it from its event loop's thread only."""

    def __init__(self, config: SimConfig, observer: EngineObserver) -> None:
        self._max_num_seqs = config.max_num_seqs
        self._kv_capacity = config.kv_capacity_tokens
        self._ttft_base_s = config.ttft_base_ms / 1000.0
        self._prefill_s_per_token = config.prefill_ms_per_token / 1000.0
        self._itl_base_s = config.itl_base_ms / 1000.0
        self._itl_batch_factor = config.itl_batch_factor
        self._observer = observer
        self._loop: asyncio.AbstractEventLoop | None = None
        # Aborted sequences stay in the deque until they reach its head; _num_waiting is exact.
        self._waiting: deque[Seq] = deque()
        self._num_waiting = 0
        self._running: set[Seq] = set()
        # (next token deadline, tie-breaker, seq); entries of ended sequences are skipped when popped.
        self._deadlines: list[tuple[float, int, Seq]] = []
        self._order = itertools.count()
        self._kv_used = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    @property
    def num_running(self) -> int:
        return len(self._running)

    @property
    def num_waiting(self) -> int:
        return self._num_waiting

    @property
    def kv_tokens_used(self) -> int:
        return self._kv_used

    @property
    def kv_usage(self) -> float:
        """Fraction of the KV cache held by running sequences (prompt plus tokens so far), 0..1."""
        return min(1.0, self._kv_used / self._kv_capacity)

    def itl_s(self) -> float:
        """Inter-token latency at the current batch size."""
        extra = max(0, len(self._running) - 1)
        return self._itl_base_s * (1.0 + self._itl_batch_factor * extra)

    def submit(self, prompt_tokens: int, output_tokens: int) -> Seq:
        """Queue a sequence that will produce ``output_tokens`` (at least 1) tokens."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # An app can outlive its loop (e.g. test clients that run a loop per test); an idle
            # engine moves to the new one, a busy one cannot.
            if self._running or self._num_waiting:
                raise RuntimeError("The simulated engine is busy on another event loop.")
            self._loop = loop
            self._timer = None
            self._deadlines.clear()
        seq = Seq(loop, prompt_tokens, max(1, output_tokens))
        self._waiting.append(seq)
        self._num_waiting += 1
        self._admit(seq.arrival_s)
        self._arm()
        return seq

    def abort(self, seq: Seq) -> None:
        """Drop a sequence whose client went away, freeing its batch slot and KV cache."""
        if seq.ended:
            return
        now = self._loop.time() if self._loop is not None else 0.0
        if seq.state is SeqState.WAITING:
            self._num_waiting -= 1
        else:
            self._running.discard(seq)
            self._kv_used -= seq.prompt_tokens + seq.emitted
        seq._end(SeqState.ABORTED, now)
        self._admit(now)
        self._arm()

    def _admit(self, now: float) -> None:
        waiting = self._waiting
        running = self._running
        while waiting and len(running) < self._max_num_seqs:
            seq = waiting[0]
            if seq.state is not SeqState.WAITING:
                waiting.popleft()
                continue
            # Like vLLM without preemption: the head waits until its prompt fits (but a lone
            # sequence always runs; the config guarantees one max_model_len sequence fits).
            if running and self._kv_used + seq.prompt_tokens > self._kv_capacity:
                break
            waiting.popleft()
            self._num_waiting -= 1
            seq.state = SeqState.RUNNING
            seq.admitted_s = now
            running.add(seq)
            self._kv_used += seq.prompt_tokens
            first_token_at = now + self._ttft_base_s + self._prefill_s_per_token * seq.prompt_tokens
            heapq.heappush(self._deadlines, (first_token_at, next(self._order), seq))
            self._observer.on_admitted(seq)

    def _arm(self) -> None:
        """Make sure the timer fires at the earliest deadline."""
        if not self._deadlines:
            return
        at = self._deadlines[0][0]
        if self._timer is not None:
            if self._timer_at <= at:
                return
            self._timer.cancel()
        assert self._loop is not None
        self._timer = self._loop.call_at(at, self._tick)
        self._timer_at = at

    def _tick(self) -> None:
        self._timer = None
        assert self._loop is not None
        now = self._loop.time()
        horizon = now + _COALESCE_S
        deadlines = self._deadlines
        observer = self._observer
        finished: list[Seq] = []
        generated = 0
        while deadlines and deadlines[0][0] <= horizon:
            due, _, seq = heapq.heappop(deadlines)
            if seq.state is not SeqState.RUNNING:
                continue
            itl = self.itl_s()
            remaining = seq.output_tokens - seq.emitted
            # Emit every token that was due by now; with no ITL, the rest of the answer at once.
            count = remaining if itl <= 0.0 else min(remaining, 1 + int(max(0.0, now - due) / itl))
            first = seq.emitted == 0
            seq.emitted += count
            generated += count
            self._kv_used += count
            if first:
                seq.first_token_s = now
                observer.on_first_token(seq)
            if seq.emitted >= seq.output_tokens:
                finished.append(seq)
            else:
                heapq.heappush(deadlines, (due + count * itl, next(self._order), seq))
                seq._notify()
        if generated:
            observer.on_generated(generated)
        for seq in finished:
            self._running.discard(seq)
            self._kv_used -= seq.prompt_tokens + seq.emitted
            seq._end(SeqState.FINISHED, now)
            observer.on_finished(seq)
        self._admit(now)
        self._arm()
