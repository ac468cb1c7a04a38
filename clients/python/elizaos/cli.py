"""The `elizaos` command: run a local cluster and drive any cluster.

    elizaos up [--port P] [--hosts N] [--data-dir DIR] [--config FILE] [--character FILE]...
    elizaos agents create --character FILE [--plugin NAME]... [--no-start]
    elizaos agents list [--status S] | agents get|start|stop|rm AGENT
    elizaos chat AGENT [--message TEXT]
    elizaos status | hosts

`--target` (or ELIZAOS_TARGET) says which control plane to talk to; `--json` prints JSON for
scripts. AGENT is an id or a unique agent name.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from controlplane.config import ConfigError, load_config
from elizaos._character import CharacterError, load_character
from elizaos._client import DEFAULT_TARGET, ElizaOSClient, parse_status
from elizaos._cluster import ClusterError, LocalCluster
from elizaos._errors import ElizaOSError
from elizaos.v1 import agent_pb2, registry_service_pb2


class CLIError(Exception):
    """A user-facing error: printed without a traceback, exit code 1."""


def _dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _status(value: int) -> str:
    return agent_pb2.AgentStatus.Name(value).removeprefix("AGENT_STATUS_").lower()  # type: ignore[arg-type]


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """A plain text table."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=False)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in rows]
    return "\n".join(lines)


def _agent_rows(agents: Sequence[agent_pb2.Agent]) -> list[list[str]]:
    return [[a.id, a.name, _status(a.status), a.host_id or "-", a.pool or "-", a.error or ""] for a in agents]


def print_agents(agents: Sequence[agent_pb2.Agent], as_json: bool) -> None:
    if as_json:
        print(json.dumps([_dict(a) for a in agents], indent=2))
    else:
        print(table(_agent_rows(agents), ["id", "name", "status", "host", "pool", "error"]))


def print_agent(agent: agent_pb2.Agent, as_json: bool) -> None:
    if as_json:
        print(json.dumps(_dict(agent), indent=2))
        return
    rows = [
        ("id", agent.id), ("name", agent.name), ("status", _status(agent.status)),
        ("desired", agent_pb2.DesiredState.Name(agent.desired_state).removeprefix("DESIRED_STATE_").lower()),
        ("host", agent.host_id or "-"), ("pool", agent.pool or "-"), ("plugins", ", ".join(agent.plugins) or "-"),
        ("epoch", str(agent.epoch)), ("revision", str(agent.revision)),
        ("created", agent.create_time.ToJsonString() if agent.HasField("create_time") else "-"),
    ]
    if agent.error:
        rows.append(("error", agent.error))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")


async def resolve(client: ElizaOSClient, ref: str) -> str:
    """An agent id from an id or a unique name."""
    try:
        return str(uuid.UUID(ref))
    except ValueError:
        pass
    agents = await client.list_agents()
    matches = [a for a in agents if a.name == ref] or [a for a in agents if a.name.lower() == ref.lower()]
    if not matches:
        raise CLIError(f"no agent named {ref!r}; `elizaos agents list` shows them")
    if len(matches) > 1:
        ids = ", ".join(a.id for a in matches)
        raise CLIError(f"{len(matches)} agents are named {ref!r} ({ids}); use an id")
    return matches[0].id


# -- commands ------------------------------------------------------------------------------------


async def cmd_agents(ns: argparse.Namespace, client: ElizaOSClient) -> None:
    if ns.action == "create":
        try:
            character = load_character(ns.character)
        except CharacterError as exc:
            raise CLIError(str(exc)) from None
        agent = await client.create_agent(character, plugins=ns.plugin, auto_start=not ns.no_start,
                                          wait=0 if ns.no_start else ns.wait)
        print_agent(agent, ns.json)
    elif ns.action == "list":
        print_agents(await client.list_agents(status=ns.status or 0), ns.json)
    else:
        agent_id = await resolve(client, ns.agent)
        if ns.action == "get":
            print_agent(await client.get_agent(agent_id), ns.json)
        elif ns.action == "start":
            print_agent(await client.start_agent(agent_id, wait=ns.wait), ns.json)
        elif ns.action == "stop":
            print_agent(await client.stop_agent(agent_id, wait=ns.wait), ns.json)
        elif ns.action == "rm":
            await client.remove_agent(agent_id)
            print(json.dumps({"deleted": agent_id}) if ns.json else f"deleted {agent_id}")


async def _say(client: ElizaOSClient, ns: argparse.Namespace, agent_id: str, name: str, text: str) -> None:
    reply = await client.send_message(agent_id, text, user_id=ns.user, room_id=ns.room)
    if ns.json:
        print(json.dumps(_dict(reply)))
    else:
        actions = f"  [actions: {', '.join(reply.actions)}]" if reply.actions else ""
        print(f"{name}: {reply.text}{actions}", flush=True)


async def cmd_chat(ns: argparse.Namespace, client: ElizaOSClient) -> None:
    agent_id = await resolve(client, ns.agent)
    name = (await client.get_agent(agent_id)).name
    if ns.message is not None:
        await _say(client, ns, agent_id, name, ns.message)
        return
    if not ns.json:
        print(f"Talking to {name} ({agent_id}). Ctrl-D or /quit to leave.", flush=True)
    loop = asyncio.get_running_loop()
    while True:
        if sys.stdin.isatty():
            print("you> ", end="", flush=True)
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip() in ("/quit", "/exit"):
            return
        if line.strip():
            try:
                await _say(client, ns, agent_id, name, line.rstrip("\n"))
            except ElizaOSError as exc:
                print(f"error: {exc}", file=sys.stderr, flush=True)


async def cmd_plugins(ns: argparse.Namespace, client: ElizaOSClient) -> None:
    if ns.action == "list":
        plugins = await client.list_plugins()
        if ns.json:
            print(json.dumps([_dict(p) for p in plugins], indent=2))
        else:
            print(table([[p.name, "global" if p.is_global else "installed", p.ref, str(p.agent_count),
                          ",".join(p.hosts) or "-"] for p in plugins], ["name", "kind", "ref", "agents", "hosts"]))
    elif ns.action == "register":
        plugin = await client.register_global_plugin(ns.name, ref=ns.ref or "",
                                                      config=_json_object("--config", ns.config))
        print(json.dumps(_dict(plugin), indent=2) if ns.json else f"registered global plugin {plugin.name} "
              f"({plugin.ref}); {plugin.agent_count} agents use it")
    elif ns.action == "unregister":
        await client.unregister_global_plugin(ns.name)
        print(json.dumps({"unregistered": ns.name}) if ns.json else f"unregistered global plugin {ns.name}")


def _json_object(flag: str, text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError as exc:
        raise CLIError(f"{flag} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise CLIError(f"{flag} must be a JSON object")
    return value


async def cmd_services(ns: argparse.Namespace, client: ElizaOSClient) -> None:
    if ns.action == "list":
        services = await client.list_global_services()
        if ns.json:
            print(json.dumps([_dict(s) for s in services], indent=2))
            return
        rows = []
        for s in services:
            kind = registry_service_pb2.ServiceKind.Name(s.kind).removeprefix("SERVICE_KIND_").lower()
            where = s.ref if s.ref else f"{s.protocol}://{s.address}"
            health = registry_service_pb2.ServiceHealth.Name(s.health).removeprefix("SERVICE_HEALTH_").lower()
            rows.append([s.name, kind, where, health, ",".join(s.hosts) or "-", s.health_reason])
        print(table(rows, ["name", "kind", "where", "health", "hosts", "reason"]))
    elif ns.action == "register":
        if bool(ns.ref) == bool(ns.address):
            raise CLIError("give either --ref (a class service) or --address (an endpoint)")
        service = await client.register_global_service(
            ns.name, ref=ns.ref or "", config=_json_object("--config", ns.config), dependencies=ns.depends_on,
            address=ns.address or "", protocol=ns.protocol if ns.address else "",
            metadata={str(k): str(v) for k, v in _json_object("--metadata", ns.metadata).items()})
        print(json.dumps(_dict(service), indent=2) if ns.json else f"registered global service {service.name}")
    elif ns.action == "unregister":
        await client.unregister_global_service(ns.name)
        print(json.dumps({"unregistered": ns.name}) if ns.json else f"unregistered global service {ns.name}")


async def cmd_events(ns: argparse.Namespace, client: ElizaOSClient) -> None:
    if ns.action == "emit":
        event = await client.emit_event(ns.type, _json_object("--data", ns.data))
        print(json.dumps(_dict(event)) if ns.json else f"emitted {event.type} at revision {event.revision}")
        return
    agent_id = await resolve(client, ns.agent) if ns.agent else ""
    async for event in client.watch_events(types=ns.type, agent_id=agent_id, since_revision=ns.since):
        if ns.json:
            print(json.dumps(_dict(event)), flush=True)
        else:
            data = json.dumps(json_format.MessageToDict(event.data), separators=(",", ":")) if event.data.fields else ""
            print(f"{event.revision:>8}  {event.timestamp.ToJsonString()}  {event.type:<22} "
                  f"{event.agent_id or '-':<36}  {data}", flush=True)


async def cmd_status(ns: argparse.Namespace, client: ElizaOSClient) -> None:
    if ns.watch and not ns.json:
        while True:
            print("\033[2J\033[H", end="")
            await _print_status(ns, client)
            await asyncio.sleep(ns.interval)
    await _print_status(ns, client)


async def _print_status(ns: argparse.Namespace, client: ElizaOSClient) -> None:
    status = await client.get_system_status()
    health = await client.check_health()
    if ns.json:
        print(json.dumps({"status": _dict(status), "health": _dict(health)}, indent=2))
        return
    uptime = status.uptime.ToTimedelta()
    print(f"cluster {status.name}  version {status.version}  replica {status.controlplane_id}"
          f"{' (leader)' if status.leader else ''}  uptime {str(uptime).split('.')[0]}")
    print(f"agents {status.total_agents}/{status.max_agents}  running {status.active_agents}  "
          f"control-plane memory {status.memory_usage_bytes / 1024**2:.1f} MiB")
    by_status = ", ".join(f"{k.removeprefix('AGENT_STATUS_').lower()}={v}"
                          for k, v in sorted(status.agents_by_status.items()))
    if by_status:
        print(f"by status: {by_status}")
    print(f"load {status.load:.0%}{' (OVERLOADED)' if status.overloaded else ''}  etcd "
          f"{'ok' if status.etcd_healthy else 'UNREACHABLE'}, db {status.etcd_db_size_bytes / 1024**2:.1f} MiB  "
          f"event revision {status.event_revision}")
    if status.plugins or status.services:
        print(f"plugins: {', '.join(status.plugins) or '-'}  services: {', '.join(status.services) or '-'}")
    print(f"health: {'healthy' if health.healthy else 'UNHEALTHY'}")
    for check in health.checks:
        print(f"  {'ok  ' if check.healthy else 'FAIL'} {check.name}: {check.reason}")
    if status.hosts:
        print(table([[h.id, f"{h.agents}/{h.capacity.max_agents}", f"{h.load.cpu_percent:.0f}%",
                      f"{h.load.rss_bytes / 1024**2:.0f} MiB", h.last_heartbeat_time.ToJsonString()]
                     for h in status.hosts], ["host", "agents", "cpu", "rss", "last heartbeat"]))


async def cmd_hosts(ns: argparse.Namespace, client: ElizaOSClient) -> None:
    hosts = await client.list_hosts()
    if ns.json:
        print(json.dumps([_dict(h) for h in hosts], indent=2))
        return
    print(table([[h.id, f"{h.agents}/{h.capacity.max_agents}", f"{h.capacity.cpu:g}",
                  f"{h.capacity.memory_bytes / 1024**3:.1f} GiB", ",".join(h.plugins) or "-", h.peer]
                 for h in hosts], ["host", "agents", "cpu", "memory", "plugins", "peer"]))


async def _await_hosts(client: ElizaOSClient, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with_hosts = await client.list_hosts()
        if len(with_hosts) >= count:
            return
        await asyncio.sleep(0.1)
    raise CLIError(f"only {len(with_hosts)} of {count} agent hosts connected within {timeout:.0f}s")


async def _up_agents(cluster: LocalCluster, ns: argparse.Namespace) -> None:
    async with ElizaOSClient(cluster.target) as client:
        await _await_hosts(client, min(ns.hosts, 1), 30)
        for path in ns.character:
            try:
                character = load_character(path)
            except CharacterError as exc:
                raise CLIError(str(exc)) from None
            # A stable request id makes this idempotent: a second `up` finds the same agent.
            agent = await client.create_agent(character, request_id=f"up-{Path(path).stem}"[:128], wait=15)
            print(f"agent    {agent.name} ({agent.id}) is {_status(agent.status)}"
                  f"{' on ' + agent.host_id if agent.host_id else ''}", flush=True)


def cmd_up(ns: argparse.Namespace) -> int:
    data_dir = Path(ns.data_dir).expanduser().resolve()
    if ns.hosts is None:
        try:
            ns.hosts = load_config(ns.config).cluster.workers if ns.config else 2
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if ns.hosts < 0:
        print("error: --hosts must not be negative", file=sys.stderr)
        return 2
    cluster = LocalCluster(data_dir=data_dir, port=ns.port, hosts=ns.hosts, name=ns.name, config_file=ns.config)
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    # SIGHUP too: closing the terminal must not orphan the children (they run in their own sessions).
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        cluster.start()
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"etcd         127.0.0.1:{cluster.etcd_port}  (data in {data_dir / 'etcd'})")
        print(f"controlplane {cluster.target}  (grpcurl -plaintext {cluster.target} list)")
        print(f"agent hosts  {', '.join(f'host-{i}' for i in range(1, ns.hosts + 1))}")
        metrics = ", ".join(f"{name} :{port}" for name, port in cluster.metrics_ports.items())
        print(f"metrics      {metrics}  (Prometheus text at http://127.0.0.1:PORT/metrics)")
        print(f"logs         {data_dir / 'logs'}", flush=True)
        try:
            asyncio.run(_up_agents(cluster, ns))
        except (CLIError, ElizaOSError) as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
        target = "" if ns.port == 50051 else f" --target {cluster.target}"
        print(f"ready. try: elizaos{target} agents list | elizaos{target} chat Eliza. Ctrl-C stops everything.",
              flush=True)
        reported: set[str] = set()
        while not stop:
            time.sleep(0.2)
            for name in cluster.check():
                if name not in reported:
                    reported.add(name)
                    print(f"warning: {name} exited; see {data_dir / 'logs' / (name + '.log')}", file=sys.stderr,
                          flush=True)
                    if name in ("etcd", "controlplane"):
                        stop = True
        return 0 if not {"etcd", "controlplane"} & reported else 1
    finally:
        print("stopping...", flush=True)
        cluster.stop()
        print("stopped.", flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="elizaos", description="ElizaOS control plane CLI.")
    parser.add_argument("--target", default=os.environ.get("ELIZAOS_TARGET", DEFAULT_TARGET),
                        help="control plane host:port (env ELIZAOS_TARGET; default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--timeout", type=float, default=30.0, help="deadline per call in seconds")
    # The same options after a subcommand (`elizaos agents list --json`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--target", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", parents=[common], help="run etcd, a control plane and agent hosts on this machine")
    up.add_argument("--port", type=int, default=50051, help="control-plane port (default %(default)s)")
    up.add_argument("--hosts", type=int, default=None,
                    help="agent hosts to start (default: cluster.workers of --config, else 2)")
    up.add_argument("--data-dir", default=os.environ.get("ELIZAOS_DATA_DIR", "~/.elizaos"),
                    help="where etcd data and logs live (env ELIZAOS_DATA_DIR; default %(default)s)")
    up.add_argument("--config", help="control-plane YAML config file")
    up.add_argument("--name", default="elizaos", help="cluster name (default %(default)s)")
    up.add_argument("--character", action="append", default=[], metavar="FILE",
                    help="create and run this character (once: a restart finds it again)")

    agents = sub.add_parser("agents", parents=[common], help="manage agents")
    actions = agents.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", parents=[common], help="create an agent from a character file")
    create.add_argument("--character", required=True, metavar="FILE", help="ElizaOS character JSON file")
    create.add_argument("--plugin", action="append", default=[], metavar="NAME", help="plugin to use")
    create.add_argument("--no-start", action="store_true", help="create without starting")
    create.add_argument("--wait", type=float, default=10.0, help="seconds to wait for RUNNING")
    listing = actions.add_parser("list", parents=[common], help="list agents")
    listing.add_argument("--status", help="only agents in this status (running, pending, stopped, ...)")
    for action in ("get", "start", "stop", "rm"):
        one = actions.add_parser(action, parents=[common], help=f"{action} an agent")
        one.add_argument("agent", help="agent id or unique name")
        if action in ("start", "stop"):
            one.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the change")

    chat = sub.add_parser("chat", parents=[common], help="talk to an agent")
    chat.add_argument("agent", help="agent id or unique name")
    chat.add_argument("--message", "-m", help="send one message and print the reply")
    chat.add_argument("--room", default="", help="conversation room (default: default)")
    chat.add_argument("--user", default="", help="your user id (default: user)")

    plugins = sub.add_parser("plugins", parents=[common], help="global plugins")
    plugin_actions = plugins.add_subparsers(dest="action", required=True)
    plugin_actions.add_parser("list", parents=[common], help="global and installed plugins")
    register = plugin_actions.add_parser("register", parents=[common], help="register a global plugin")
    register.add_argument("name", help="plugin name")
    register.add_argument("--ref", help="installed plugin name or package.module:attr (default: name)")
    register.add_argument("--config", help="plugin config as a JSON object")
    unregister = plugin_actions.add_parser("unregister", parents=[common], help="unregister a global plugin")
    unregister.add_argument("name", help="plugin name")

    services = sub.add_parser("services", parents=[common], help="global services")
    service_actions = services.add_subparsers(dest="action", required=True)
    service_actions.add_parser("list", parents=[common], help="global services with hosts and health")
    sregister = service_actions.add_parser("register", parents=[common], help="register a global service")
    sregister.add_argument("name", help="service name")
    sregister.add_argument("--ref", help="class service: package.module:attr (one instance per host)")
    sregister.add_argument("--config", help="class service config as a JSON object")
    sregister.add_argument("--depends-on", action="append", default=[], metavar="NAME",
                           help="class service started first")
    sregister.add_argument("--address", help="endpoint service: host:port or URL")
    sregister.add_argument("--protocol", default="grpc", help="endpoint protocol (default grpc: health-probed)")
    sregister.add_argument("--metadata", help="endpoint metadata as a JSON object")
    sunregister = service_actions.add_parser("unregister", parents=[common], help="unregister a global service")
    sunregister.add_argument("name", help="service name")

    events = sub.add_parser("events", parents=[common], help="watch or emit events")
    event_actions = events.add_subparsers(dest="action", required=True)
    watch = event_actions.add_parser("watch", parents=[common], help="print events as they happen")
    watch.add_argument("--type", action="append", default=[], metavar="T",
                       help="event type to show (repeatable; 'agent:' is a prefix)")
    watch.add_argument("--agent", help="only events about this agent (id or name)")
    watch.add_argument("--since", type=int, default=0, metavar="REV",
                       help="first replay retained events after this revision")
    emit = event_actions.add_parser("emit", parents=[common], help="record a custom event")
    emit.add_argument("type", help="custom event type")
    emit.add_argument("--data", help="event data as a JSON object")

    status = sub.add_parser("status", parents=[common], help="cluster status and health")
    status.add_argument("--watch", action="store_true", help="refresh every --interval seconds until Ctrl-C")
    status.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes")
    sub.add_parser("hosts", parents=[common], help="list agent hosts")
    return parser


async def _run(ns: argparse.Namespace) -> None:
    if ns.command == "agents" and ns.action == "list" and ns.status:
        try:
            parse_status(ns.status)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    async with ElizaOSClient(ns.target, timeout=ns.timeout) as client:
        handler = {"agents": cmd_agents, "chat": cmd_chat, "status": cmd_status, "hosts": cmd_hosts,
                   "plugins": cmd_plugins, "services": cmd_services, "events": cmd_events}[ns.command]
        await handler(ns, client)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `elizaos` console script."""
    ns = build_parser().parse_args(argv)
    if ns.command == "up":
        raise SystemExit(cmd_up(ns))
    try:
        asyncio.run(_run(ns))
    except CLIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except ElizaOSError as exc:
        print(f"error: {exc.code.name}: {exc.message}", file=sys.stderr)
        for violation in exc.field_violations:
            print(f"  {violation.field}: {violation.description}", file=sys.stderr)
        if exc.code == grpc.StatusCode.UNAVAILABLE and "connect" in exc.message.lower():
            print(f"  is a control plane running at {ns.target}? start one with `elizaos up`", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
