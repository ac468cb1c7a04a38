"""The README's configuration reference and example stay true to the code."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import yaml

from controlplane.config import Config, load_config

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _keys(cls: type, prefix: str = "") -> list[str]:
    out: list[str] = []
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if dataclasses.is_dataclass(hint):
            out.extend(_keys(hint, f"{prefix}{field.name}."))  # type: ignore[arg-type]
        else:
            out.append(prefix + field.name)
    return out


def test_every_config_key_is_documented() -> None:
    missing = [key for key in _keys(Config) if f"`{key}`" not in README and f"`{key} /" not in README
               and f"/ `{key}`" not in README]
    assert not missing, f"config keys missing from the README reference: {missing}"


def test_readme_example_config_is_valid() -> None:
    match = re.search(r"Example `elizaos.yaml`:\n\n```yaml\n(.*?)```", README, re.S)
    assert match, "example config block not found"
    raw = yaml.safe_load(match.group(1))
    config = load_config(environ={}, overrides=raw)
    assert config.name == "production" and config.max_agents == 500
    assert config.resource_limits.max_cpu_per_agent == 0.05
    assert config.resource_limits.max_memory_per_agent == 64 * 1024**2
    assert config.etcd.endpoints == ("10.0.0.5:2379", "10.0.0.6:2379", "10.0.0.7:2379")
