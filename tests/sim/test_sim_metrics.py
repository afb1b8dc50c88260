"""/metrics: vLLM's names and labels, and counts that add up to what clients received."""

from __future__ import annotations

from tests.sim.conftest import StartSim
from tests.sim.simkit import client, metric, scrape, user, value

REQUIRED = (
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:gpu_cache_usage_perc",
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
    "vllm:time_to_first_token_seconds_bucket",
    "vllm:time_to_first_token_seconds_count",
    "vllm:e2e_request_latency_seconds_bucket",
    "vllm:e2e_request_latency_seconds_sum",
)


def test_vllm_metric_names_with_model_name_label(start_sim: StartSim) -> None:
    sim = start_sim(model="org/model-x")
    samples = scrape(sim)
    names = {name for name, _ in samples}
    assert set(REQUIRED) <= names
    for name, labels in samples:
        if name.startswith("vllm:"):
            assert ("model_name", "org/model-x") in labels, name


def test_counters_and_histograms_add_up_after_n_requests(start_sim: StartSim) -> None:
    sim = start_sim(model="m", ttft_base_ms=30, output_tokens_min=5, output_tokens_max=25)
    openai_client = client(sim)
    usages = []
    for i in range(5):
        answer = openai_client.chat.completions.create(model="m", messages=user(f"question {i} " * (i + 1)))
        assert answer.usage is not None
        usages.append(answer.usage)
    capped = openai_client.chat.completions.create(model="m", messages=user("short"), max_tokens=2)
    assert capped.usage is not None
    usages.append(capped.usage)

    samples = scrape(sim)
    assert value(samples, sim, "vllm:prompt_tokens_total") == sum(u.prompt_tokens for u in usages)
    assert value(samples, sim, "vllm:generation_tokens_total") == sum(u.completion_tokens for u in usages)
    assert value(samples, sim, "vllm:request_success_total", finished_reason="stop") == 5
    assert value(samples, sim, "vllm:request_success_total", finished_reason="length") == 1
    assert value(samples, sim, "vllm:e2e_request_latency_seconds_count") == 6
    ttft_count = value(samples, sim, "vllm:time_to_first_token_seconds_count")
    ttft_sum = value(samples, sim, "vllm:time_to_first_token_seconds_sum")
    assert ttft_count == 6
    assert 0.029 <= ttft_sum / ttft_count < 0.1  # the configured 30 ms, and not much more
    # Every TTFT is above the 20 ms bucket and below the 100 ms one.
    assert value(samples, sim, "vllm:time_to_first_token_seconds_bucket", le="0.02") == 0
    assert value(samples, sim, "vllm:time_to_first_token_seconds_bucket", le="0.1") == 6
    assert value(samples, sim, "vllm:time_to_first_token_seconds_bucket", le="+Inf") == 6


def test_two_simulators_in_one_process_are_independent(start_sim: StartSim) -> None:
    local = start_sim(model="local-7b")
    cloud = start_sim("cloud", model="cloud-mini", ttft_base_ms=1, itl_base_ms=0)
    assert local.port != cloud.port
    for i in range(3):
        client(local).chat.completions.create(model="local-7b", messages=user(f"l{i}"))
    client(cloud).chat.completions.create(model="cloud-mini", messages=user("c"))

    assert metric(local, "vllm:e2e_request_latency_seconds_count") == 3
    assert metric(cloud, "vllm:e2e_request_latency_seconds_count") == 1
    assert [m.id for m in client(cloud).models.list().data] == ["cloud-mini"]
    assert cloud.config.max_num_seqs > local.config.max_num_seqs  # the profiles stayed apart
