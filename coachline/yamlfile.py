"""Reading the YAML configuration files (pools, alert rules, gates) with errors that say which file."""

from __future__ import annotations

from pathlib import Path

import yaml

from coachline.errors import ConfigError


def read_yaml(path: Path, source: str) -> object:
    """The parsed content of ``path``; a ConfigError that starts with ``source`` when it can't be."""
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{source}: cannot be read ({e.strerror or e})") from e
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML ({e})") from e
