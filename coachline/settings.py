"""One pydantic-settings ``Settings``, read through the cached ``get_settings()``.

Every field can be set from the environment with the ``COACHLINE_`` prefix, e.g.
``COACHLINE_DATABASE_URL`` or ``COACHLINE_API_KEYS='{"key": "tenant"}'``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from coachline.errors import ConfigError
from coachline.pools import PoolsConfig, load_pools

PACKAGE_DATA = Path(__file__).parent / "data"
EMBEDDED_POOLS_FILE = PACKAGE_DATA / "pools.embedded.yaml"
SAMPLE_REQUESTS_FILE = PACKAGE_DATA / "coaching_requests.jsonl"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COACHLINE_", extra="ignore", frozen=True)

    database_url: str = "sqlite:///var/coachline.db"
    broker_url: str = "redis://127.0.0.1:6379/0"
    # Event bus, pool-load snapshot and shared cooldowns. Empty: the broker URL when it is Redis.
    redis_url: str = ""
    # API key -> tenant. The API refuses to start without one.
    api_keys: dict[str, str] = Field(default_factory=dict)
    pools_file: Path = EMBEDDED_POOLS_FILE

    # Producer API limits.
    max_messages: Annotated[int, Field(ge=1)] = 100
    max_message_chars: Annotated[int, Field(ge=1)] = 32_000
    max_body_bytes: Annotated[int, Field(ge=1024)] = 512 * 1024
    max_tokens_limit: Annotated[int, Field(ge=1)] = 4096
    default_max_tokens: Annotated[int, Field(ge=1)] = 256
    max_wait_s: Annotated[float, Field(ge=0)] = 60.0
    request_deadline_s: Annotated[float, Field(gt=0)] = 300.0

    # Engines.
    engine_timeout_s: Annotated[float, Field(gt=0)] = 120.0
    engine_connect_timeout_s: Annotated[float, Field(gt=0)] = 5.0
    generate_max_attempts: Annotated[int, Field(ge=1)] = 4
    retry_backoff_s: Annotated[float, Field(ge=0)] = 0.5
    retry_backoff_max_s: Annotated[float, Field(ge=0)] = 10.0
    # An engine that fails this many times in a row is skipped for engine_cooldown_s.
    engine_cooldown_failures: Annotated[int, Field(ge=1)] = 3
    engine_cooldown_s: Annotated[float, Field(gt=0)] = 30.0

    # GPU workers (`coachline worker gpu`). The engine command is a template: {model}, {port},
    # {max_num_seqs} and {gpu} are filled in per engine; tests and benchmarks start the simulator
    # (`python -m coachline sim --port {port} --model {model} ...`) in vLLM's place.
    engine_command: str = "vllm serve {model} --port {port} --max-num-seqs {max_num_seqs}"
    # Model loading ends when GET /health answers 200; a large model takes minutes.
    engine_startup_timeout_s: Annotated[float, Field(gt=0)] = 900.0
    # After the drain, the engine gets this long to exit on SIGTERM before it is killed.
    engine_stop_timeout_s: Annotated[float, Field(gt=0)] = 30.0
    # The one engine this process serves (`coachline worker gpu` sets it): the pool that owns it is
    # narrowed to it, so every attempt this process runs goes to its own GPU.
    pinned_engine_url: str = ""
    # A GPU worker runs max_num_seqs x (1 + this) tasks at once: the extra ones wait inside the engine,
    # so a finished sequence's slot refills at once instead of after the worker's bookkeeping.
    gpu_batch_headroom: Annotated[float, Field(ge=0, le=4)] = 0.25
    # Pool-load snapshot: how often pool workers publish, and how long one /metrics scrape may take.
    load_publish_interval_s: Annotated[float, Field(gt=0)] = 0.5
    engine_scrape_timeout_s: Annotated[float, Field(gt=0)] = 0.25

    # Routing: complexity at or below fast_max -> LOCAL_FAST, at or below standard_max -> LOCAL_STANDARD.
    tier_fast_max: Annotated[float, Field(ge=0, le=1)] = 0.15
    tier_standard_max: Annotated[float, Field(ge=0, le=1)] = 0.42

    # Celery.
    task_time_limit_s: Annotated[int, Field(ge=10)] = 900
    visibility_timeout_s: Annotated[int, Field(ge=60)] = 3600
    # Requests queued longer than this with no progress are published again (a lost message).
    requeue_after_s: Annotated[float, Field(gt=0)] = 120.0

    log_level: str = "INFO"
    log_json: bool = True

    # Monitoring: aggregation, alerts, quality (scheduler/aggregation.py, scheduler/alerts/).
    # Operator API keys -> operator name, for /v1/status and /v1/alerts (tenant keys cannot use them).
    operator_keys: dict[str, str] = Field(default_factory=dict)
    # Empty: the rules bundled with coachline (scheduler/alerts/rules.yaml).
    alert_rules_file: Path | None = None
    # Slack-compatible incoming webhook for every channel; per-channel URLs override it.
    alert_webhook_url: str = ""
    alert_channel_webhooks: dict[str, str] = Field(default_factory=dict)
    alert_notify_timeout_s: Annotated[float, Field(gt=0)] = 5.0
    alert_notify_max_attempts: Annotated[int, Field(ge=1)] = 5
    # A window is aggregated once it closed this long ago (rows committed late still land in it)...
    aggregation_lag_s: Annotated[float, Field(ge=0)] = 10.0
    # ...and the last N minutes are recomputed on every run, absorbing late rows and missed runs.
    aggregation_catchup_minutes: Annotated[int, Field(ge=1, le=1440)] = 10
    rollup_minute_retention_days: Annotated[float, Field(gt=0)] = 7.0
    # Model health (coachline status, GET /v1/status) looks at this trailing window.
    health_window_s: Annotated[float, Field(ge=60)] = 900.0
    # Automatic quality scores: the local heuristic scores every response; the judge a sample.
    quality_lookback_s: Annotated[float, Field(gt=0)] = 3600.0
    quality_batch: Annotated[int, Field(ge=1)] = 500
    quality_judge_sample_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    # "cloud": the pools file's cloud model (public requests only); "pool:<name>": a local pool.
    quality_judge: str = "cloud"
    quality_judge_timeout_s: Annotated[float, Field(gt=0)] = 30.0

    # Fine-tune trigger (scheduler/finetune/): beat evaluates every local model every few minutes.
    finetune_enabled: bool = True
    # The plan's trigger: confidence and urgency at least these, level WARNING or CRITICAL, and no
    # trigger of the same model within the cooldown (kept in the database).
    finetune_min_confidence: Annotated[float, Field(ge=0, le=1)] = 0.7
    finetune_min_urgency: Annotated[float, Field(ge=0, le=1)] = 0.5
    finetune_cooldown_s: Annotated[float, Field(gt=0)] = 3600.0
    # Method: urgency above the first -> text-to-LoRA; else confidence above the second -> Transformer².
    finetune_fast_method_urgency: Annotated[float, Field(ge=0, le=1)] = 0.8
    finetune_effective_method_confidence: Annotated[float, Field(ge=0, le=1)] = 0.8
    # The evidence: this trailing window, split in slices whose agreement makes the confidence...
    finetune_window_s: Annotated[float, Field(ge=300)] = 3600.0
    finetune_window_slices: Annotated[int, Field(ge=2, le=12)] = 4
    # ...together with the sample size: this many samples behind the deciding metric give full weight.
    finetune_full_confidence_samples: Annotated[int, Field(ge=1)] = 50
    # Empty: the model of every local pool (the cloud model is not ours to fine-tune).
    finetune_models: list[str] = Field(default_factory=list)
    # The training set: conversations rated at most this, or corrected, in the lookback.
    finetune_low_rating_max: Annotated[int, Field(ge=1, le=5)] = 2
    finetune_dataset_lookback_s: Annotated[float, Field(gt=0)] = 7 * 86400.0
    finetune_dataset_max_rows: Annotated[int, Field(ge=1)] = 5000
    finetune_dataset_dir: Path = Path("var/finetune")
    # "record": write the job and its dataset to finetune_dataset_dir; "webhook": POST them to
    # finetune_webhook_url; "command": run finetune_command ({job_id} {model} {method} {dataset}
    # {job_file} {prompt_file} are filled in).
    finetune_trainer: Literal["record", "webhook", "command"] = "record"
    finetune_webhook_url: str = ""
    finetune_command: str = ""
    # A webhook or command trainer counts as cloud (sensitive conversations never reach it, the
    # rest only redacted) unless declared to run inside the cluster.
    finetune_trainer_local: bool = False
    finetune_trainer_timeout_s: Annotated[float, Field(gt=0)] = 120.0

    # Quality gates (scheduler/gates/): nightly go/no-go evaluation and GET/POST of external metrics.
    # Empty: the gates bundled with coachline (scheduler/gates/gates.yaml).
    gates_file: Path | None = None
    # The phases evaluated nightly; empty: every phase of the gates file.
    gates_phases: list[str] = Field(default_factory=list)
    gates_nightly_hour_utc: Annotated[int, Field(ge=0, le=23)] = 2
    # An external value older than this counts as not measured.
    gates_external_max_age_days: Annotated[float, Field(gt=0)] = 90.0
    # Where model-load metrics (recorded by GPU workers in Prometheus) are read; empty: not measured.
    gates_prometheus_url: str = ""
    gates_prometheus_timeout_s: Annotated[float, Field(gt=0)] = 5.0

    @field_validator("quality_judge")
    @classmethod
    def _judge_target(cls, value: str) -> str:
        if value != "cloud" and not (value.startswith("pool:") and len(value) > 5):
            raise ValueError("must be 'cloud' or 'pool:<name>'")
        return value

    @field_validator("visibility_timeout_s")
    @classmethod
    def _visibility_longer_than_tasks(cls, value: int, info: object) -> int:
        data = getattr(info, "data", {})
        limit = data.get("task_time_limit_s", 0)
        if value <= limit:
            raise ValueError(
                f"must be longer than task_time_limit_s ({limit}); otherwise Redis redelivers running tasks"
            )
        return value

    @property
    def event_redis_url(self) -> str | None:
        if self.redis_url:
            return self.redis_url
        if self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return None

    @functools.cached_property
    def pools(self) -> PoolsConfig:
        pools = load_pools(self.pools_file)
        return pin_engine(pools, self.pinned_engine_url) if self.pinned_engine_url else pools


def pin_engine(pools: PoolsConfig, engine_url: str) -> PoolsConfig:
    """``pools`` with the pool that owns ``engine_url`` reduced to that one engine.

    A GPU worker serves one engine: every attempt it runs goes to its own GPU, so an engine's load is
    exactly what its own worker holds. A retry that should try another GPU of the pool goes back to
    the pool's queue, where that GPU's worker takes it.
    """
    url = engine_url.rstrip("/")
    for pool in pools.pools:
        for engine in pool.engines:
            if engine.base_url == url:
                pinned = pool.model_copy(update={"engines": [engine]})
                return pools.model_copy(update={"pools": [pinned if p is pool else p for p in pools.pools]})
    raise ConfigError(f"COACHLINE_PINNED_ENGINE_URL: {url} is not an engine of any pool in the pools file")


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"])
        parts.append(f"COACHLINE_{field.upper()}: {item['msg']}")
    return "invalid settings: " + "; ".join(parts)


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, validated once; a ConfigError names the bad field."""
    try:
        settings = Settings()
    except ValidationError as e:
        raise ConfigError(_describe(e)) from e
    settings.pools  # noqa: B018 -- validate the pools file at start, not on the first request
    return settings


def reset_settings() -> None:
    """Forget the cached settings (tests and `coachline up`, which set the environment first)."""
    get_settings.cache_clear()
