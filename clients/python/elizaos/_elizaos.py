"""ElizaOS: the seed's orchestrator API (snake_case) over the control plane.

Given a `target` it drives a running cluster. With `server_config={"enabled": True}` and no
target it starts a local one (etcd, a control plane and agent hosts as child processes, as
`elizaos up` does) and stops it again in `stop()`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import grpc

from elizaos._character import character_from_dict, load_character
from elizaos._client import ElizaOSClient, parse_status
from elizaos._cluster import LocalCluster
from elizaos._errors import ElizaOSError
from elizaos._listeners import EventHandler, Listeners
from elizaos.v1 import agent_pb2, character_pb2, event_pb2, registry_service_pb2, system_service_pb2

T = TypeVar("T")
CharacterLike = character_pb2.Character | Mapping[str, Any] | str | Path


def _character(value: CharacterLike) -> character_pb2.Character:
    if isinstance(value, character_pb2.Character):
        return value
    if isinstance(value, Mapping):
        return character_from_dict(value)
    return load_character(value)


@dataclasses.dataclass(frozen=True)
class Reply:
    """An agent's answer to `process_message`."""

    text: str
    actions: tuple[str, ...]
    message_id: str


class RemoteRuntime:
    """What `with_agent` hands to its function: one agent, reached through the control plane."""

    def __init__(self, client: ElizaOSClient, agent: agent_pb2.Agent) -> None:
        self._client = client
        self._agent = agent

    @property
    def agent_id(self) -> str:
        """The agent's id."""
        return self._agent.id

    @property
    def name(self) -> str:
        """The agent's name."""
        return self._agent.name

    async def process_message(self, text: str, *, user_id: str = "", room_id: str = "") -> Reply:
        """Send a message and return the reply (durable once returned)."""
        response = await self._client.send_message(self._agent.id, text, user_id=user_id, room_id=room_id)
        return Reply(response.text, tuple(response.actions), response.message_id)

    def get_setting(self, key: str) -> Any:
        """A character setting (secrets are write-only and never come back: None)."""
        settings = self._agent.character.settings
        return settings[key] if key in settings.fields else None

    async def get_service(self, name: str) -> registry_service_pb2.GlobalService | None:
        """A global service's registration (the instance itself lives on the agent's host)."""
        try:
            return await self._client.get_global_service(name)
        except ElizaOSError as exc:
            if exc.code == grpc.StatusCode.NOT_FOUND:
                return None
            raise

    async def memories(self, room_id: str = "") -> list[agent_pb2.Memory]:
        """The stored conversation of one room, oldest first."""
        return await self._client.list_memories(self._agent.id, room_id=room_id)


class ElizaOS:
    """The orchestrator: agents, global plugins and services, status and health of one cluster."""

    def __init__(
        self,
        *,
        target: str | None = None,
        name: str = "elizaos",
        server_config: Mapping[str, Any] | None = None,
        global_plugins: Iterable[str] = (),
        hosts: int = 2,
        data_dir: str | Path | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.name = name
        self._target = target
        self._server = dict(server_config or {})
        self._global_plugins = list(global_plugins)
        self._hosts = hosts
        self._data_dir = Path(data_dir) if data_dir else None
        self._timeout = timeout
        self._cluster: LocalCluster | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._client: ElizaOSClient | None = None
        self._listeners: Listeners | None = None

    @property
    def client(self) -> ElizaOSClient:
        """The underlying gRPC client (after initialize)."""
        if self._client is None:
            raise RuntimeError("call initialize() first")
        return self._client

    async def initialize(self) -> None:
        """Connect to `target`, or start a local cluster when server_config.enabled; register global plugins."""
        if self._client is not None:
            return
        target = self._target
        if target is None:
            if not self._server.get("enabled", False):
                raise ValueError("give a target, or server_config={'enabled': True} to start a local cluster")
            if self._data_dir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="elizaos-")
                self._data_dir = Path(self._tmp.name)
            self._cluster = LocalCluster(data_dir=self._data_dir, port=int(self._server.get("port", 50051)),
                                         hosts=self._hosts, name=self.name)
            await asyncio.to_thread(self._cluster.start)
            target = self._cluster.target
        self._client = ElizaOSClient(target, timeout=self._timeout)
        if self._cluster is not None:
            await self._await_hosts()
        for plugin in self._global_plugins:
            await self.register_global_plugin(plugin)

    async def _await_hosts(self) -> None:
        for _ in range(300):
            if len(await self.client.list_hosts()) >= min(self._hosts, 1):
                return
            await asyncio.sleep(0.1)
        raise RuntimeError("no agent host connected to the local cluster")

    async def start(self) -> None:
        """Start serving (initialize if needed)."""
        await self.initialize()

    async def stop(self) -> None:
        """Disconnect; stop the local cluster if this object started it."""
        if self._listeners is not None:
            await self._listeners.close()
            self._listeners = None
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._cluster is not None:
            await asyncio.to_thread(self._cluster.stop)
            self._cluster = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> ElizaOS:
        await self.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def reset(self) -> None:
        """Delete every agent, memory and event."""
        await self.client.reset()

    async def health_check(self) -> bool:
        """True when etcd, the leader and the hosts are all healthy."""
        return await self.client.health_check()

    # -- agents ----------------------------------------------------------------------------------

    async def create_agent(self, character: CharacterLike, *, plugins: Iterable[str] = (), auto_start: bool = True,
                           pool: str = "", wait: float = 10.0) -> str:
        """Create an agent (from a Character, a parsed character file or its path); returns its id."""
        agent = await self.client.create_agent(_character(character), plugins=plugins, auto_start=auto_start,
                                               pool=pool, wait=wait if auto_start else 0)
        return agent.id

    async def start_agent(self, agent_id: str, *, wait: float = 10.0) -> None:
        """Start an agent and wait until it settles."""
        await self.client.start_agent(agent_id, wait=wait)

    async def stop_agent(self, agent_id: str, *, wait: float = 10.0) -> None:
        """Stop an agent and wait until it is stopped."""
        await self.client.stop_agent(agent_id, wait=wait)

    async def remove_agent(self, agent_id: str) -> None:
        """Delete an agent and its memories."""
        await self.client.remove_agent(agent_id)

    async def get_agent(self, agent_id: str) -> agent_pb2.Agent | None:
        """An agent, or None if there is none with that id."""
        try:
            return await self.client.get_agent(agent_id)
        except ElizaOSError as exc:
            if exc.code == grpc.StatusCode.NOT_FOUND:
                return None
            raise

    async def get_all_agents(self) -> list[agent_pb2.Agent]:
        """Every agent."""
        return await self.client.list_agents()

    async def get_agents_by_status(self, status: str | int) -> list[agent_pb2.Agent]:
        """Agents in one status ('running', 'error', ...)."""
        return await self.client.list_agents(status=parse_status(status))

    async def with_agent(self, agent_id: str, fn: Callable[[RemoteRuntime], Awaitable[T]]) -> T:
        """Run `fn` with a runtime proxy of the agent (process_message, get_service, get_setting, memories)."""
        return await fn(RemoteRuntime(self.client, await self.client.get_agent(agent_id)))

    # -- plugins and services --------------------------------------------------------------------

    async def register_global_plugin(self, plugin: str, *, ref: str = "",
                                     config: Mapping[str, Any] | None = None) -> None:
        """Register a global plugin by installed name (or name + import ref)."""
        await self.client.register_global_plugin(plugin, ref=ref, config=config)

    async def unregister_global_plugin(self, name: str) -> None:
        """Unregister a global plugin."""
        await self.client.unregister_global_plugin(name)

    async def register_global_service(self, name: str, service: str | Mapping[str, Any], *,
                                      config: Mapping[str, Any] | None = None,
                                      dependencies: Iterable[str] = ()) -> None:
        """Register a service: an import ref "pkg.mod:attr" (class) or {"address", "protocol", "metadata"}."""
        if isinstance(service, str):
            await self.client.register_global_service(name, ref=service, config=config, dependencies=dependencies)
        else:
            await self.client.register_global_service(
                name, address=str(service["address"]), protocol=str(service.get("protocol", "grpc")),
                metadata={str(k): str(v) for k, v in dict(service.get("metadata", {})).items()})

    async def unregister_global_service(self, name: str) -> None:
        """Unregister a service; class instances stop on every host."""
        await self.client.unregister_global_service(name)

    async def get_global_service(self, name: str) -> registry_service_pb2.GlobalService | None:
        """A service's registration with its hosts and health, or None."""
        try:
            return await self.client.get_global_service(name)
        except ElizaOSError as exc:
            if exc.code == grpc.StatusCode.NOT_FOUND:
                return None
            raise

    # -- events ----------------------------------------------------------------------------------

    def on(self, event_type: str, handler: EventHandler) -> None:
        """Call `handler(event)` for each event of a type ('agent:created', 'agent:' prefix, '*' all)."""
        if self._listeners is None:
            self._listeners = Listeners(self.client)
        self._listeners.on(event_type, handler)

    def off(self, event_type: str, handler: EventHandler) -> None:
        """Stop calling a handler."""
        if self._listeners is not None:
            self._listeners.off(event_type, handler)

    async def emit(self, event_type: str, data: Mapping[str, Any] | None = None, *,
                   agent_id: str = "") -> event_pb2.Event:
        """Record a custom event; every watcher (and `on` handler) gets it."""
        return await self.client.emit_event(event_type, data, agent_id=agent_id)

    async def get_system_status(self) -> system_service_pb2.GetSystemStatusResponse:
        """Totals, hosts, memory and uptime."""
        return await self.client.get_system_status()
