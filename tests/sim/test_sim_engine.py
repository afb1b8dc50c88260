"""The scheduler on its own, on a real event loop: admission order, KV limits, aborts, catch-up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from workers.sim import SimConfig
from workers.sim.engine import Engine, Seq, SeqState


@dataclass
class Recorder:
    admitted: list[Seq] = field(default_factory=list)
    first_tokens: list[Seq] = field(default_factory=list)
    generated: int = 0
    finished: list[Seq] = field(default_factory=list)

    def on_admitted(self, seq: Seq) -> None:
        self.admitted.append(seq)

    def on_first_token(self, seq: Seq) -> None:
        self.first_tokens.append(seq)

    def on_generated(self, tokens: int) -> None:
        self.generated += tokens

    def on_finished(self, seq: Seq) -> None:
        self.finished.append(seq)


def _engine(**overrides: object) -> tuple[Engine, Recorder]:
    recorder = Recorder()
    return Engine(SimConfig.from_profile("fast", **overrides), recorder), recorder


def test_admits_first_come_first_served_up_to_max_num_seqs() -> None:
    async def scenario() -> None:
        engine, recorder = _engine(max_num_seqs=2, ttft_base_ms=5, itl_base_ms=2)
        seqs = [engine.submit(prompt_tokens=10, output_tokens=3) for _ in range(5)]
        assert (engine.num_running, engine.num_waiting) == (2, 3)
        assert [s.state for s in seqs] == [SeqState.RUNNING] * 2 + [SeqState.WAITING] * 3
        await asyncio.gather(*(s.done for s in seqs))
        assert recorder.admitted == seqs  # FIFO
        assert recorder.finished[:2] == seqs[:2]
        assert recorder.generated == 15
        assert (engine.num_running, engine.num_waiting, engine.kv_tokens_used) == (0, 0, 0)
        # A waiting sequence is admitted only when a slot frees up.
        assert seqs[2].admitted_s >= seqs[0].finished_s

    asyncio.run(scenario())


def test_kv_capacity_holds_back_prompts_that_do_not_fit() -> None:
    async def scenario() -> None:
        engine, _ = _engine(
            max_num_seqs=8, max_model_len=500, kv_capacity_tokens=600, ttft_base_ms=5, itl_base_ms=1
        )
        seqs = [engine.submit(prompt_tokens=250, output_tokens=2) for _ in range(3)]
        # 250 + 250 fit in 600; the third waits although batch slots are free.
        assert (engine.num_running, engine.num_waiting) == (2, 1)
        assert engine.kv_usage == 500 / 600
        await asyncio.gather(*(s.done for s in seqs))
        assert all(s.state is SeqState.FINISHED for s in seqs)

    asyncio.run(scenario())


def test_abort_frees_the_slot_for_the_next_waiting_sequence() -> None:
    async def scenario() -> None:
        engine, recorder = _engine(max_num_seqs=1, ttft_base_ms=1000)
        running = engine.submit(prompt_tokens=5, output_tokens=5)
        waiting = engine.submit(prompt_tokens=7, output_tokens=5)
        gone = engine.submit(prompt_tokens=9, output_tokens=5)
        engine.abort(gone)  # a waiting sequence leaves the queue
        assert engine.num_waiting == 1
        engine.abort(running)
        assert running.state is SeqState.ABORTED and running.done.done()
        assert waiting.state is SeqState.RUNNING
        assert engine.kv_tokens_used == 7
        assert recorder.admitted == [running, waiting]

    asyncio.run(scenario())


def test_a_late_tick_emits_every_token_that_was_due() -> None:
    async def scenario() -> None:
        engine, _ = _engine(ttft_base_ms=1, itl_base_ms=5, output_tokens_min=1)
        seq = engine.submit(prompt_tokens=1, output_tokens=20)
        await asyncio.sleep(0.003)
        # Block the loop for ~10 tokens' worth of time, as a busy process would.
        block_until = asyncio.get_running_loop().time() + 0.05
        while asyncio.get_running_loop().time() < block_until:
            pass
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert seq.emitted >= 10  # caught up in one tick instead of drifting 50 ms late
        await seq.done
        # 1 ms + 19 * 5 ms ~ 96 ms of simulated time, despite the stall.
        assert seq.finished_s - seq.arrival_s < 0.13

    asyncio.run(scenario())


def test_an_idle_engine_follows_the_app_to_a_new_event_loop() -> None:
    engine, recorder = _engine(ttft_base_ms=1)

    async def one() -> None:
        seq = engine.submit(prompt_tokens=3, output_tokens=2)
        await seq.done

    asyncio.run(one())
    asyncio.run(one())  # a second loop, as a test client that runs a loop per test would use
    assert len(recorder.finished) == 2
