"""Agent operations behind AgentService: create, read, list, start, stop, delete, message.

Writes go to etcd; the reconciler turns desired state into placements. Waiting for an agent
to settle uses the watch-fed view, so it works on every replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from google.protobuf import timestamp_pb2

from controlplane import telemetry
from controlplane.config import Config
from controlplane.errors import DeadlineExceeded, FailedPrecondition, ResourceExhausted, Unavailable
from controlplane.hostlink import Sessions
from controlplane.metrics import ControlPlaneMetrics
from controlplane.store.agents import AgentStore, decode_page_token
from controlplane.store.events import EventLog
from controlplane.store.memories import MemoryStore
from controlplane.view import ClusterView
from elizaos.host.v1 import host_link_pb2 as pb
from elizaos.v1 import agent_pb2, character_pb2

S = agent_pb2
SETTLED = frozenset({S.AGENT_STATUS_RUNNING, S.AGENT_STATUS_ERROR, S.AGENT_STATUS_STOPPED, S.AGENT_STATUS_CREATED})
# How long SendMessage waits for an agent that is being (re)placed before answering UNAVAILABLE.
PLACEMENT_WAIT = 10.0


def public(agent: agent_pb2.Agent) -> agent_pb2.Agent:
    """The agent as callers see it: secrets removed."""
    out = agent_pb2.Agent()
    out.CopyFrom(agent)
    out.character.ClearField("secrets")
    return out


def status_name(status: int) -> str:
    """`RUNNING` for AGENT_STATUS_RUNNING."""
    return agent_pb2.AgentStatus.Name(status).removeprefix("AGENT_STATUS_")  # type: ignore[arg-type]


def _settled(agent: agent_pb2.Agent | None) -> bool:
    if agent is None or agent.status in SETTLED:
        return True
    # A pending agent with a reason has been looked at and fits nowhere right now.
    return agent.status == S.AGENT_STATUS_PENDING and bool(agent.error)


def _stopped(agent: agent_pb2.Agent | None) -> bool:
    return agent is None or agent.status in (S.AGENT_STATUS_STOPPED, S.AGENT_STATUS_CREATED, S.AGENT_STATUS_ERROR)


class Agents:
    """The domain side of AgentService."""

    def __init__(
        self,
        *,
        config: Config,
        store: AgentStore,
        memories: MemoryStore,
        view: ClusterView,
        sessions: Sessions,
        events: EventLog,
        metrics: ControlPlaneMetrics | None = None,
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._events = events
        self._store = store
        self._memories = memories
        self._view = view
        self._sessions = sessions
        limit = config.resource_limits.max_concurrent_requests
        self._in_flight = asyncio.Semaphore(limit) if limit else None

    async def create(
        self,
        *,
        character: character_pb2.Character,
        plugins: list[str],
        auto_start: bool,
        pool: str,
        resources: agent_pb2.Resources,
        request_id: str,
        wait: float,
    ) -> agent_pb2.Agent:
        """Create an agent (validated input); with auto_start it is PENDING until placed."""
        limits = self._config.resource_limits
        merged = list(dict.fromkeys([*self._config.global_plugins, *character.plugins, *plugins]))
        agent = agent_pb2.Agent(
            id=str(uuid.uuid4()),
            name=character.name,
            status=S.AGENT_STATUS_PENDING if auto_start else S.AGENT_STATUS_CREATED,
            desired_state=S.DESIRED_STATE_RUNNING if auto_start else S.DESIRED_STATE_STOPPED,
            character=character,
            plugins=merged,
            pool=pool,
            resources=agent_pb2.Resources(
                memory_bytes=resources.memory_bytes or limits.max_memory_per_agent,
                cpu=resources.cpu or limits.max_cpu_per_agent,
            ),
            request_id=request_id,
        )
        record = await self._store.create(
            agent,
            max_agents=self._config.max_agents,
            events=[("agent:created", {"agentId": agent.id, "name": agent.name, "autoStart": auto_start})],
        )
        self._view.apply_agent(record.agent.id, record, record.agent.revision)
        return await self._settle(record.agent, wait, _settled)

    async def get(self, agent_id: str) -> agent_pb2.Agent:
        """One agent, read from etcd."""
        return public((await self._store.get(agent_id)).agent)

    async def page(
        self, *, page_size: int, page_token: str, status: int, pool: str, host_id: str
    ) -> tuple[list[agent_pb2.Agent], str]:
        """A page of agents matching the filters."""
        after = decode_page_token(page_token) if page_token else ""

        def keep(agent: agent_pb2.Agent) -> bool:
            return ((not status or agent.status == status) and (not pool or agent.pool == pool)
                    and (not host_id or agent.host_id == host_id))

        agents, token = await self._store.list_page(after=after, page_size=page_size, keep=keep)
        return [public(a) for a in agents], token

    async def start(self, agent_id: str, wait: float) -> agent_pb2.Agent:
        """Ask an agent to run (idempotent)."""

        def mutate(a: agent_pb2.Agent) -> list[tuple[str, dict[str, Any]]] | None:
            if a.desired_state == S.DESIRED_STATE_RUNNING and a.status in (
                S.AGENT_STATUS_PENDING, S.AGENT_STATUS_STARTING, S.AGENT_STATUS_RUNNING):
                return None
            a.desired_state = S.DESIRED_STATE_RUNNING
            if a.status in (S.AGENT_STATUS_CREATED, S.AGENT_STATUS_STOPPED, S.AGENT_STATUS_ERROR):
                a.status, a.error, a.host_id = S.AGENT_STATUS_PENDING, "", ""
            return []

        record = await self._store.update(agent_id, mutate)
        self._view.apply_agent(agent_id, record, record.agent.revision)
        return await self._settle(record.agent, wait, _settled)

    async def stop(self, agent_id: str, wait: float) -> agent_pb2.Agent:
        """Ask an agent to stop (idempotent); its memory stays."""

        def mutate(a: agent_pb2.Agent) -> list[tuple[str, dict[str, Any]]] | None:
            if a.desired_state == S.DESIRED_STATE_STOPPED and a.status != S.AGENT_STATUS_RUNNING:
                return None
            a.desired_state = S.DESIRED_STATE_STOPPED
            if a.status in (S.AGENT_STATUS_STARTING, S.AGENT_STATUS_RUNNING) and a.host_id:
                a.status = S.AGENT_STATUS_STOPPING
            elif a.status in (S.AGENT_STATUS_PENDING, S.AGENT_STATUS_ERROR):
                a.status, a.host_id = S.AGENT_STATUS_STOPPED, ""
            return []

        record = await self._store.update(agent_id, mutate)
        self._view.apply_agent(agent_id, record, record.agent.revision)
        return await self._settle(record.agent, wait, _stopped)

    async def delete(self, agent_id: str) -> None:
        """Delete an agent and its memories; a host running it is told to stop."""
        record = await self._store.get(agent_id)
        data = {"agentId": agent_id, "name": record.agent.name}
        await self._store.delete(agent_id, extra=[("agent:removed", data)])
        self._view.apply_agent(agent_id, None, 0)

    async def _settle(
        self, agent: agent_pb2.Agent, wait: float, done: Callable[[agent_pb2.Agent | None], bool]
    ) -> agent_pb2.Agent:
        if wait <= 0 or done(agent):
            return public(agent)
        latest = await self._view.wait_for(agent.id, done, wait)
        return public(latest if latest is not None else agent)

    async def memories(self, agent_id: str, room_id: str) -> list[agent_pb2.Memory]:
        """Stored memories of one room (the agent must exist)."""
        await self._store.get(agent_id)
        return await self._memories.room(agent_id, room_id)

    async def send_message(
        self, *, agent_id: str, text: str, user_id: str, room_id: str, timeout: float
    ) -> pb.MessageReply:
        """Deliver a message to the agent's host, store the exchange durably, return the reply."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        cached = self._view.agents.get(agent_id)
        agent = cached.agent if cached is not None else (await self._store.get(agent_id)).agent
        if agent.desired_state == S.DESIRED_STATE_RUNNING and (
            agent.status != S.AGENT_STATUS_RUNNING or self._sessions.get(agent.host_id) is None
        ) and agent.status != S.AGENT_STATUS_ERROR:
            # Being placed or moved (e.g. its host died): wait a little rather than fail.
            sessions = self._sessions

            def ready(a: agent_pb2.Agent | None) -> bool:
                return a is None or (a.status == S.AGENT_STATUS_RUNNING and sessions.get(a.host_id) is not None) \
                    or a.status == S.AGENT_STATUS_ERROR or a.desired_state != S.DESIRED_STATE_RUNNING

            waited = await self._view.wait_for(agent_id, ready, min(PLACEMENT_WAIT, max(deadline - loop.time(), 0)))
            if waited is None:
                await self._store.get(agent_id)  # deleted meanwhile: NotFound
            else:
                agent = waited
            if agent.status != S.AGENT_STATUS_RUNNING and agent.desired_state == S.DESIRED_STATE_RUNNING \
                    and agent.status != S.AGENT_STATUS_ERROR:
                raise Unavailable(f"agent {agent_id} is {status_name(agent.status)}, not yet running"
                                  + (f": {agent.error}" if agent.error else ""),
                                  retry_after=1.0, reason="AGENT_NOT_READY", metadata={"agent_id": agent_id})
        if agent.status != S.AGENT_STATUS_RUNNING:
            raise FailedPrecondition(
                f"agent {agent_id} is {status_name(agent.status)}; start it before sending messages"
                + (f" (error: {agent.error})" if agent.error else ""),
                reason="AGENT_NOT_RUNNING",
                metadata={"agent_id": agent_id, "status": status_name(agent.status)},
            )
        session = self._sessions.get(agent.host_id)
        if session is None:
            raise Unavailable(f"host {agent.host_id} of agent {agent_id} is not linked to this control plane",
                              reason="HOST_UNAVAILABLE", metadata={"agent_id": agent_id, "host_id": agent.host_id})
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise DeadlineExceeded(f"deadline passed before agent {agent_id} could be reached")
        stamp = timestamp_pb2.Timestamp()
        stamp.FromNanoseconds(time.time_ns() + int(remaining * 1e9))
        message = pb.DeliverMessage(agent_id=agent_id, epoch=agent.epoch, text=text, user_id=user_id,
                                    room_id=room_id, deadline=stamp, trace_context=telemetry.inject())
        async with self._limit():
            if self._metrics is not None:
                self._metrics.messages_in_flight.inc()
            try:
                reply = await session.deliver(message, remaining)
            finally:
                if self._metrics is not None:
                    self._metrics.messages_in_flight.dec()
        if reply.error_code:
            if reply.error_code == pb.REPLY_ERROR_CODE_AGENT_FAILED:
                await self._events.record("agent:error", agent_id=agent_id,
                                          data={"agentId": agent_id, "error": reply.error, "hostId": agent.host_id})
            raise _reply_error(agent_id, reply)
        await self._memories.append(agent_id, reply.memories, reply.cache_set, reply.cache_delete)
        return reply

    @contextlib.asynccontextmanager
    async def _limit(self) -> AsyncIterator[None]:
        if self._in_flight is None:
            yield
            return
        if self._in_flight.locked():
            raise ResourceExhausted(
                f"{self._config.resource_limits.max_concurrent_requests} messages are in flight already",
                retry_after=0.2, reason="MAX_CONCURRENT_REQUESTS")
        async with self._in_flight:
            yield


def _reply_error(agent_id: str, reply: pb.MessageReply) -> Exception:
    meta = {"agent_id": agent_id}
    if reply.error_code == pb.REPLY_ERROR_CODE_DEADLINE_EXCEEDED:
        return DeadlineExceeded(f"agent {agent_id} did not answer in time: {reply.error}", metadata=meta)
    if reply.error_code == pb.REPLY_ERROR_CODE_OVERLOADED:
        return ResourceExhausted(f"agent {agent_id} is overloaded: {reply.error}", retry_after=0.5,
                                 reason="AGENT_OVERLOADED", metadata=meta)
    if reply.error_code == pb.REPLY_ERROR_CODE_AGENT_NOT_RUNNING:
        return Unavailable(f"agent {agent_id} is moving between hosts; retry", retry_after=0.5,
                           reason="AGENT_NOT_READY", metadata=meta)
    return Unavailable(f"agent {agent_id} failed to answer: {reply.error}", retry_after=1.0,
                       reason="AGENT_FAILED", metadata=meta)
