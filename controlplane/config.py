"""Control-plane configuration: one frozen schema, read from YAML, then environment, then flags.

The schema mirrors the seed's `ElizaOSConfig`. Keys may be written in snake_case or in the
seed's camelCase (`maxAgents`). Environment variables are `ELIZAOS_<KEY>` with `__` between
levels (`ELIZAOS_SERVER__PORT=50052`). Every bad value fails start-up with a `ConfigError`
that names the key.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration value is missing, unknown or invalid; `key` names it (dotted path)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"config key {key!r}: {message}")
        self.key = key


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]i?[bB]?|[bB])?\s*$")
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(value: int | str) -> int:
    """Parse a memory size such as `512MB`, `1GiB` or `1048576` into bytes (K/M/G are binary)."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 512MB")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("size must not be negative")
        return value
    match = _SIZE.match(str(value))
    if match is None:
        raise ValueError(f"cannot parse size {value!r}; use e.g. 512MB or 1GiB")
    unit = (match.group(2) or "").lower()[:1]
    return int(float(match.group(1)) * _UNITS[unit])


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """The public gRPC server."""

    host: str = "127.0.0.1"
    """Interface to listen on; 0.0.0.0 for every interface."""
    port: int = 50051
    """TCP port; 0 picks a free one (the bound port is logged)."""
    enabled: bool = True
    """The seed's serverConfig.enabled; the control plane always serves, so it must be true."""
    grace_seconds: float = 5.0
    """How long in-flight RPCs may finish on shutdown."""
    max_message_bytes: int = 16384
    """Largest SendMessage text, in UTF-8 bytes."""
    message_timeout_seconds: float = 30.0
    """Deadline for an agent's reply when the caller sets none."""
    advertise: str = ""
    """Reserved: the address peers will use to forward to this replica (high availability)."""
    cors: bool = False
    """Reserved for an HTTP gateway (seed compatibility); has no effect on gRPC."""
    rate_limit: bool = False
    """Apply resource_limits.max_requests_per_minute to API calls."""


@dataclasses.dataclass(frozen=True)
class EtcdConfig:
    """How to reach etcd, which holds all cluster state."""

    endpoints: tuple[str, ...] = ("127.0.0.1:2379",)
    """host:port of etcd members; the first reachable one is used."""
    timeout_seconds: float = 5.0
    """Deadline of every etcd call."""
    username: str = ""
    """etcd user when etcd auth is on."""
    password: str = ""
    """etcd password (never logged)."""


@dataclasses.dataclass(frozen=True)
class ClusterConfig:
    """Hosts, liveness and scaling."""

    workers: int = 2
    """Agent hosts `elizaos up` starts."""
    auto_scale: bool = False
    """Reserved: start and retire local hosts with load (auto-scaling is a later release)."""
    max_workers: int = 16
    """Reserved: upper bound of local hosts when auto-scaling."""
    scale_threshold: float = 0.8
    """Load fraction above which the system is overloaded."""
    host_lease_ttl_seconds: int = 5
    """A host that stops heartbeating is declared dead after this long."""
    heartbeat_interval_ms: int = 1000
    """How often hosts heartbeat."""
    join_token: str = ""
    """If set, hosts must present it in Hello (never logged)."""


@dataclasses.dataclass(frozen=True)
class ResourceLimits:
    """Per-agent defaults and request limits."""

    max_memory_per_agent: int = 16 * 1024**2
    """Memory an agent requests and is limited to unless it asks otherwise (bytes; `512MB` accepted)."""
    max_cpu_per_agent: float = 0.01
    """CPU cores an agent requests unless it asks otherwise."""
    max_requests_per_minute: int = 0
    """API calls per minute per replica when server.rate_limit is on; 0 is unlimited."""
    max_concurrent_requests: int = 0
    """Messages in flight per replica; 0 is unlimited."""


@dataclasses.dataclass(frozen=True)
class PersistenceConfig:
    """What survives restarts."""

    enabled: bool = True
    """State lives in etcd; kept for seed compatibility (must stay true)."""
    checkpoint_interval: int = 60000
    """Milliseconds between full resyncs of desired and observed state."""
    recovery_mode: str = "automatic"
    """`automatic`: agents that were running run again after a restart; `manual`: they stay STOPPED."""
    memory_window: int = 64
    """Memories kept per conversation room; older ones are deleted."""


@dataclasses.dataclass(frozen=True)
class EventsConfig:
    """The event log in etcd."""

    retention_seconds: int = 3600
    """How long recorded events are kept."""


@dataclasses.dataclass(frozen=True)
class TelemetryConfig:
    """Metrics and tracing."""

    metrics_host: str = "127.0.0.1"
    """Interface of the Prometheus /metrics endpoint."""
    metrics_port: int = 9464
    """Port of the Prometheus /metrics endpoint; 0 picks a free one, -1 turns it off."""
    otlp_endpoint: str = ""
    """If set (host:port of an OpenTelemetry collector), traces are exported there over OTLP/gRPC."""
    service_name: str = "elizaos-controlplane"
    """service.name of this process's spans."""


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything a control-plane replica needs; built once at start and passed explicitly."""

    name: str = "elizaos"
    """Cluster name; all state lives under /elizaos/<name>/ in etcd."""
    debug: bool = False
    """Verbose logging."""
    max_agents: int = 1000
    """Most agents the cluster holds; enforced inside the create transaction."""
    clustering: bool = True
    """Run agents on agent hosts (always true in this system; kept for seed compatibility)."""
    server: ServerConfig = ServerConfig()
    etcd: EtcdConfig = EtcdConfig()
    cluster: ClusterConfig = ClusterConfig()
    resource_limits: ResourceLimits = ResourceLimits()
    persistence: PersistenceConfig = PersistenceConfig()
    events: EventsConfig = EventsConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    global_plugins: tuple[str, ...] = ()
    """Plugins every agent gets (names)."""
    default_settings: Mapping[str, Any] = dataclasses.field(default_factory=lambda: types.MappingProxyType({}))
    """Settings every agent's runtime sees unless its character overrides them."""
    agent_pools: Mapping[str, Any] = dataclasses.field(default_factory=lambda: types.MappingProxyType({}))
    """Pool definitions (served by the pool service)."""


_SECTION_ALIASES = {"server_config": "server", "cluster_config": "cluster"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def _snake(key: str) -> str:
    """`maxCPUPerAgent` -> `max_cpu_per_agent`; snake_case passes through."""
    key = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", key)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key).lower()


def _coerce(key: str, hint: Any, value: Any) -> Any:
    """Convert a YAML/env value to the field's type, or raise ConfigError naming the key."""
    origin = typing.get_origin(hint)
    if value is None:
        raise ConfigError(key, "needs a value (it is empty)")
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise ConfigError(key, f"expected a mapping, got {type(value).__name__}")
        return _build(hint, value, key + ".")  # type: ignore[arg-type]
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(key, f"expected true or false, got {value!r}")
    if hint is int:
        if key.endswith("max_memory_per_agent"):
            try:
                return parse_size(value)
            except ValueError as exc:
                raise ConfigError(key, str(exc)) from None
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ConfigError(key, f"expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(key, f"expected an integer, got {value!r}") from None
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(key, f"expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(key, f"expected a number, got {value!r}") from None
    if hint is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(key, f"expected a string, got {type(value).__name__}")
        return str(value)
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ConfigError(key, f"expected a list, got {type(value).__name__}")
        return tuple(str(item).strip() for item in items if str(item).strip())
    if origin in (Mapping, dict) or hint is Mapping:
        if not isinstance(value, Mapping):
            raise ConfigError(key, f"expected a mapping, got {type(value).__name__}")
        return types.MappingProxyType(dict(value))
    raise ConfigError(key, f"unsupported type {hint!r}")  # pragma: no cover - schema bug


def _build(cls: type[Any], raw: Mapping[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for raw_key, value in raw.items():
        key = _snake(str(raw_key))
        key = _SECTION_ALIASES.get(key, key) if not prefix else key
        if key not in fields:
            raise ConfigError(prefix + str(raw_key), f"unknown key; valid keys: {', '.join(sorted(fields))}")
        values[key] = _coerce(prefix + key, hints[key], value)
    return cls(**values)


def _validate(cfg: Config) -> None:
    checks: list[tuple[str, bool, str]] = [
        ("name", bool(_NAME.fullmatch(cfg.name)), "1-63 letters, digits, '.', '_' or '-', starting alphanumeric"),
        ("max_agents", cfg.max_agents >= 1, "must be at least 1"),
        ("server.enabled", cfg.server.enabled, "the control plane is the server; it cannot be disabled"),
        ("server.port", 0 <= cfg.server.port <= 65535, "must be 0..65535"),
        ("server.host", bool(cfg.server.host), "must not be empty"),
        ("server.grace_seconds", cfg.server.grace_seconds >= 0, "must not be negative"),
        ("server.max_message_bytes", 1 <= cfg.server.max_message_bytes <= 1024 * 1024, "must be 1..1048576"),
        ("server.message_timeout_seconds", cfg.server.message_timeout_seconds > 0, "must be positive"),
        ("etcd.endpoints", bool(cfg.etcd.endpoints), "needs at least one host:port"),
        ("etcd.timeout_seconds", cfg.etcd.timeout_seconds > 0, "must be positive"),
        ("cluster.workers", cfg.cluster.workers >= 0, "must not be negative"),
        ("cluster.max_workers", cfg.cluster.max_workers >= max(cfg.cluster.workers, 1), "must be >= workers"),
        ("cluster.scale_threshold", 0 < cfg.cluster.scale_threshold <= 1, "must be in (0, 1]"),
        ("cluster.host_lease_ttl_seconds", 2 <= cfg.cluster.host_lease_ttl_seconds <= 300, "must be 2..300"),
        (
            "cluster.heartbeat_interval_ms",
            50 <= cfg.cluster.heartbeat_interval_ms <= cfg.cluster.host_lease_ttl_seconds * 500,
            "must be 50ms..half the host lease TTL",
        ),
        ("resource_limits.max_memory_per_agent", cfg.resource_limits.max_memory_per_agent > 0, "must be positive"),
        ("resource_limits.max_cpu_per_agent", cfg.resource_limits.max_cpu_per_agent > 0, "must be positive"),
        ("resource_limits.max_requests_per_minute", cfg.resource_limits.max_requests_per_minute >= 0, ">= 0"),
        ("resource_limits.max_concurrent_requests", cfg.resource_limits.max_concurrent_requests >= 0, ">= 0"),
        ("persistence.enabled", cfg.persistence.enabled, "state always lives in etcd; cannot be disabled"),
        (
            "persistence.recovery_mode",
            cfg.persistence.recovery_mode in ("automatic", "manual"),
            "must be 'automatic' or 'manual'",
        ),
        ("persistence.checkpoint_interval", cfg.persistence.checkpoint_interval >= 100, "must be >= 100 (ms)"),
        ("persistence.memory_window", 1 <= cfg.persistence.memory_window <= 10000, "must be 1..10000"),
        ("events.retention_seconds", cfg.events.retention_seconds >= 10, "must be >= 10"),
        ("telemetry.metrics_port", -1 <= cfg.telemetry.metrics_port <= 65535, "must be -1 (off) or 0..65535"),
    ]
    for endpoint in cfg.etcd.endpoints:
        host, _, port = endpoint.rpartition(":")
        checks.append(("etcd.endpoints", bool(host) and port.isdigit(), f"{endpoint!r} is not host:port"))
    for key, ok, message in checks:
        if not ok:
            raise ConfigError(key, message)


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _normalise(raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = _SECTION_ALIASES.get(_snake(str(key)), _snake(str(key)))
        out[name] = _normalise(value) if isinstance(value, Mapping) and name not in _FREE_MAPS else value
    return out


_FREE_MAPS = {"default_settings", "agent_pools"}


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith("ELIZAOS_") or name in _NOT_CONFIG_ENV:
            continue
        path = [part.lower() for part in name[len("ELIZAOS_") :].split("__")]
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


# ELIZAOS_* variables that are not configuration (the CLI's target, the host's settings).
_NOT_CONFIG_ENV = frozenset({"ELIZAOS_TARGET", "ELIZAOS_CONFIG", "ELIZAOS_HOST_ID", "ELIZAOS_CONTROLPLANE"})


def set_path(overrides: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `a.b.c = value` in a nested override mapping (for `--set` flags)."""
    node = overrides
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def load_config(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the config: defaults < YAML file < `ELIZAOS_*` environment < `overrides` (flags)."""
    raw: dict[str, Any] = {}
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError("config", f"cannot read {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError("config", f"{path} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, Mapping):
            raise ConfigError("config", f"{path} must hold a mapping at the top level")
        raw = _normalise(loaded or {})
    raw = _merge(raw, _normalise(_from_env(os.environ if environ is None else environ)))
    raw = _merge(raw, _normalise(overrides or {}))
    cfg: Config = _build(Config, raw)
    _validate(cfg)
    return cfg
