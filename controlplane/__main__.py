"""`python -m controlplane`: run one control-plane replica until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

import yaml

from controlplane.config import Config, ConfigError, load_config, set_path
from controlplane.errors import Unavailable
from controlplane.server import ControlPlane
from controlplane.telemetry import TracingSetupError, setup_tracing


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m controlplane", description=__doc__)
    parser.add_argument("--config", help="YAML config file (see README: configuration)")
    parser.add_argument("--host", help="interface to listen on (server.host)")
    parser.add_argument("--port", type=int, help="port to listen on, 0 for any (server.port)")
    parser.add_argument("--name", help="cluster name (name)")
    parser.add_argument("--etcd", help="comma-separated etcd host:port list (etcd.endpoints)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="any config key, e.g. --set cluster.host_lease_ttl_seconds=3")
    return parser.parse_args(argv)


def config_from_args(ns: argparse.Namespace) -> Config:
    """Flags override the environment, which overrides the file."""
    overrides: dict[str, Any] = {}
    for flag, key in (("host", "server.host"), ("port", "server.port"), ("name", "name"), ("etcd", "etcd.endpoints")):
        value = getattr(ns, flag)
        if value is not None:
            set_path(overrides, key, value)
    for item in ns.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(key, "--set needs KEY=VALUE")
        set_path(overrides, key.strip(), yaml.safe_load(value) if value else "")
    return load_config(ns.config, overrides=overrides)


async def serve(config: Config) -> None:
    plane = ControlPlane(config)
    await plane.start()
    print(f"controlplane listening on {config.server.host}:{plane.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await plane.stop()


def main(argv: list[str] | None = None) -> None:
    ns = parse_args(argv)
    try:
        config = config_from_args(ns)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.basicConfig(level=logging.DEBUG if config.debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("aetcd").setLevel(logging.WARNING)
    if config.telemetry.otlp_endpoint:
        try:
            setup_tracing(config.telemetry.service_name, config.telemetry.otlp_endpoint)
        except TracingSetupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    try:
        asyncio.run(serve(config))
    except Unavailable as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
