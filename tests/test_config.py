"""A bad pools file or setting fails at start with a sentence that names the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from coachline.domain import PrivacyLevel, Tier
from coachline.errors import ConfigError
from coachline.pools import load_pools, parse_pools
from coachline.settings import EMBEDDED_POOLS_FILE, get_settings, reset_settings

POOL = {"name": "fast", "model": "m", "engines": ["http://127.0.0.1:8101/v1"], "tiers": ["LOCAL_FAST"]}


def test_embedded_pools_file_is_valid() -> None:
    pools = load_pools(EMBEDDED_POOLS_FILE)
    assert [p.queue for p in pools.pools] == ["pool.fast", "pool.standard"]
    assert pools.pools_for(Tier.LOCAL_STANDARD)[0].name == "standard"
    assert pools.cloud is not None
    assert pools.cloud.cost_usd(1_000_000, 1_000_000) == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"pools": []}, "pools"),
        ({"pools": [{**POOL, "name": "Bad Name"}]}, "pools.0.name"),
        ({"pools": [{**POOL, "engines": ["ftp://x"]}]}, "pools.0.engines.0.base_url"),
        ({"pools": [{**POOL, "engines": []}]}, "pools.0.engines"),
        ({"pools": [{**POOL, "max_num_seqs": 0}]}, "pools.0.max_num_seqs"),
        ({"pools": [{**POOL, "tiers": ["CLOUD_ENHANCED"]}]}, "pools.0.tiers"),
        ({"pools": [{**POOL, "tiers": ["LOCAL_TURBO"]}]}, "pools.0.tiers.0"),
        ({"pools": [{**POOL, "gpu": 1}]}, "pools.0.gpu"),
        ({"pools": [POOL, POOL]}, "repeated: fast"),
        (
            {"pools": [POOL], "cloud": {"model": "x", "input_usd_per_1m": -1, "output_usd_per_1m": 1}},
            "cloud.input_usd_per_1m",
        ),
        ([1, 2], "expected a mapping"),
    ],
)
def test_bad_pools_name_the_field(data: object, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_pools(data)
    assert needle in str(info.value)


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_pools(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("pools: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_pools(bad)


def test_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COACHLINE_MAX_MESSAGES", "zero")
    reset_settings()
    try:
        with pytest.raises(ConfigError, match="COACHLINE_MAX_MESSAGES"):
            get_settings()
    finally:
        reset_settings()


def test_visibility_timeout_must_outlast_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COACHLINE_TASK_TIME_LIMIT_S", "900")
    monkeypatch.setenv("COACHLINE_VISIBILITY_TIMEOUT_S", "600")
    reset_settings()
    try:
        with pytest.raises(ConfigError, match="COACHLINE_VISIBILITY_TIMEOUT_S"):
            get_settings()
    finally:
        reset_settings()


def test_bad_pools_file_fails_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "pools.yaml"
    path.write_text("pools:\n  - name: fast\n    model: m\n    engines: []\n    tiers: [LOCAL_FAST]\n")
    monkeypatch.setenv("COACHLINE_POOLS_FILE", str(path))
    reset_settings()
    try:
        with pytest.raises(ConfigError, match=r"pools\.0\.engines"):
            get_settings()
    finally:
        reset_settings()


def test_strictest_privacy() -> None:
    assert PrivacyLevel.strictest(PrivacyLevel.PUBLIC, None, PrivacyLevel.PRIVATE) is PrivacyLevel.PRIVATE
    assert PrivacyLevel.strictest(PrivacyLevel.SENSITIVE, PrivacyLevel.PUBLIC) is PrivacyLevel.SENSITIVE
    assert PrivacyLevel.strictest() is PrivacyLevel.PUBLIC
