"""SimConfig, the profiles and the ``sim`` command's option checking."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from workers.sim import PROFILES, SimConfig, SimConfigError
from workers.sim import cli as sim_cli


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(SimConfigError, match="Unknown simulator profile 'h100'") as caught:
        SimConfig.from_profile("h100")
    assert caught.value.field == "profile"
    for name in PROFILES:
        assert name in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"max_num_seqs": 0}, "max_num_seqs"),
        ({"failure_rate": 1.5}, "failure_rate"),
        ({"failure_kinds": ("boom",)}, "failure_kinds"),
        ({"failure_kinds": ()}, "failure_kinds"),
        ({"fail_first_kind": "503"}, "fail_first_kind"),
        ({"output_tokens_min": 10, "output_tokens_max": 5}, "output_tokens_max"),
        ({"max_model_len": 4096, "kv_capacity_tokens": 1000}, "kv_capacity_tokens"),
        ({"itl_base_ms": -1.0}, "itl_base_ms"),
        ({"ttft_base_ms": float("nan")}, "ttft_base_ms"),
        ({"max_num_seqs": True}, "max_num_seqs"),
        ({"warp_speed": 9}, "warp_speed"),
    ],
)
def test_bad_settings_name_their_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(SimConfigError) as caught:
        SimConfig.from_profile("fast", **overrides)
    assert caught.value.field == field
    assert field in str(caught.value)
    assert str(caught.value).endswith(".")


def test_overriding_the_model_serves_the_new_name() -> None:
    config = SimConfig.from_profile("a100-mistral-7b", model="my/model")
    assert config.served_model_names == ("my/model",)
    both = SimConfig.from_profile("a100-mistral-7b", model="my/model", served_model_names=["a", "b"])
    assert both.served_model_names == ("a", "b")
    assert both.served_model_name == "a"
    assert PROFILES["a100-mistral-7b"].model == "mistralai/Mistral-7B-Instruct-v0.3"  # presets untouched


def _ttft_ms(config: SimConfig, prompt_tokens: int) -> float:
    return config.ttft_base_ms + config.prefill_ms_per_token * prompt_tokens


@pytest.mark.parametrize("name", ["a100-mistral-7b", "a100-llama-3.1-8b"])
def test_a100_profiles_are_in_the_measured_ranges(name: str) -> None:
    config = PROFILES[name]
    assert config.max_num_seqs == 256  # vLLM's default on an A100
    assert 100 <= _ttft_ms(config, 100) <= 180
    assert 10 <= config.itl_base_ms <= 25
    assert config.itl_batch_factor > 0  # a fuller batch decodes slower per sequence
    assert config.kv_capacity_tokens >= config.max_model_len


def test_cloud_and_fast_profiles() -> None:
    cloud, fast = PROFILES["cloud"], PROFILES["fast"]
    assert 300 <= _ttft_ms(cloud, 100) <= 500
    assert cloud.max_num_seqs >= 10_000 and cloud.itl_batch_factor == 0
    assert fast.ttft_base_ms <= 1 and fast.itl_base_ms == 0 and fast.prefill_ms_per_token == 0


def _invoke(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, list[tuple[SimConfig, str, int]]]:
    served: list[tuple[SimConfig, str, int]] = []
    # Do not block in uvicorn: record what would have been served.
    monkeypatch.setattr(sim_cli, "serve", lambda config, host, port: served.append((config, host, port)))
    result = CliRunner().invoke(sim_cli.sim, list(args))
    return result.exit_code, result.output, served


def test_cli_builds_the_config_from_profile_and_options(monkeypatch: pytest.MonkeyPatch) -> None:
    code, output, served = _invoke(
        monkeypatch,
        "--profile",
        "a100-llama-3.1-8b",
        "--port",
        "8101",
        "--model",
        "m",
        "--max-num-seqs",
        "4",
        "--startup-s",
        "2",
        "--failure-rate",
        "0.1",
        "--failure-kinds",
        "500,429",
        "--fail-first",
        "3",
        "--fail-first-kind",
        "timeout",
        "--seed",
        "9",
    )
    assert code == 0, output
    config, host, port = served[0]
    assert (host, port) == ("127.0.0.1", 8101)
    assert config.served_model_names == ("m",)
    assert config.max_num_seqs == 4 and config.startup_s == 2.0 and config.seed == 9
    assert config.failure_kinds == ("500", "429") and config.failure_rate == 0.1
    assert (config.fail_first_n, config.fail_first_kind) == (3, "timeout")
    assert config.itl_base_ms == PROFILES["a100-llama-3.1-8b"].itl_base_ms  # the rest from the profile


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--max-num-seqs", "0"], "--max-num-seqs"),
        (["--failure-rate", "2"], "failure_rate must be between 0 and 1"),
        (["--failure-kinds", "500,boom"], "'boom' is not a failure kind"),
        (["--profile", "h100"], "--profile"),
        (["--port", "70000"], "--port"),
        (["--output-tokens-min", "50", "--output-tokens-max", "10"], "--output-tokens-max"),
    ],
)
def test_cli_rejects_bad_options_with_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, args: list[str], fragment: str
) -> None:
    code, output, served = _invoke(monkeypatch, *args)
    assert code == 2
    assert fragment in output
    assert served == []
