"""Simulator settings: one frozen dataclass, plus named presets for the engines coachline stands in for.

Latencies are in milliseconds (``*_ms``), durations in seconds (``*_s``), sizes in tokens. Every
check names its field, so the CLI can point at the option that is wrong.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

# What a failure-injected request gets back; see workers/sim/failures.py.
FAILURE_KINDS: tuple[str, ...] = ("500", "429", "timeout", "context_length")


class SimConfigError(ValueError):
    """A simulator setting is wrong. ``field`` names the SimConfig field (or ``profile``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SimConfig:
    """How one simulated engine behaves. Build it with ``SimConfig.from_profile`` in most cases."""

    model: str
    # Names the API answers to (vLLM's --served-model-name); empty means just ``model``.
    served_model_names: tuple[str, ...] = ()
    # Continuous batching: at most this many sequences run; the rest wait, first come first served.
    max_num_seqs: int = 256
    # Time to first token once a sequence is admitted = ttft_base_ms + prefill_ms_per_token * prompt.
    ttft_base_ms: float = 1.0
    prefill_ms_per_token: float = 0.0
    # Inter-token latency = itl_base_ms * (1 + itl_batch_factor * (running - 1)).
    itl_base_ms: float = 0.0
    itl_batch_factor: float = 0.0
    # Each request's natural answer length is drawn (from its prompt hash) in this range, then
    # capped by the request's max_tokens.
    output_tokens_min: int = 8
    output_tokens_max: int = 32
    max_model_len: int = 32768
    kv_capacity_tokens: int = 10_000_000
    # /health answers 503 for this long after start-up, as vLLM does not serve while loading weights.
    startup_s: float = 0.0
    # Failure injection, drawn from a seeded random.Random so a run is reproducible.
    failure_rate: float = 0.0
    failure_kinds: tuple[str, ...] = ("500",)
    fail_first_n: int = 0
    fail_first_kind: str = "500"
    retry_after_s: float = 1.0
    timeout_hold_s: float = 30.0
    seed: int = 0
    # Only informational: shown by the CLI and kept with the config for reports.
    profile: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        # Accept lists and "a,b" strings for the tuple fields, so callers and YAML can be loose.
        for name in ("served_model_names", "failure_kinds"):
            object.__setattr__(self, name, _as_names(name, getattr(self, name)))
        if not self.served_model_names and isinstance(self.model, str):
            object.__setattr__(self, "served_model_names", (self.model,))
        self._validate()

    @property
    def served_model_name(self) -> str:
        """The primary served name: the ``model_name`` label of the metrics, as in vLLM."""
        return self.served_model_names[0]

    @classmethod
    def from_profile(cls, name: str, **overrides: Any) -> SimConfig:
        """A preset from PROFILES with some fields replaced; raises SimConfigError naming the problem.

        Overriding ``model`` without ``served_model_names`` serves the new model name only.
        """
        base = PROFILES.get(name)
        if base is None:
            known = ", ".join(sorted(PROFILES))
            raise SimConfigError("profile", f"Unknown simulator profile '{name}'; known profiles: {known}.")
        fields = {f.name for f in dataclasses.fields(cls)}
        for key in overrides:
            if key not in fields:
                raise SimConfigError(
                    key,
                    f"'{key}' is not a simulator setting; valid settings are: {', '.join(sorted(fields))}.",
                )
        if "model" in overrides and "served_model_names" not in overrides:
            overrides["served_model_names"] = ()
        overrides.setdefault("profile", name)
        return dataclasses.replace(base, **overrides)

    def _validate(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise SimConfigError("model", "model must be a non-empty model name.")
        _int_at_least("max_num_seqs", self.max_num_seqs, 1)
        for name in (
            "ttft_base_ms",
            "prefill_ms_per_token",
            "itl_base_ms",
            "itl_batch_factor",
            "startup_s",
            "retry_after_s",
            "timeout_hold_s",
        ):
            _number_at_least(name, getattr(self, name), 0.0)
        _int_at_least("output_tokens_min", self.output_tokens_min, 1)
        _int_at_least("output_tokens_max", self.output_tokens_max, self.output_tokens_min)
        _int_at_least("max_model_len", self.max_model_len, 2)
        # vLLM refuses to start when one sequence of max_model_len tokens cannot fit in the KV cache.
        if _int_at_least("kv_capacity_tokens", self.kv_capacity_tokens, 1) < self.max_model_len:
            raise SimConfigError(
                "kv_capacity_tokens",
                f"kv_capacity_tokens ({self.kv_capacity_tokens}) must be at least max_model_len "
                f"({self.max_model_len}), as vLLM requires one full-length sequence to fit.",
            )
        rate = _number_at_least("failure_rate", self.failure_rate, 0.0)
        if rate > 1.0:
            raise SimConfigError("failure_rate", f"failure_rate must be between 0 and 1, got {rate}.")
        if not self.failure_kinds:
            raise SimConfigError("failure_kinds", "failure_kinds must name at least one kind.")
        for kind in self.failure_kinds:
            _check_kind("failure_kinds", kind)
        _int_at_least("fail_first_n", self.fail_first_n, 0)
        _check_kind("fail_first_kind", self.fail_first_kind)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise SimConfigError("seed", f"seed must be an integer, got {self.seed!r}.")


def _as_names(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part for part in (p.strip() for p in value.split(",")) if part]
    if not isinstance(value, tuple | list):
        raise SimConfigError(name, f"{name} must be a list of names, got {value!r}.")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise SimConfigError(name, f"{name} must contain non-empty names, got {item!r}.")
    return tuple(value)


def _int_at_least(name: str, value: object, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise SimConfigError(name, f"{name} must be an integer, got {value!r}.")
    if value < minimum:
        raise SimConfigError(name, f"{name} must be at least {minimum}, got {value}.")
    return value


def _number_at_least(name: str, value: object, minimum: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise SimConfigError(name, f"{name} must be a finite number, got {value!r}.")
    if value < minimum:
        raise SimConfigError(name, f"{name} must be at least {minimum:g}, got {value:g}.")
    return float(value)


def _check_kind(name: str, kind: str) -> None:
    if kind not in FAILURE_KINDS:
        known = ", ".join(FAILURE_KINDS)
        raise SimConfigError(name, f"{name}: '{kind}' is not a failure kind; use one of {known}.")


# ---------------------------------------------------------------------------------------------
# Profiles. Sources, and where a number is our estimate rather than a measurement:
#
# [M1] johnmusgrave.com/p/vllm-throughput-latency-sweep-on — vLLM, Llama-3.1-8B-Instruct BF16 on one
#      A100 40GB: decode at concurrency 1 runs at ~75 tokens/s (=> ~13.3 ms per token); batching to
#      concurrency 8 gives 6.6x the throughput (=> per-sequence ITL x1.21 at 8, ~0.03 per extra
#      sequence), and the curve bends upward past 8.
# [M2] cloudach.vercel.app/blog/sub-100ms-ttft-llama3-vllm — a default vLLM deployment of Llama 3 8B
#      on an A100 gives "roughly 150-250 ms TTFT depending on batch size and prompt length".
# [M3] baseten.co/blog/benchmarking-fast-mistral-7b-inference — Mistral 7B measured by Artificial
#      Analysis at 130 ms TTFT and 170 tokens/s on a tuned stack (hardware not stated there).
# [V1] vLLM vllm/engine/arg_utils.py get_batch_defaults(): max_num_seqs defaults to 256 for the
#      OpenAI server on GPUs under 70 GiB and on every A100 (larger GPUs get 1024).
# [V2] vLLM issue #10517: "Loading model weights took 14.9888 GB" for Llama-3.1-8B-Instruct BF16.
# [C1] Model configs (config.json): Mistral-7B-Instruct-v0.3 has max_position_embeddings 32768;
#      Llama-3.1-8B-Instruct 131072; both have 32 layers x 8 KV heads x head_dim 128, so BF16 KV
#      costs 2*32*8*128*2 B = 128 KiB per token.
# [O1] community.openai.com/t/inference-speed-of-different-models/1307310 — gpt-4o-mini measured at
#      59 output tokens/s on average (=> ~17 ms per token).
# [O2] aiyd.com/ai-model-speed-benchmark — GPT-4o mini median TTFT 0.3 s; OpenAI's model page gives
#      gpt-4o-mini a 128k context window.
#
# KV capacity (estimate, A100 40GB at vLLM's default gpu_memory_utilization 0.9): 39.4 GiB * 0.9 =
# 35.5 GiB, minus weights [V2] (~14 GiB Llama, ~13.5 GiB Mistral's 7.25B params) and ~2 GiB of
# activations and CUDA graphs, leaves ~18.5 / ~20 GiB => 18.5 GiB / 128 KiB ~ 150k tokens (Llama)
# and ~160k tokens (Mistral) [C1].
# Prefill cost (estimate): A100 BF16 dense peak 312 TFLOPS at ~50% utilisation, 2 FLOPs per
# parameter per prompt token => 16 GFLOP / 156 TFLOPS ~ 0.10 ms per token for 8B, ~0.09 for 7.25B.
# Batch factor 0.04 (estimate): [M1]'s 0.03 per sequence up to 8, rounded up for the bend past 8.
# Output length ranges (estimate): a coaching answer of a few sentences to a few paragraphs.
# ---------------------------------------------------------------------------------------------

PROFILES: dict[str, SimConfig] = {
    "a100-mistral-7b": SimConfig(
        model="mistralai/Mistral-7B-Instruct-v0.3",
        profile="a100-mistral-7b",
        max_num_seqs=256,  # [V1]
        # [M3] measured 130 ms end to end on a tuned stack; 120 ms base + prefill of a ~100-token
        # chat prompt lands at ~130 ms and within [M2]'s range for a plain vLLM A100 deployment.
        ttft_base_ms=120.0,
        prefill_ms_per_token=0.09,  # estimate, see above
        # Decode is memory-bound, so ITL scales with weight bytes: [M1]'s 13.3 ms * 7.25B / 8.03B.
        itl_base_ms=12.0,
        itl_batch_factor=0.04,  # estimate from [M1]
        output_tokens_min=40,
        output_tokens_max=300,
        max_model_len=32768,  # [C1]
        kv_capacity_tokens=160_000,  # estimate, see above
    ),
    "a100-llama-3.1-8b": SimConfig(
        model="meta-llama/Llama-3.1-8B-Instruct",
        profile="a100-llama-3.1-8b",
        max_num_seqs=256,  # [V1]
        ttft_base_ms=140.0,  # low end of [M2]'s 150-250 ms once a ~100-token prompt's prefill is added
        prefill_ms_per_token=0.10,  # estimate, see above
        itl_base_ms=13.5,  # [M1]: ~75 tokens/s at concurrency 1
        itl_batch_factor=0.04,  # estimate from [M1]
        output_tokens_min=40,
        output_tokens_max=300,
        max_model_len=131072,  # [C1]
        kv_capacity_tokens=150_000,  # estimate, see above
    ),
    "cloud": SimConfig(
        model="gpt-4o-mini",
        profile="cloud",
        # The provider's batch is not ours to fill: effectively unbounded, and no batch slowdown.
        max_num_seqs=100_000,
        ttft_base_ms=350.0,  # [O2] 0.3 s median, plus our own network distance (estimate)
        prefill_ms_per_token=0.02,  # estimate: long prompts cost the cloud little extra TTFT
        itl_base_ms=17.0,  # [O1]
        itl_batch_factor=0.0,
        output_tokens_min=60,
        output_tokens_max=400,
        max_model_len=128_000,  # [O2]
        kv_capacity_tokens=1_000_000_000,
    ),
    # For throughput tests of coachline itself: the engine is never the bottleneck.
    "fast": SimConfig(
        model="sim-fast",
        profile="fast",
        max_num_seqs=1024,
        ttft_base_ms=1.0,
        prefill_ms_per_token=0.0,
        itl_base_ms=0.0,
        itl_batch_factor=0.0,
        output_tokens_min=8,
        output_tokens_max=32,
        max_model_len=32768,
        kv_capacity_tokens=100_000_000,
    ),
}
