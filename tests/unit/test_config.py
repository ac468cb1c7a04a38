"""controlplane.config: defaults, YAML, environment, overrides, and one ConfigError per bad value."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from controlplane.config import Config, ConfigError, load_config, parse_size, set_path


def write(tmp_path: Path, text: str, name: str = "elizaos.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(**kwargs: Any) -> ConfigError:
    kwargs.setdefault("environ", {})
    with pytest.raises(ConfigError) as info:
        load_config(**kwargs)
    return info.value


# --- defaults -------------------------------------------------------------------------------------


def test_defaults_without_file_env_or_overrides() -> None:
    cfg = load_config(environ={})
    assert cfg == Config()
    assert cfg.name == "elizaos"
    assert cfg.max_agents == 1000
    assert cfg.server.host == "127.0.0.1"
    assert cfg.server.port == 50051
    assert cfg.server.max_message_bytes == 16384
    assert cfg.etcd.endpoints == ("127.0.0.1:2379",)
    assert cfg.cluster.workers == 2
    assert cfg.resource_limits.max_memory_per_agent == 16 * 1024**2
    assert cfg.persistence.recovery_mode == "automatic"
    assert cfg.persistence.memory_window == 64
    assert cfg.global_plugins == ()
    assert dict(cfg.default_settings) == {}


def test_empty_yaml_file_gives_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), environ={}) == Config()


def test_empty_path_reads_no_file() -> None:
    assert load_config("", environ={}) == Config()


def test_unrelated_and_non_config_environment_is_ignored() -> None:
    environ = {"PATH": "/bin", "ELIZAOS_TARGET": "x:1", "ELIZAOS_CONFIG": "/nope.yaml", "ELIZAOS_HOST_ID": "h"}
    assert load_config(environ=environ) == Config()


# --- YAML file ------------------------------------------------------------------------------------


def test_yaml_snake_case_values(tmp_path: Path) -> None:
    path = write(tmp_path, """
name: prod-1
debug: true
max_agents: 50
server:
  host: 0.0.0.0
  port: 6000
  grace_seconds: 1.5
etcd:
  endpoints: [etcd-a:2379, etcd-b:2379]
  timeout_seconds: 2
cluster:
  workers: 4
  max_workers: 8
persistence:
  recovery_mode: manual
  memory_window: 10
events:
  retention_seconds: 60
global_plugins: [bootstrap, sql]
default_settings:
  model: eliza
  nestedKey: {innerCamel: 1}
""")
    cfg = load_config(path, environ={})
    assert cfg.name == "prod-1"
    assert cfg.debug is True
    assert cfg.max_agents == 50
    assert cfg.server.host == "0.0.0.0"
    assert cfg.server.port == 6000
    assert cfg.server.grace_seconds == 1.5
    assert cfg.server.max_message_bytes == 16384  # untouched default inside a given section
    assert cfg.etcd.endpoints == ("etcd-a:2379", "etcd-b:2379")
    assert cfg.etcd.timeout_seconds == 2.0
    assert cfg.cluster.workers == 4
    assert cfg.cluster.max_workers == 8
    assert cfg.persistence.recovery_mode == "manual"
    assert cfg.persistence.memory_window == 10
    assert cfg.events.retention_seconds == 60
    assert cfg.global_plugins == ("bootstrap", "sql")
    # Free-form mappings keep their keys as written (no snake-casing).
    assert dict(cfg.default_settings) == {"model": "eliza", "nestedKey": {"innerCamel": 1}}


def test_yaml_seed_camel_case_keys(tmp_path: Path) -> None:
    path = write(tmp_path, """
maxAgents: 7
serverConfig:
  port: 50099
  maxMessageBytes: 2048
  enabled: true
clusterConfig:
  workers: 3
  autoScale: true
  maxWorkers: 5
  hostLeaseTtlSeconds: 10
resourceLimits:
  maxMemoryPerAgent: '512MB'
  maxCpuPerAgent: 0.5
globalPlugins: [a]
""")
    cfg = load_config(path, environ={})
    assert cfg.max_agents == 7
    assert cfg.server.port == 50099
    assert cfg.server.max_message_bytes == 2048
    assert cfg.server.enabled is True
    assert cfg.cluster.workers == 3
    assert cfg.cluster.auto_scale is True
    assert cfg.cluster.max_workers == 5
    assert cfg.cluster.host_lease_ttl_seconds == 10
    assert cfg.resource_limits.max_memory_per_agent == 512 * 1024**2
    assert cfg.resource_limits.max_cpu_per_agent == 0.5
    assert cfg.global_plugins == ("a",)


def test_camel_case_acronyms(tmp_path: Path) -> None:
    path = write(tmp_path, "resourceLimits:\n  maxCPUPerAgent: 0.25\nclusterConfig:\n  hostLeaseTTLSeconds: 9\n")
    cfg = load_config(path, environ={})
    assert cfg.resource_limits.max_cpu_per_agent == 0.25
    assert cfg.cluster.host_lease_ttl_seconds == 9


def test_memory_size_as_plain_integer(tmp_path: Path) -> None:
    path = write(tmp_path, "resource_limits:\n  max_memory_per_agent: 1048576\n")
    assert load_config(path, environ={}).resource_limits.max_memory_per_agent == 1048576


# --- precedence -----------------------------------------------------------------------------------


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, "max_agents: 5\nserver:\n  port: 6000\n  host: 10.0.0.1\n")
    environ = {
        "ELIZAOS_MAX_AGENTS": "9",
        "ELIZAOS_SERVER__PORT": "7000",
        "ELIZAOS_ETCD__ENDPOINTS": "a:1,b:2",
        "ELIZAOS_DEBUG": "yes",
    }
    cfg = load_config(path, environ=environ)
    assert cfg.max_agents == 9
    assert cfg.server.port == 7000
    assert cfg.server.host == "10.0.0.1"  # file value in the same section survives the env merge
    assert cfg.etcd.endpoints == ("a:1", "b:2")
    assert cfg.debug is True


def test_environment_merges_with_camel_case_file_section(tmp_path: Path) -> None:
    path = write(tmp_path, "serverConfig:\n  port: 6000\n  host: 10.0.0.2\n")
    cfg = load_config(path, environ={"ELIZAOS_SERVER__PORT": "7001"})
    assert cfg.server.port == 7001
    assert cfg.server.host == "10.0.0.2"


def test_environment_memory_size() -> None:
    cfg = load_config(environ={"ELIZAOS_RESOURCE_LIMITS__MAX_MEMORY_PER_AGENT": "1GiB"})
    assert cfg.resource_limits.max_memory_per_agent == 1024**3


def test_overrides_beat_environment_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "max_agents: 5\nserver:\n  port: 6000\n")
    environ = {"ELIZAOS_MAX_AGENTS": "9", "ELIZAOS_SERVER__PORT": "7000"}
    overrides: dict[str, Any] = {}
    set_path(overrides, "server.port", 8000)
    set_path(overrides, "max_agents", 11)
    assert overrides == {"server": {"port": 8000}, "max_agents": 11}
    cfg = load_config(path, environ=environ, overrides=overrides)
    assert cfg.max_agents == 11
    assert cfg.server.port == 8000


def test_each_layer_only_changes_what_it_names(tmp_path: Path) -> None:
    path = write(tmp_path, "max_agents: 5\n")
    cfg = load_config(path, environ={"ELIZAOS_SERVER__PORT": "7000"}, overrides={"debug": True})
    assert (cfg.max_agents, cfg.server.port, cfg.debug) == (5, 7000, True)


def test_overrides_accept_camel_case() -> None:
    cfg = load_config(environ={}, overrides={"serverConfig": {"port": 1234}, "maxAgents": 3})
    assert cfg.server.port == 1234
    assert cfg.max_agents == 3


# --- errors name the key --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"bogus": 1}, "bogus"),
        ({"server": {"bogus": 1}}, "server.bogus"),
        ({"max_agents": "many"}, "max_agents"),
        ({"max_agents": True}, "max_agents"),
        ({"max_agents": -1}, "max_agents"),
        ({"max_agents": 0}, "max_agents"),
        ({"server": {"port": 70000}}, "server.port"),
        ({"server": {"port": -1}}, "server.port"),
        ({"server": {"port": "http"}}, "server.port"),
        ({"server": 5}, "server"),
        ({"server": {"host": ""}}, "server.host"),
        ({"server": {"host": ["a"]}}, "server.host"),
        ({"server": {"max_message_bytes": 0}}, "server.max_message_bytes"),
        ({"server": {"message_timeout_seconds": 0}}, "server.message_timeout_seconds"),
        ({"server": {"grace_seconds": "soon"}}, "server.grace_seconds"),
        ({"debug": "maybe"}, "debug"),
        ({"debug": 1}, "debug"),
        ({"persistence": {"recovery_mode": "sometimes"}}, "persistence.recovery_mode"),
        ({"persistence": {"enabled": False}}, "persistence.enabled"),
        ({"server": {"enabled": False}}, "server.enabled"),
        ({"persistence": {"memory_window": 0}}, "persistence.memory_window"),
        ({"persistence": {"checkpoint_interval": 10}}, "persistence.checkpoint_interval"),
        ({"etcd": {"endpoints": ["localhost"]}}, "etcd.endpoints"),
        ({"etcd": {"endpoints": ["host:port"]}}, "etcd.endpoints"),
        ({"etcd": {"endpoints": [":2379"]}}, "etcd.endpoints"),
        ({"etcd": {"endpoints": []}}, "etcd.endpoints"),
        ({"etcd": {"endpoints": {"a": 1}}}, "etcd.endpoints"),
        ({"etcd": {"timeout_seconds": 0}}, "etcd.timeout_seconds"),
        ({"cluster": {"workers": -1}}, "cluster.workers"),
        ({"cluster": {"workers": 4, "max_workers": 2}}, "cluster.max_workers"),
        ({"cluster": {"scale_threshold": 1.5}}, "cluster.scale_threshold"),
        ({"cluster": {"host_lease_ttl_seconds": 1}}, "cluster.host_lease_ttl_seconds"),
        ({"cluster": {"heartbeat_interval_ms": 10}}, "cluster.heartbeat_interval_ms"),
        ({"cluster": {"heartbeat_interval_ms": 3000}}, "cluster.heartbeat_interval_ms"),
        ({"resource_limits": {"max_memory_per_agent": "lots"}}, "resource_limits.max_memory_per_agent"),
        ({"resource_limits": {"max_memory_per_agent": "-5MB"}}, "resource_limits.max_memory_per_agent"),
        ({"resource_limits": {"max_memory_per_agent": 0}}, "resource_limits.max_memory_per_agent"),
        ({"resource_limits": {"max_memory_per_agent": True}}, "resource_limits.max_memory_per_agent"),
        ({"resource_limits": {"max_cpu_per_agent": 0}}, "resource_limits.max_cpu_per_agent"),
        ({"resource_limits": {"max_requests_per_minute": -1}}, "resource_limits.max_requests_per_minute"),
        ({"events": {"retention_seconds": 1}}, "events.retention_seconds"),
        ({"global_plugins": {"a": 1}}, "global_plugins"),
        ({"default_settings": ["a"]}, "default_settings"),
        ({"name": "bad/name"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 64}, "name"),
    ],
)
def test_bad_value_names_its_key(overrides: dict[str, Any], key: str) -> None:
    error = config_error(overrides=overrides)
    assert error.key == key
    assert repr(key) in str(error)
    assert isinstance(error, ValueError)


def test_unknown_camel_case_key_is_reported_snake_cased(tmp_path: Path) -> None:
    path = write(tmp_path, "serverConfig:\n  noSuchThing: 1\n")
    assert config_error(path=path).key == "server.no_such_thing"


def test_bad_environment_value_names_its_key() -> None:
    assert config_error(environ={"ELIZAOS_SERVER__PORT": "70000"}).key == "server.port"
    assert config_error(environ={"ELIZAOS_MAX_AGENTS": "-3"}).key == "max_agents"
    assert config_error(environ={"ELIZAOS_ETCD__ENDPOINTS": "a:1,nohost"}).key == "etcd.endpoints"
    assert config_error(environ={"ELIZAOS_PERSISTENCE__RECOVERY_MODE": "auto"}).key == (
        "persistence.recovery_mode"
    )
    assert config_error(environ={"ELIZAOS_NO_SUCH_KEY": "1"}).key == "no_such_key"


def test_bad_file_value_names_its_key(tmp_path: Path) -> None:
    assert config_error(path=write(tmp_path, "serverConfig:\n  port: 70000\n")).key == "server.port"
    assert config_error(path=write(tmp_path, "maxAgents: -1\n")).key == "max_agents"


def test_invalid_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "server: [unclosed\n")
    error = config_error(path=path)
    assert error.key == "config"
    assert "not valid YAML" in str(error)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_non_mapping_yaml(tmp_path: Path, text: str) -> None:
    error = config_error(path=write(tmp_path, text))
    assert error.key == "config"
    assert "mapping" in str(error)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    error = config_error(path=path)
    assert error.key == "config"
    assert str(path) in str(error)


# Values of the wrong type must not be silently converted into something else.


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"max_agents": 1.5}, "max_agents"),
        ({"server": {"port": 50051.9}}, "server.port"),
    ],
)
def test_fractional_number_for_integer_key_is_rejected(overrides: dict[str, Any], key: str) -> None:
    assert config_error(overrides=overrides).key == key


@pytest.mark.parametrize(
    ("text", "key"),
    [("name:\n", "name"), ("server:\n  host:\n", "server.host")],
)
def test_null_for_string_key_is_rejected(tmp_path: Path, text: str, key: str) -> None:
    # An empty YAML value is null; it must not become the string "None".
    assert config_error(path=write(tmp_path, text)).key == key


def test_cluster_name_with_trailing_newline_is_rejected() -> None:
    assert config_error(overrides={"name": "elizaos\n"}).key == "name"


# --- frozen ---------------------------------------------------------------------------------------


def test_config_is_frozen() -> None:
    cfg = load_config(environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.max_agents = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.server.port = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.resource_limits.max_memory_per_agent = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.persistence = cfg.persistence  # type: ignore[misc]
    assert cfg.max_agents == 1000
    assert cfg.server.port == 50051


def test_free_form_settings_mapping_is_read_only() -> None:
    cfg = load_config(environ={}, overrides={"default_settings": {"model": "eliza"}})
    assert cfg.default_settings["model"] == "eliza"
    with pytest.raises(TypeError):
        cfg.default_settings["model"] = "other"  # type: ignore[index]


# --- parse_size -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (1048576, 1048576),
        ("1048576", 1048576),
        ("10b", 10),
        ("10B", 10),
        ("1k", 1024),
        ("1KB", 1024),
        ("1KiB", 1024),
        ("512MB", 512 * 1024**2),
        ("512 mb", 512 * 1024**2),
        ("512M", 512 * 1024**2),
        ("1GiB", 1024**3),
        ("1.5GB", 3 * 512 * 1024**2),
        ("2T", 2 * 1024**4),
        ("  64MB  ", 64 * 1024**2),
    ],
)
def test_parse_size(value: int | str, expected: int) -> None:
    assert parse_size(value) == expected


@pytest.mark.parametrize("value", ["", "MB", "-1", "-5MB", "5XB", "five", "1.2.3MB", True, False, -1])
def test_parse_size_rejects(value: int | str) -> None:
    with pytest.raises(ValueError):
        parse_size(value)
