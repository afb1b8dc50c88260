"""``coachline sim``: serve a simulated vLLM (or OpenAI) engine from a profile plus overrides."""

from __future__ import annotations

from typing import Any

import click

from workers.sim.config import FAILURE_KINDS, PROFILES, SimConfig, SimConfigError
from workers.sim.server import serve


def _kinds(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    kinds = tuple(k.strip() for k in value.split(",") if k.strip())
    if not kinds:
        raise click.BadParameter(f"give one or more of {', '.join(FAILURE_KINDS)}, separated by commas.")
    for kind in kinds:
        if kind not in FAILURE_KINDS:
            known = ", ".join(FAILURE_KINDS)
            raise click.BadParameter(f"'{kind}' is not a failure kind; use one of {known}.")
    return kinds


@click.command("sim")
@click.option(
    "--profile",
    type=click.Choice(sorted(PROFILES)),
    default="a100-mistral-7b",
    show_default=True,
    help="Preset engine to simulate.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8100, show_default=True)
@click.option("--model", default=None, help="Model name to serve (default: the profile's).")
@click.option(
    "--served-model-name",
    "served_model_names",
    multiple=True,
    help="Extra or alternative name(s) the API answers to; repeat for several.",
)
@click.option("--max-num-seqs", type=int, default=None, help="Sequences running at once (batch size).")
@click.option("--max-model-len", type=int, default=None, help="Context window in tokens.")
@click.option("--kv-capacity-tokens", type=int, default=None, help="KV cache size in tokens.")
@click.option("--ttft-ms", "ttft_base_ms", type=float, default=None, help="Base time to first token.")
@click.option("--prefill-ms-per-token", type=float, default=None, help="Extra TTFT per prompt token.")
@click.option("--itl-ms", "itl_base_ms", type=float, default=None, help="Inter-token latency at batch 1.")
@click.option("--itl-batch-factor", type=float, default=None, help="ITL growth per extra running sequence.")
@click.option("--output-tokens-min", type=int, default=None, help="Shortest natural answer, in tokens.")
@click.option("--output-tokens-max", type=int, default=None, help="Longest natural answer, in tokens.")
@click.option("--startup-s", type=float, default=None, help="Seconds /health answers 503 (model loading).")
@click.option("--failure-rate", type=float, default=None, help="Probability (0..1) a request fails.")
@click.option(
    "--failure-kinds",
    callback=_kinds,
    default=None,
    help=f"Comma-separated kinds to inject: {', '.join(FAILURE_KINDS)}.",
)
@click.option("--fail-first", "fail_first_n", type=int, default=None, help="Fail the first N requests.")
@click.option(
    "--fail-first-kind", type=click.Choice(FAILURE_KINDS), default=None, help="How the first N requests fail."
)
@click.option("--retry-after-s", type=float, default=None, help="Retry-After of injected 429s.")
@click.option("--timeout-hold-s", type=float, default=None, help="How long an injected timeout holds.")
@click.option("--seed", type=int, default=None, help="Seed of answers and failure draws.")
def sim(profile: str, host: str, port: int, **options: Any) -> None:
    """Serve a simulated vLLM engine (OpenAI-compatible API, /health, /metrics) with no GPU."""
    ctx = click.get_current_context()
    overrides = {key: value for key, value in options.items() if value is not None and value != ()}
    try:
        config = SimConfig.from_profile(profile, **overrides)
    except SimConfigError as e:
        # Options are named after the fields they set, so the error can point at the option.
        param = next((p for p in ctx.command.params if p.name == e.field), None)
        raise click.BadParameter(str(e), ctx=ctx, param=param) from e
    names = ", ".join(config.served_model_names)
    click.echo(
        f"coachline sim: serving {names} (profile {profile}, max_num_seqs {config.max_num_seqs}) "
        f"on http://{host}:{port}/v1",
        err=True,
    )
    serve(config, host=host, port=port)
