"""The pools file: local GPU pools and the cloud provider, as configuration rather than code.

A pool is a name, a model, its engine endpoints (one vLLM server per GPU), the engine's
``max_num_seqs``, the tiers it serves and its cost per GPU-hour. The cloud provider is a model, a
base URL, the environment variable that holds its API key and its token prices.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from coachline.domain import PrivacyLevel, Tier
from coachline.errors import ConfigError, describe_validation
from coachline.yamlfile import read_yaml

_POOL_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


# An engine's OpenAI-compatible base URL, without a trailing slash.
HttpUrl = Annotated[str, AfterValidator(_http_url)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EngineSpec(_Strict):
    """One engine endpoint: an OpenAI-compatible base URL (e.g. ``http://10.0.0.5:8000/v1``)."""

    base_url: HttpUrl
    # Launch settings for `coachline worker gpu`; unused when attaching to a running engine.
    gpu: int | None = None


class PoolSpec(_Strict):
    name: str
    model: str
    engines: Annotated[list[EngineSpec], Field(min_length=1)]
    max_num_seqs: Annotated[int, Field(ge=1, le=4096)] = 256
    tiers: Annotated[list[Tier], Field(min_length=1)]
    gpu_hour_usd: Annotated[float, Field(ge=0)] = 0.0
    # Simulator profile used where coachline starts simulated engines (embedded default, tests).
    sim_profile: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _POOL_NAME.match(value):
            raise ValueError("must be lower-case letters, digits and dashes (it names the queue pool.<name>)")
        return value

    @field_validator("engines", mode="before")
    @classmethod
    def _engines_from_urls(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"base_url": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("tiers")
    @classmethod
    def _local_tiers(cls, value: list[Tier]) -> list[Tier]:
        cloud = [t.value for t in value if not t.is_local]
        if cloud:
            raise ValueError(f"a local pool serves local tiers only, not {', '.join(cloud)}")
        return value

    @property
    def queue(self) -> str:
        return f"pool.{self.name}"


class CloudSpec(_Strict):
    model: str
    base_url: HttpUrl = "https://api.openai.com/v1"
    api_key_env: str = "OPENAI_API_KEY"
    input_usd_per_1m: Annotated[float, Field(ge=0)]
    output_usd_per_1m: Annotated[float, Field(ge=0)]
    sim_profile: str | None = None

    def cost_usd(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input_usd_per_1m + tokens_out * self.output_usd_per_1m) / 1_000_000


class TenantPolicy(_Strict):
    """What a tenant allows: the router applies the strictest of this, the request and the user."""

    # Nothing of this tenant's leaves the local pools (e.g. an enterprise on-premises tenant).
    local_only: bool = False
    # Private requests may reach the cloud, with identifiers redacted first.
    private_to_cloud: bool = False
    # Every request of this tenant counts as at least this private.
    min_privacy: PrivacyLevel = PrivacyLevel.PUBLIC


class PoolsConfig(_Strict):
    pools: Annotated[list[PoolSpec], Field(min_length=1)]
    cloud: CloudSpec | None = None
    # Per-tenant routing policy; tenants not listed get ``default_tenant``.
    tenants: dict[str, TenantPolicy] = Field(default_factory=dict)
    default_tenant: TenantPolicy = Field(default_factory=TenantPolicy)

    @model_validator(mode="after")
    def _unique_names(self) -> PoolsConfig:
        names = [p.name for p in self.pools]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"pool names must be unique; repeated: {', '.join(dupes)}")
        return self

    def pool(self, name: str) -> PoolSpec:
        for pool in self.pools:
            if pool.name == name:
                return pool
        raise KeyError(name)

    def pools_for(self, tier: Tier) -> list[PoolSpec]:
        return [p for p in self.pools if tier in p.tiers]

    def tenant_policy(self, tenant: str) -> TenantPolicy:
        return self.tenants.get(tenant, self.default_tenant)


def parse_pools(data: object, source: str = "pools file") -> PoolsConfig:
    """Validate pools data; a ConfigError names the field that is wrong."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with 'pools' (and optionally 'cloud') at the top")
    try:
        return PoolsConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(describe_validation(e, source)) from e


def load_pools(path: Path) -> PoolsConfig:
    """Read and validate a YAML pools file."""
    source = f"pools file {path}"
    return parse_pools(read_yaml(path, source), source=source)
