"""`python -m agenthost --controlplane HOST:PORT`: run an agent host until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import uuid

from agenthost.link import HostConfig, HostLink
from agenthost.services import HostServices
from agenthost.supervisor import Supervisor
from controlplane.config import parse_size
from controlplane.telemetry import TracingSetupError, setup_tracing


def parse_args(argv: list[str] | None = None) -> HostConfig:
    parser = argparse.ArgumentParser(prog="python -m agenthost", description=__doc__)
    parser.add_argument("--controlplane", default=os.environ.get("ELIZAOS_CONTROLPLANE", "127.0.0.1:50051"),
                        help="control-plane address host:port (env ELIZAOS_CONTROLPLANE)")
    parser.add_argument("--host-id", default=os.environ.get("ELIZAOS_HOST_ID", ""),
                        help="stable host id (env ELIZAOS_HOST_ID; default <hostname>-<random>)")
    parser.add_argument("--max-agents", type=int, default=1000, help="most agents this host runs")
    parser.add_argument("--memory", default="0", help="memory offered to agents, e.g. 8GiB (default: all)")
    parser.add_argument("--cpu", type=float, default=0.0, help="CPU cores offered to agents (default: all)")
    parser.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", help="placement label")
    parser.add_argument("--plugin", action="append", default=[], metavar="NAME", help="installed plugin")
    parser.add_argument("--memory-window", type=int, default=64, help="memories kept per room")
    parser.add_argument("--metrics-port", type=int, default=-1,
                        help="Prometheus /metrics port (0: a free port; default -1: off)")
    parser.add_argument("--metrics-host", default="127.0.0.1", help="interface of the /metrics endpoint")
    parser.add_argument("--otlp-endpoint", default=os.environ.get("ELIZAOS_TELEMETRY__OTLP_ENDPOINT", ""),
                        help="OpenTelemetry collector host:port for traces (env ELIZAOS_TELEMETRY__OTLP_ENDPOINT, "
                             "as on the control plane; default: no tracing)")
    parser.add_argument("--debug", action="store_true", help="verbose logging")
    ns = parser.parse_args(argv)
    errors = []
    if ns.max_agents < 1:
        errors.append("--max-agents must be at least 1")
    try:
        memory = parse_size(ns.memory)
    except ValueError as exc:
        errors.append(f"--memory: {exc}")
        memory = 0
    if ns.cpu < 0:
        errors.append("--cpu must not be negative")
    labels = []
    for item in ns.label:
        key, sep, value = item.partition("=")
        if not sep or not key:
            errors.append(f"--label {item!r}: expected KEY=VALUE")
        labels.append((key, value))
    if ns.metrics_port < -1 or ns.metrics_port > 65535:
        errors.append("--metrics-port must be -1 (off) or 0..65535")
    if ":" not in ns.controlplane:
        errors.append(f"--controlplane {ns.controlplane!r}: expected HOST:PORT")
    if errors:
        parser.error("; ".join(errors))
    logging.basicConfig(level=logging.DEBUG if ns.debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return HostConfig(
        controlplane=ns.controlplane,
        host_id=ns.host_id or f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}",
        max_agents=ns.max_agents,
        memory_bytes=memory,
        cpu=ns.cpu,
        labels=tuple(labels),
        plugins=tuple(ns.plugin),
        join_token=os.environ.get("ELIZAOS_JOIN_TOKEN", ""),
        memory_window=ns.memory_window,
        metrics_port=ns.metrics_port,
        metrics_host=ns.metrics_host,
        otlp_endpoint=ns.otlp_endpoint,
    )


async def serve(config: HostConfig) -> None:
    services = HostServices()
    link = HostLink(config, Supervisor(memory_window=config.memory_window, services=services.get), services)
    print(f"agenthost {config.host_id} dialling {config.controlplane}", flush=True)
    if config.metrics_port >= 0:
        port = link.metrics.serve(config.metrics_host, config.metrics_port)
        print(f"agenthost {config.host_id} metrics on {config.metrics_host}:{port}", flush=True)
    runner = asyncio.create_task(link.run())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await asyncio.wait([runner, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    await link.shutdown()
    await services.stop_all()
    link.metrics.close()
    runner.cancel()
    try:
        await runner
    except asyncio.CancelledError:
        pass


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    if config.otlp_endpoint:
        try:
            setup_tracing("elizaos-agenthost", config.otlp_endpoint)
        except TracingSetupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    asyncio.run(serve(config))
    sys.exit(0)


if __name__ == "__main__":
    main()
