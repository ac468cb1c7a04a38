"""ElizaOSClient: the async Python client of the control plane's public API."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import grpc
from google.protobuf import duration_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from elizaos._errors import ElizaOSError
from elizaos._tracing import client_interceptors
from elizaos.v1 import (
    agent_pb2,
    agent_service_pb2,
    agent_service_pb2_grpc,
    character_pb2,
    event_pb2,
    event_service_pb2,
    event_service_pb2_grpc,
    plugin_service_pb2,
    plugin_service_pb2_grpc,
    registry_service_pb2,
    registry_service_pb2_grpc,
    system_service_pb2,
    system_service_pb2_grpc,
)

DEFAULT_TARGET = "127.0.0.1:50051"
T = TypeVar("T")

AgentStatus = agent_pb2.AgentStatus
Agent = agent_pb2.Agent
Character = character_pb2.Character


def _duration(seconds: float) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromNanoseconds(int(seconds * 1e9))
    return out


def parse_status(value: str | int) -> int:
    """`running`, `RUNNING`, `AGENT_STATUS_RUNNING` or the number -> the AgentStatus value."""
    if isinstance(value, int):
        return value
    name = value.strip().upper()
    if not name.startswith("AGENT_STATUS_"):
        name = "AGENT_STATUS_" + name
    try:
        return int(agent_pb2.AgentStatus.Value(name))
    except ValueError:
        choices = ", ".join(n.removeprefix("AGENT_STATUS_").lower() for n in agent_pb2.AgentStatus.keys()[1:])
        raise ValueError(f"unknown status {value!r}; one of: {choices}") from None


class ElizaOSClient:
    """Talks to a control plane at `target` (host:port).

    Every call has a deadline (`timeout` seconds unless given). Calls that are safe to repeat
    are retried on UNAVAILABLE with backoff (creates are made safe by a request id). Errors
    are raised as `ElizaOSError` with the decoded google.rpc details.
    """

    def __init__(self, target: str = DEFAULT_TARGET, *, timeout: float = 30.0, retries: int = 3,
                 channel: grpc.aio.Channel | None = None) -> None:
        self.target = target
        self.timeout = timeout
        self.retries = retries
        self._channel = channel or grpc.aio.insecure_channel(target, interceptors=client_interceptors())
        self._agents = agent_service_pb2_grpc.AgentServiceStub(self._channel)
        self._system = system_service_pb2_grpc.SystemServiceStub(self._channel)
        self._plugins = plugin_service_pb2_grpc.PluginServiceStub(self._channel)
        self._registry = registry_service_pb2_grpc.RegistryServiceStub(self._channel)
        self._events = event_service_pb2_grpc.EventServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    async def __aenter__(self) -> ElizaOSClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close()

    async def _call(self, method: Callable[..., Awaitable[T]], request: Any, *, timeout: float | None = None,
                    retry: bool = True) -> T:
        attempts = self.retries + 1 if retry else 1
        delay = 0.1
        for attempt in range(attempts):
            try:
                return await method(request, timeout=timeout or self.timeout)
            except grpc.aio.AioRpcError as exc:
                error = ElizaOSError.from_rpc_error(exc)
                if error.code != grpc.StatusCode.UNAVAILABLE or attempt == attempts - 1:
                    raise error from None
                await asyncio.sleep(error.retry_delay if error.retry_delay is not None else delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- agents --------------------------------------------------------------------------------

    async def create_agent(
        self,
        character: character_pb2.Character,
        *,
        plugins: Iterable[str] = (),
        auto_start: bool = True,
        pool: str = "",
        memory_bytes: int = 0,
        cpu: float = 0.0,
        request_id: str | None = None,
        wait: float = 0.0,
    ) -> agent_pb2.Agent:
        """Create an agent; with `wait`, return once it is RUNNING (or ERROR / PENDING with a reason)."""
        request = agent_service_pb2.CreateAgentRequest(
            character=character, plugins=list(plugins), auto_start=auto_start, pool=pool,
            resources=agent_pb2.Resources(memory_bytes=memory_bytes, cpu=cpu),
            request_id=request_id or str(uuid.uuid4()))
        if wait:
            request.wait_timeout.CopyFrom(_duration(wait))
        response: agent_service_pb2.CreateAgentResponse = await self._call(
            self._agents.CreateAgent, request, timeout=self.timeout + wait)
        return response.agent

    async def get_agent(self, agent_id: str) -> agent_pb2.Agent:
        """One agent by id."""
        response: agent_service_pb2.GetAgentResponse = await self._call(
            self._agents.GetAgent, agent_service_pb2.GetAgentRequest(agent_id=agent_id))
        return response.agent

    async def iter_agents(self, *, status: str | int = 0, pool: str = "", host_id: str = "",
                          page_size: int = 100) -> AsyncIterator[agent_pb2.Agent]:
        """Every agent matching the filters, page by page."""
        token = ""
        while True:
            wanted = agent_pb2.AgentStatus.ValueType(parse_status(status) if status else 0)
            response: agent_service_pb2.ListAgentsResponse = await self._call(
                self._agents.ListAgents, agent_service_pb2.ListAgentsRequest(
                    page_size=page_size, page_token=token, status=wanted, pool=pool, host_id=host_id))
            for agent in response.agents:
                yield agent
            token = response.next_page_token
            if not token:
                return

    async def list_agents(self, *, status: str | int = 0, pool: str = "", host_id: str = "") -> list[agent_pb2.Agent]:
        """Every agent matching the filters."""
        return [a async for a in self.iter_agents(status=status, pool=pool, host_id=host_id)]

    async def start_agent(self, agent_id: str, *, wait: float = 0.0) -> agent_pb2.Agent:
        """Ask an agent to run; with `wait`, return once it settles."""
        request = agent_service_pb2.StartAgentRequest(agent_id=agent_id)
        if wait:
            request.wait_timeout.CopyFrom(_duration(wait))
        response: agent_service_pb2.StartAgentResponse = await self._call(
            self._agents.StartAgent, request, timeout=self.timeout + wait)
        return response.agent

    async def stop_agent(self, agent_id: str, *, wait: float = 0.0) -> agent_pb2.Agent:
        """Ask an agent to stop; with `wait`, return once it is STOPPED."""
        request = agent_service_pb2.StopAgentRequest(agent_id=agent_id)
        if wait:
            request.wait_timeout.CopyFrom(_duration(wait))
        response: agent_service_pb2.StopAgentResponse = await self._call(
            self._agents.StopAgent, request, timeout=self.timeout + wait)
        return response.agent

    async def remove_agent(self, agent_id: str) -> None:
        """Delete an agent and its memories."""
        await self._call(self._agents.DeleteAgent, agent_service_pb2.DeleteAgentRequest(agent_id=agent_id))

    async def send_message(self, agent_id: str, text: str, *, user_id: str = "", room_id: str = "",
                           timeout: float | None = None) -> agent_service_pb2.SendMessageResponse:
        """Send a message and get the agent's reply (stored durably before it returns).

        Not retried automatically: a retry could deliver the message twice.
        """
        request = agent_service_pb2.SendMessageRequest(agent_id=agent_id, text=text, user_id=user_id,
                                                       room_id=room_id)
        return await self._call(self._agents.SendMessage, request, timeout=timeout, retry=False)

    async def list_memories(self, agent_id: str, *, room_id: str = "") -> list[agent_pb2.Memory]:
        """The stored conversation of one room, oldest first."""
        out: list[agent_pb2.Memory] = []
        token = ""
        while True:
            response = await self._call(self._agents.ListMemories, agent_service_pb2.ListMemoriesRequest(
                agent_id=agent_id, room_id=room_id, page_size=1000, page_token=token))
            out.extend(response.memories)
            token = response.next_page_token
            if not token:
                return out

    # -- plugins -------------------------------------------------------------------------------

    async def register_global_plugin(self, name: str, *, ref: str = "",
                                     config: Mapping[str, Any] | None = None) -> plugin_service_pb2.Plugin:
        """Register a global plugin: every host loads it and every agent uses it."""
        request = plugin_service_pb2.RegisterGlobalPluginRequest(name=name, ref=ref)
        if config:
            request.config.update(dict(config))
        response: plugin_service_pb2.RegisterGlobalPluginResponse = await self._call(
            self._plugins.RegisterGlobalPlugin, request)
        return response.plugin

    async def unregister_global_plugin(self, name: str) -> None:
        """Unregister a global plugin; running agents stop using it."""
        await self._call(self._plugins.UnregisterGlobalPlugin,
                         plugin_service_pb2.UnregisterGlobalPluginRequest(name=name))

    async def get_plugin(self, name: str) -> plugin_service_pb2.Plugin:
        """A global or installed plugin."""
        response: plugin_service_pb2.GetPluginResponse = await self._call(
            self._plugins.GetPlugin, plugin_service_pb2.GetPluginRequest(name=name))
        return response.plugin

    async def list_plugins(self) -> list[plugin_service_pb2.Plugin]:
        """Global plugins and plugins installed on hosts."""
        out: list[plugin_service_pb2.Plugin] = []
        token = ""
        while True:
            response: plugin_service_pb2.ListPluginsResponse = await self._call(
                self._plugins.ListPlugins, plugin_service_pb2.ListPluginsRequest(page_size=1000, page_token=token))
            out.extend(response.plugins)
            token = response.next_page_token
            if not token:
                return out

    # -- events ----------------------------------------------------------------------------------

    async def watch_events(self, *, types: Iterable[str] = (), agent_id: str = "",
                           since_revision: int = 0) -> AsyncIterator[event_pb2.Event]:
        """Events as they are recorded (after `since_revision` first, if given); no deadline.

        Raises ElizaOSError when the stream ends: FAILED_PRECONDITION/EVENTS_COMPACTED means the
        history is gone (resync), UNAVAILABLE means reconnect and resume from the last revision.
        """
        call = self._events.WatchEvents(event_service_pb2.WatchEventsRequest(
            types=list(types), agent_id=agent_id, since_revision=since_revision))
        try:
            async for response in call:
                yield response.event
        except grpc.aio.AioRpcError as exc:
            raise ElizaOSError.from_rpc_error(exc) from None
        finally:
            call.cancel()

    async def emit_event(self, event_type: str, data: Mapping[str, Any] | None = None, *,
                         agent_id: str = "") -> event_pb2.Event:
        """Record a custom event; returns it with its revision."""
        request = event_service_pb2.EmitEventRequest(type=event_type, agent_id=agent_id)
        if data:
            request.data.update(dict(data))
        response: event_service_pb2.EmitEventResponse = await self._call(self._events.EmitEvent, request,
                                                                         retry=False)
        return response.event

    # -- global services ---------------------------------------------------------------------

    async def register_global_service(
        self,
        name: str,
        *,
        ref: str = "",
        config: Mapping[str, Any] | None = None,
        dependencies: Iterable[str] = (),
        address: str = "",
        protocol: str = "",
        metadata: Mapping[str, str] | None = None,
    ) -> registry_service_pb2.GlobalService:
        """Register a class service (`ref`: one instance per host) or an endpoint (`address` + `protocol`)."""
        kind = registry_service_pb2.SERVICE_KIND_ENDPOINT if address else registry_service_pb2.SERVICE_KIND_CLASS
        service = registry_service_pb2.GlobalService(
            name=name, kind=kind, ref=ref, dependencies=list(dependencies), address=address, protocol=protocol,
            metadata=dict(metadata or {}))
        if config:
            service.config.update(dict(config))
        response: registry_service_pb2.RegisterGlobalServiceResponse = await self._call(
            self._registry.RegisterGlobalService, registry_service_pb2.RegisterGlobalServiceRequest(service=service))
        return response.service

    async def unregister_global_service(self, name: str) -> None:
        """Unregister a global service; hosts stop their instances."""
        await self._call(self._registry.UnregisterGlobalService,
                         registry_service_pb2.UnregisterGlobalServiceRequest(name=name))

    async def get_global_service(self, name: str) -> registry_service_pb2.GlobalService:
        """One global service with its hosts and health."""
        response: registry_service_pb2.GetGlobalServiceResponse = await self._call(
            self._registry.GetGlobalService, registry_service_pb2.GetGlobalServiceRequest(name=name))
        return response.service

    async def list_global_services(self) -> list[registry_service_pb2.GlobalService]:
        """Every global service."""
        out: list[registry_service_pb2.GlobalService] = []
        token = ""
        while True:
            response: registry_service_pb2.ListGlobalServicesResponse = await self._call(
                self._registry.ListGlobalServices,
                registry_service_pb2.ListGlobalServicesRequest(page_size=1000, page_token=token))
            out.extend(response.services)
            token = response.next_page_token
            if not token:
                return out

    # -- system --------------------------------------------------------------------------------

    async def get_system_status(self) -> system_service_pb2.GetSystemStatusResponse:
        """Totals, hosts and this replica's state."""
        return await self._call(self._system.GetSystemStatus, system_service_pb2.GetSystemStatusRequest())

    async def check_health(self) -> system_service_pb2.CheckHealthResponse:
        """Health with a reason per check."""
        return await self._call(self._system.CheckHealth, system_service_pb2.CheckHealthRequest())

    async def health_check(self) -> bool:
        """True when every health check passes (the seed's healthCheck())."""
        return (await self.check_health()).healthy

    async def list_hosts(self) -> list[system_service_pb2.Host]:
        """Every connected agent host."""
        out: list[system_service_pb2.Host] = []
        token = ""
        while True:
            response = await self._call(self._system.ListHosts,
                                        system_service_pb2.ListHostsRequest(page_size=1000, page_token=token))
            out.extend(response.hosts)
            token = response.next_page_token
            if not token:
                return out

    async def reset(self) -> int:
        """Delete every agent, memory and event; returns how many agents were deleted."""
        response: system_service_pb2.ResetResponse = await self._call(
            self._system.Reset, system_service_pb2.ResetRequest(confirm=True), retry=False)
        return response.deleted_agents

    async def serving(self, service: str = "") -> bool:
        """grpc.health.v1 status of a service ('' for the server)."""
        response: health_pb2.HealthCheckResponse = await self._call(
            self._health.Check, health_pb2.HealthCheckRequest(service=service))
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)
