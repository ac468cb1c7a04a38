"""Converges observed agent state (what hosts report) to desired state (what users asked).

Every replica handles the reports of the hosts linked to it (`status_reported`). Only the
leader runs the control loop: a work queue of agent ids fed by the cluster view, host
changes and a periodic full resync, with a few workers that place, start and stop agents.
Placements carry an epoch (the agent record's revision at placement), so a host never runs
a stale placement and stale reports never change a record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from controlplane import telemetry
from controlplane.config import Config
from controlplane.errors import DomainError, NotFound
from controlplane.hostlink import HostSession, Sessions
from controlplane.scheduler import Request, Scheduler
from controlplane.store.agents import AgentStore
from controlplane.store.events import EventLog
from controlplane.store.memories import MemoryStore
from controlplane.view import ClusterView
from elizaos.host.v1 import host_link_pb2 as pb
from elizaos.store.v1 import records_pb2
from elizaos.v1 import agent_pb2

log = logging.getLogger(__name__)

S = agent_pb2
WORKERS = 8


class Reconciler:
    """Placement, start/stop commands and host report handling."""

    def __init__(
        self,
        *,
        config: Config,
        view: ClusterView,
        agents: AgentStore,
        memories: MemoryStore,
        sessions: Sessions,
        events: EventLog,
    ) -> None:
        self._config = config
        self._view = view
        self._agents = agents
        self._memories = memories
        self._sessions = sessions
        self._events = events
        self._scheduler = Scheduler()
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._reserved: dict[str, list[float]] = {}
        self._place_lock = asyncio.Lock()
        self._known_hosts: set[str] = set()
        self._leader = False
        self._grace_until = 0.0
        view.on_agent(self.enqueue)
        view.on_host(self._host_changed)

    @property
    def leader(self) -> bool:
        """Whether this replica runs the control loop now."""
        return self._leader

    # -- work queue ------------------------------------------------------------------------

    def enqueue(self, agent_id: str) -> None:
        """Reconcile this agent soon (deduplicated; ignored on non-leaders)."""
        if self._leader and agent_id not in self._queued:
            self._queued.add(agent_id)
            self._queue.put_nowait(agent_id)

    def _later(self, agent_id: str, delay: float) -> None:
        asyncio.get_running_loop().call_later(delay, self.enqueue, agent_id)

    def _host_changed(self, host_id: str, alive: bool) -> None:
        if alive and host_id in self._known_hosts:
            return  # a heartbeat refresh of a host we know
        if alive:
            self._known_hosts.add(host_id)
        else:
            self._known_hosts.discard(host_id)
        for agent_id, record in list(self._view.agents.items()):
            agent = record.agent
            if agent.host_id == host_id or (alive and agent.status == S.AGENT_STATUS_PENDING):
                self.enqueue(agent_id)

    async def lead(self) -> None:
        """Run the control loop until cancelled (call while holding leadership)."""
        loop = asyncio.get_running_loop()
        self._leader = True
        self._known_hosts = set(self._view.hosts)
        # Hosts may be reconnecting after a control-plane restart: give them a moment before
        # declaring their agents lost.
        self._grace_until = loop.time() + min(2.0, float(self._config.cluster.host_lease_ttl_seconds))
        if self._config.persistence.recovery_mode == "manual":
            await self._stop_unhosted()
        workers = [asyncio.create_task(self._work(), name=f"reconcile-{i}") for i in range(WORKERS)]
        try:
            while True:
                for agent_id in list(self._view.agents):
                    self.enqueue(agent_id)
                self._sweep_orphans()
                await asyncio.sleep(self._config.persistence.checkpoint_interval / 1000)
        finally:
            self._leader = False
            for task in workers:
                task.cancel()
            for task in workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._queued.clear()
            self._queue = asyncio.Queue()

    async def _work(self) -> None:
        while True:
            agent_id = await self._queue.get()
            self._queued.discard(agent_id)
            try:
                await self.reconcile(agent_id)
            except asyncio.CancelledError:
                raise
            except DomainError as exc:
                log.warning("event=reconcile_failed agent=%s error=%s", agent_id, exc.message)
                self._later(agent_id, 1.0)
            except Exception as exc:
                log.exception("event=reconcile_crashed agent=%s", agent_id)
                self._later(agent_id, 1.0)
                with contextlib.suppress(Exception):
                    await self._events.record("system:error", agent_id=agent_id, data={
                        "error": f"{type(exc).__name__}: {exc}", "where": "reconciler"})

    # -- the control loop ------------------------------------------------------------------

    async def reconcile(self, agent_id: str) -> None:
        """Take one step of bringing this agent to its desired state."""
        record = self._view.agents.get(agent_id)
        if record is None:
            self._stop_everywhere(agent_id)
            return
        agent = record.agent
        alive = bool(agent.host_id) and agent.host_id in self._view.hosts
        session = self._sessions.get(agent.host_id) if agent.host_id else None
        in_grace = asyncio.get_running_loop().time() < self._grace_until
        if agent.desired_state == S.DESIRED_STATE_RUNNING:
            if agent.status == S.AGENT_STATUS_PENDING:
                await self._place(record)
            elif agent.status in (S.AGENT_STATUS_STARTING, S.AGENT_STATUS_RUNNING) and not alive:
                if in_grace:
                    self._later(agent_id, self._grace_until - asyncio.get_running_loop().time() + 0.05)
                    return
                lost = agent.host_id
                await self._write(record, lambda a: _to_pending(a, f"host {lost} was lost; rescheduling"))
            elif agent.status in (S.AGENT_STATUS_STARTING, S.AGENT_STATUS_RUNNING) and session is not None:
                if session.running.get(agent_id) != agent.epoch and session.starting.get(agent_id) != agent.epoch:
                    if agent.status == S.AGENT_STATUS_RUNNING:
                        written = await self._write(record, _to_starting)
                        if written is None:
                            return
                        record = written
                    await self._send_start(session, record)
            elif agent.status == S.AGENT_STATUS_STOPPING:
                await self._write(record, lambda a: _to_pending(a, ""))
            return
        # Desired: stopped.
        if agent.status in (S.AGENT_STATUS_PENDING, S.AGENT_STATUS_STARTING, S.AGENT_STATUS_RUNNING,
                            S.AGENT_STATUS_STOPPING):
            hosted = alive and session is not None and (agent_id in session.running or agent_id in session.starting)
            if not alive or (session is not None and not hosted):
                if in_grace and agent.host_id and not alive:
                    self._later(agent_id, 0.5)
                    return
                await self._write(record, _to_stopped)
            elif session is not None:
                if agent.status != S.AGENT_STATUS_STOPPING:
                    written = await self._write(record, _to_stopping)
                    if written is None:
                        return
                    record = written
                if session.stopping.get(agent_id) != record.agent.epoch:
                    self._send_stop(session, agent_id, record.agent.epoch)

    async def _write(self, record: records_pb2.AgentRecord, mutate: Any) -> records_pb2.AgentRecord | None:
        written = await self._agents.try_update(record, mutate)
        if written is None:
            self.enqueue(record.agent.id)  # lost a race; look again at the new state
            return None
        if written is not record:
            self._view.apply_agent(written.agent.id, written, written.agent.revision)
        return written

    async def _place(self, record: records_pb2.AgentRecord) -> None:
        agent = record.agent
        # Hosts advertise installed plugin names; import references ("pkg.mod:attr") are assumed
        # importable everywhere, and a host that cannot import one reports the agent in ERROR.
        request = Request(memory_bytes=agent.resources.memory_bytes, cpu=agent.resources.cpu,
                          plugins=frozenset(p for p in agent.plugins if ":" not in p))
        async with self._place_lock:
            placement = self._scheduler.place(request, self._view.host_views(self._reserved))
            if placement.host_id is not None:
                reserved = self._reserved.setdefault(placement.host_id, [0, 0, 0.0])
                reserved[0] += 1
                reserved[1] += request.memory_bytes
                reserved[2] += request.cpu
        host_id = placement.host_id
        if host_id is None:
            if agent.error != placement.reason:
                reason = placement.reason

                def pending(a: agent_pb2.Agent) -> list[tuple[str, dict[str, Any]]] | None:
                    a.error = reason
                    return []

                await self._write(record, pending)
            return
        epoch = agent.revision

        def place(a: agent_pb2.Agent) -> list[tuple[str, dict[str, Any]]] | None:
            a.host_id, a.epoch, a.status, a.error = host_id, epoch, S.AGENT_STATUS_STARTING, ""
            return []

        try:
            written = await self._write(record, place)
        finally:
            reserved = self._reserved[host_id]
            reserved[0] -= 1
            reserved[1] -= request.memory_bytes
            reserved[2] -= request.cpu
        if written is None:
            return
        log.info("event=agent_placed agent=%s host=%s epoch=%d", agent.id, host_id, epoch)
        session = self._sessions.get(host_id)
        if session is not None:
            await self._send_start(session, written)

    async def _send_start(self, session: HostSession, record: records_pb2.AgentRecord) -> None:
        agent = record.agent
        # Marked before the await, so a concurrent reconcile of the same agent does not send it twice.
        session.starting[agent.id] = agent.epoch
        memories, cache = await asyncio.gather(self._memories.snapshot(agent.id), self._memories.cache(agent.id))
        session.send(pb.ConnectResponse(start_agent=pb.StartAgent(
            agent=agent, epoch=agent.epoch, memories=memories, trace_context=telemetry.inject(), cache=cache)))

    def _send_stop(self, session: HostSession, agent_id: str, epoch: int) -> None:
        session.stopping[agent_id] = epoch
        session.send(pb.ConnectResponse(stop_agent=pb.StopAgent(agent_id=agent_id, epoch=epoch,
                                                                trace_context=telemetry.inject())))

    def _stop_everywhere(self, agent_id: str) -> None:
        """Tell every linked host still running a deleted agent to stop it."""
        for session in self._sessions.all():
            epoch = session.running.get(agent_id, session.starting.get(agent_id))
            if epoch is not None and session.stopping.get(agent_id) != epoch:
                self._send_stop(session, agent_id, epoch)

    def _sweep_orphans(self) -> None:
        for session in self._sessions.all():
            self._stop_orphans(session)

    def _stop_orphans(self, session: HostSession) -> None:
        """Stop what a host runs that the records do not place there (deleted or moved agents)."""
        for agent_id, epoch in list(session.running.items()):
            record = self._view.agents.get(agent_id)
            current = record is not None and record.agent.host_id == session.host_id and record.agent.epoch == epoch
            if not current and session.stopping.get(agent_id) != epoch:
                log.info("event=orphan_stopped agent=%s host=%s epoch=%d", agent_id, session.host_id, epoch)
                self._send_stop(session, agent_id, epoch)

    async def _stop_unhosted(self) -> None:
        """recovery_mode=manual: agents whose host is gone stay stopped after a restart."""
        for record in list(self._view.agents.values()):
            agent = record.agent
            if agent.desired_state == S.DESIRED_STATE_RUNNING and agent.host_id not in self._view.hosts:
                def stop(a: agent_pb2.Agent) -> list[tuple[str, dict[str, Any]]] | None:
                    a.desired_state = S.DESIRED_STATE_STOPPED
                    return _to_stopped(a)
                await self._write(record, stop)

    # -- what hosts report (every replica) ---------------------------------------------------

    async def session_opened(self, session: HostSession) -> None:
        """A host linked here: adopt what it runs, stop what it must not, start what it should."""
        self._view.apply_host(records_pb2.HostRecord(host=session.host()))
        for reported in session.hello.agents:
            if reported.status == S.AGENT_STATUS_RUNNING:
                await self.status_reported(session, pb.AgentStatusReport(
                    agent_id=reported.agent_id, epoch=reported.epoch, status=S.AGENT_STATUS_RUNNING))
        self._stop_orphans(session)
        for agent_id, record in list(self._view.agents.items()):
            if record.agent.host_id == session.host_id or record.agent.status == S.AGENT_STATUS_PENDING:
                self.enqueue(agent_id)

    async def session_closed(self, session: HostSession) -> None:
        """A host's link ended; its agents move when its lease runs out (or now, if it left)."""
        for agent_id in list(session.running) + list(session.starting):
            self.enqueue(agent_id)

    async def event_reported(self, session: HostSession, event: pb.HostEvent) -> None:
        """Record an event a host emitted."""
        data: dict[str, Any] = dict(event.data) if event.HasField("data") else {}
        data.setdefault("host_id", session.host_id)
        await self._events.record(event.type, agent_id=event.agent_id, data=data, source=f"host/{session.host_id}")

    async def status_reported(self, session: HostSession, report: pb.AgentStatusReport) -> None:
        """Apply a host's status report to the agent record if it is about the current placement."""
        agent_id, epoch, status = report.agent_id, report.epoch, report.status
        if status == S.AGENT_STATUS_RUNNING:
            session.running[agent_id] = epoch
            if session.starting.get(agent_id) == epoch:
                del session.starting[agent_id]
        elif status in (S.AGENT_STATUS_STOPPED, S.AGENT_STATUS_ERROR):
            for table in (session.running, session.starting, session.stopping):
                if table.get(agent_id) == epoch:
                    del table[agent_id]
        stale = False
        host_id = session.host_id

        def apply(a: agent_pb2.Agent) -> list[tuple[str, dict[str, Any]]] | None:
            nonlocal stale
            stale = a.host_id != host_id or a.epoch != epoch
            if stale:
                return None
            data: dict[str, Any] = {"agentId": a.id, "name": a.name, "hostId": host_id}
            if status == S.AGENT_STATUS_RUNNING:
                if a.status != S.AGENT_STATUS_STARTING:
                    return None
                a.status, a.error = S.AGENT_STATUS_RUNNING, ""
                return [("agent:started", data)]
            if status == S.AGENT_STATUS_STOPPED:
                if a.desired_state == S.DESIRED_STATE_STOPPED:
                    return _to_stopped(a)
                _to_pending(a, report.error or f"host {host_id} stopped the agent; rescheduling")
                return [("agent:stopped", {**data, "reason": a.error})]
            if status == S.AGENT_STATUS_ERROR:
                a.status, a.error, a.host_id = S.AGENT_STATUS_ERROR, report.error or "agent failed", ""
                return [("agent:error", {**data, "error": a.error})]
            return None

        try:
            # Start from the view's copy: usually current, so no extra read; a stale one just retries.
            written = await self._agents.update(agent_id, apply, current=self._view.agents.get(agent_id))
        except NotFound:
            stale = True
            written = None
        if written is not None:
            self._view.apply_agent(agent_id, written, written.agent.revision)
        if stale and status == S.AGENT_STATUS_RUNNING and session.stopping.get(agent_id) != epoch:
            self._send_stop(session, agent_id, epoch)


def _to_pending(agent: agent_pb2.Agent, reason: str) -> list[tuple[str, dict[str, Any]]]:
    agent.status, agent.host_id, agent.error = S.AGENT_STATUS_PENDING, "", reason
    return []


def _to_starting(agent: agent_pb2.Agent) -> list[tuple[str, dict[str, Any]]]:
    agent.status = S.AGENT_STATUS_STARTING
    return []


def _to_stopping(agent: agent_pb2.Agent) -> list[tuple[str, dict[str, Any]]]:
    agent.status = S.AGENT_STATUS_STOPPING
    return []


def _to_stopped(agent: agent_pb2.Agent) -> list[tuple[str, dict[str, Any]]]:
    was_running = agent.status in (S.AGENT_STATUS_STARTING, S.AGENT_STATUS_RUNNING, S.AGENT_STATUS_STOPPING)
    host = agent.host_id
    agent.status, agent.host_id, agent.error = S.AGENT_STATUS_STOPPED, "", ""
    return [("agent:stopped", {"agentId": agent.id, "name": agent.name, "hostId": host})] if was_running else []
