"""The simulator's HTTP API: vLLM's OpenAI-compatible server, as a Starlette app.

Routes: ``POST /v1/chat/completions`` (plain and SSE streaming), ``GET /v1/models``, ``GET /health``
(503 while the simulated model loads) and ``GET /metrics`` (vLLM's metric names).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from workers.sim import text
from workers.sim.config import SimConfig
from workers.sim.engine import Engine, Seq, SeqState
from workers.sim.failures import FailureInjector, context_length_message, error_response, retry_after_headers
from workers.sim.metrics import CONTENT_TYPE, SimMetrics
from workers.sim.protocol import (
    BadRequest,
    ChatRequest,
    ChunkWriter,
    completion_body,
    new_completion_id,
    parse_chat_request,
)

_SSE_HEADERS = {"Cache-Control": "no-cache"}


class Simulator:
    """The state behind one app: engine, metrics, failure injector and the start-up clock."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.served = frozenset(config.served_model_names)
        self.metrics = SimMetrics(config.served_model_name)
        self.engine = Engine(config, self.metrics)
        self.metrics.bind(self.engine)
        self.failures = FailureInjector(config)
        self.created = int(time.time())
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready_at: float | None = None
        # Set on shutdown so that requests held by the "timeout" failure let go at once.
        self._closing: asyncio.Event | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self.loop = asyncio.get_running_loop()
        self._closing = asyncio.Event()
        self._ready_at = time.monotonic() + self.config.startup_s
        yield
        self.begin_shutdown()

    def begin_shutdown(self) -> None:
        """Release held requests; call on the app's loop (SimHandle.stop does)."""
        if self._closing is not None:
            self._closing.set()

    def ready(self) -> bool:
        now = time.monotonic()
        if self._ready_at is None:  # served without lifespan: start the clock at the first request
            self._ready_at = now + self.config.startup_s
        return now >= self._ready_at

    def _not_ready(self) -> Response:
        return error_response(503, "The model is still loading; retry when /health answers 200.")

    # --- routes ------------------------------------------------------------------------------

    async def health(self, _request: Request) -> Response:
        return Response(status_code=200) if self.ready() else self._not_ready()

    async def metrics_endpoint(self, _request: Request) -> Response:
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)

    async def models(self, _request: Request) -> Response:
        if not self.ready():
            return self._not_ready()
        data = [
            {
                "id": name,
                "object": "model",
                "created": self.created,
                "owned_by": "vllm",
                "root": self.config.model,
                "parent": None,
                "max_model_len": self.config.max_model_len,
            }
            for name in self.config.served_model_names
        ]
        return Response(json.dumps({"object": "list", "data": data}), media_type="application/json")

    async def chat_completions(self, request: Request) -> Response:
        if not self.ready():
            return self._not_ready()
        try:
            req = parse_chat_request(await request.body())
        except BadRequest as e:
            return error_response(400, e.message, param=e.param)
        model = req.model if req.model is not None else self.config.served_model_name
        if model not in self.served:
            return error_response(404, f"The model `{model}` does not exist.", param="model")
        config = self.config
        prompt_tokens = text.estimate_prompt_tokens(req.messages)
        if req.max_tokens is None:
            over = prompt_tokens >= config.max_model_len
        else:
            over = prompt_tokens + req.max_tokens > config.max_model_len
        if over:
            message = context_length_message(
                max_model_len=config.max_model_len, prompt_tokens=prompt_tokens, max_tokens=req.max_tokens
            )
            return error_response(400, message)
        failure = self.failures.draw()
        if failure is not None:
            return await self._fail(failure, prompt_tokens, req.max_tokens)

        # Without max_tokens vLLM lets the answer run to the end of the context window.
        max_tokens = req.max_tokens if req.max_tokens is not None else config.max_model_len - prompt_tokens
        digest = text.prompt_digest(req.messages, seed=config.seed, request_seed=req.seed)
        natural = text.natural_length(digest, low=config.output_tokens_min, high=config.output_tokens_max)
        count = min(natural, max_tokens)
        finish_reason = "length" if natural > max_tokens else "stop"
        tokens = text.answer_tokens(digest, count)
        seq = self.engine.submit(prompt_tokens, count)
        if req.stream:
            return StreamingResponse(
                self._stream(seq, tokens, req, model, finish_reason),
                media_type="text/event-stream",
                headers=_SSE_HEADERS,
            )
        try:
            await seq.done
        except asyncio.CancelledError:
            self.engine.abort(seq)
            raise
        if seq.state is not SeqState.FINISHED:
            return error_response(503, "The request was aborted while the engine shut down.")
        self.metrics.count_success(finish_reason)
        body = completion_body(
            completion_id=new_completion_id(),
            created=int(time.time()),
            model=model,
            text="".join(tokens),
            finish_reason=finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=count,
        )
        return Response(body, media_type="application/json")

    async def _stream(
        self, seq: Seq, tokens: list[str], req: ChatRequest, model: str, finish_reason: str
    ) -> AsyncIterator[str]:
        writer = ChunkWriter(completion_id=new_completion_id(), created=int(time.time()), model=model)
        total = len(tokens)
        sent = 0
        try:
            while sent < total:
                have = await seq.progress(sent)
                if seq.state is SeqState.ABORTED:
                    return
                # The role chunk goes out with the first token, as vLLM sends it after prefill.
                parts = [writer.role()] if sent == 0 else []
                for i in range(sent, have):
                    parts.append(writer.token(tokens[i], finish_reason if i == total - 1 else None))
                sent = have
                if sent == total:
                    self.metrics.count_success(finish_reason)
                    if req.include_usage:
                        parts.append(writer.usage(seq.prompt_tokens, total))
                    parts.append(writer.done())
                yield "".join(parts)
        finally:
            # The client went away (Starlette cancels the stream) or we stopped early.
            if not seq.ended:
                self.engine.abort(seq)

    async def _fail(self, kind: str, prompt_tokens: int, max_tokens: int | None) -> Response:
        config = self.config
        if kind == "429":
            return error_response(
                429,
                f"Simulated rate limit: too many requests; retry after {config.retry_after_s:g} s.",
                headers=retry_after_headers(config.retry_after_s),
            )
        if kind == "timeout":
            # Hold the connection without a byte of answer, as a hung engine does; a client with a
            # shorter timeout gives up first. Whoever is still waiting afterwards gets a 504.
            closing = self._closing
            if closing is None:
                await asyncio.sleep(config.timeout_hold_s)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(closing.wait(), config.timeout_hold_s)
            return error_response(504, f"Simulated timeout: no answer within {config.timeout_hold_s:g} s.")
        if kind == "context_length":
            # Injected: the numbers are the request's real ones, the verdict is forced.
            message = context_length_message(
                max_model_len=config.max_model_len, prompt_tokens=prompt_tokens, max_tokens=max_tokens
            )
            return error_response(400, message)
        return error_response(500, "Simulated internal server error.")


def create_app(config: SimConfig) -> Starlette:
    """A fresh ASGI app simulating one engine; its state is in ``app.state.sim`` (a Simulator)."""
    sim = Simulator(config)
    routes = [
        Route("/v1/chat/completions", sim.chat_completions, methods=["POST"]),
        Route("/v1/models", sim.models, methods=["GET"]),
        Route("/health", sim.health, methods=["GET"]),
        Route("/metrics", sim.metrics_endpoint, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=sim.lifespan)
    app.state.sim = sim
    return app
