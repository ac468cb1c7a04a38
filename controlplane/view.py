"""A watch-fed, read-only view of agents and hosts in etcd (an informer).

Every replica keeps one. It lists, then watches from the list's revision; when the watch
breaks or the revision is compacted it relists (level-triggered, never stuck). Listeners
hear about every agent and host that changed; waiters can await a condition on an agent.
The view is a cache: everything in it can be rebuilt from etcd at any time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from controlplane.scheduler import HostView
from controlplane.store import agents as agent_records
from controlplane.store import etcd
from controlplane.store.keys import Keys
from elizaos.store.v1 import records_pb2
from elizaos.v1 import agent_pb2, plugin_service_pb2, registry_service_pb2

log = logging.getLogger(__name__)

# Statuses in which an agent holds resources on its host.
HOLDING = frozenset({agent_pb2.AGENT_STATUS_STARTING, agent_pb2.AGENT_STATUS_RUNNING, agent_pb2.AGENT_STATUS_STOPPING})

AgentListener = Callable[[str], None]
HostListener = Callable[[str, bool], None]
RegistryListener = Callable[[str, Any], None]
# Registries: name -> message type of the records under that etcd prefix.
REGISTRIES: dict[str, type[Message]] = {"plugins": plugin_service_pb2.Plugin,
                                        "services": registry_service_pb2.GlobalService}
KINDS = ("agents", "hosts", *REGISTRIES)


class _Waiter:
    __slots__ = ("future", "predicate")

    def __init__(self, predicate: Callable[[agent_pb2.Agent | None], bool]) -> None:
        self.predicate = predicate
        self.future: asyncio.Future[agent_pb2.Agent | None] = asyncio.get_running_loop().create_future()


class ClusterView:
    """Agents and hosts as last seen in etcd, plus per-host allocation."""

    def __init__(self, store: etcd.Etcd, keys: Keys) -> None:
        self._etcd = store
        self._keys = keys
        self.agents: dict[str, records_pb2.AgentRecord] = {}
        self.hosts: dict[str, records_pb2.HostRecord] = {}
        self.registries: dict[str, dict[str, Any]] = {kind: {} for kind in REGISTRIES}
        self._registry_listeners: dict[str, list[RegistryListener]] = {kind: [] for kind in REGISTRIES}
        self._alloc: dict[str, list[float]] = {}  # host id -> [agents, memory, cpu]
        self.slots: set[int] = set()  # max_agents slots held by known agents
        self._agent_listeners: list[AgentListener] = []
        self._host_listeners: list[HostListener] = []
        self._waiters: dict[str, list[_Waiter]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.synced = asyncio.Event()
        self._synced_kinds: set[str] = set()

    def on_agent(self, listener: AgentListener) -> None:
        """Call `listener(agent_id)` after every change to an agent."""
        self._agent_listeners.append(listener)

    def on_host(self, listener: HostListener) -> None:
        """Call `listener(host_id, alive)` after a host appears, changes or goes away."""
        self._host_listeners.append(listener)

    @property
    def plugins(self) -> dict[str, plugin_service_pb2.Plugin]:
        """Global plugin registrations by name."""
        return self.registries["plugins"]

    @property
    def services(self) -> dict[str, registry_service_pb2.GlobalService]:
        """Global service registrations by name."""
        return self.registries["services"]

    def on_registry(self, kind: str, listener: RegistryListener) -> None:
        """Call `listener(name, record)` after a registration of `kind` changes (None: removed)."""
        self._registry_listeners[kind].append(listener)

    def apply_registry(self, kind: str, name: str, record: Any) -> None:
        """Take a registration this replica just wrote (None: removed), ahead of its watch event."""
        if record is None:
            if self.registries[kind].pop(name, None) is not None:
                self._registry_changed(kind, name, None)
            return
        current = self.registries[kind].get(name)
        if current is not None and current.revision >= record.revision:
            return
        self.registries[kind][name] = record
        self._registry_changed(kind, name, record)

    async def start(self) -> None:
        """Start watching; returns once the first full list is loaded."""
        self._tasks = [asyncio.create_task(self._follow(kind), name=f"view-{kind}") for kind in KINDS]
        await self.synced.wait()

    async def stop(self) -> None:
        """Stop watching and release waiters."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.future.done():
                    waiter.future.cancel()
        self._waiters.clear()

    # -- allocation ------------------------------------------------------------------------

    def _account(self, record: records_pb2.AgentRecord | None, sign: int) -> None:
        if record is None:
            return
        agent = record.agent
        if not agent.host_id or agent.status not in HOLDING:
            return
        alloc = self._alloc.setdefault(agent.host_id, [0, 0, 0.0])
        alloc[0] += sign
        alloc[1] += sign * agent.resources.memory_bytes
        alloc[2] += sign * agent.resources.cpu

    def host_views(self, reserved: dict[str, list[float]] | None = None) -> list[HostView]:
        """Scheduler views of every live host, with allocations (plus `reserved`, not yet written)."""
        views = []
        for host_id, record in self.hosts.items():
            alloc = self._alloc.get(host_id, [0, 0, 0.0])
            extra = (reserved or {}).get(host_id, [0, 0, 0.0])
            cap = record.host.capacity
            views.append(
                HostView(
                    id=host_id,
                    max_agents=cap.max_agents,
                    memory_bytes=cap.memory_bytes,
                    cpu=cap.cpu,
                    agents=int(alloc[0] + extra[0]),
                    memory_allocated=int(alloc[1] + extra[1]),
                    cpu_allocated=float(alloc[2] + extra[2]),
                    plugins=frozenset(record.host.plugins),
                    labels=dict(record.host.labels),
                    draining=record.host.labels.get("elizaos.draining") == "true",
                )
            )
        return views

    def allocation(self, host_id: str) -> tuple[int, int, float]:
        """(agents, memory bytes, cpu) allocated on a host."""
        alloc = self._alloc.get(host_id, [0, 0, 0.0])
        return int(alloc[0]), int(alloc[1]), float(alloc[2])

    # -- updates ---------------------------------------------------------------------------

    def apply_agent(self, agent_id: str, record: records_pb2.AgentRecord | None, revision: int) -> None:
        """Take a newer version of an agent (None: deleted) and tell listeners and waiters."""
        old = self.agents.get(agent_id)
        if old is not None and record is not None and old.agent.revision >= revision:
            return
        self._account(old, -1)
        if old is not None:
            self.slots.discard(old.slot)
        if record is None:
            self.agents.pop(agent_id, None)
        else:
            self.slots.add(record.slot)
            record.agent.revision = revision
            self.agents[agent_id] = record
            self._account(record, +1)
        self._notify(agent_id, record.agent if record is not None else None)

    def _notify(self, agent_id: str, agent: agent_pb2.Agent | None) -> None:
        waiters = self._waiters.get(agent_id)
        if waiters:
            for waiter in list(waiters):
                if not waiter.future.done() and waiter.predicate(agent):
                    waiter.future.set_result(agent)
                    waiters.remove(waiter)
            if not waiters:
                self._waiters.pop(agent_id, None)
        for listener in self._agent_listeners:
            listener(agent_id)

    async def wait_for(
        self, agent_id: str, predicate: Callable[[agent_pb2.Agent | None], bool], timeout: float
    ) -> agent_pb2.Agent | None:
        """The agent once `predicate` holds for it (None once deleted), or its latest state at timeout."""
        current = self.agents.get(agent_id)
        current_agent = current.agent if current is not None else None
        if predicate(current_agent):
            return current_agent
        waiter = _Waiter(predicate)
        self._waiters.setdefault(agent_id, []).append(waiter)
        try:
            return await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
        except TimeoutError:
            latest = self.agents.get(agent_id)
            return latest.agent if latest is not None else None
        finally:
            waiters = self._waiters.get(agent_id)
            if waiters and waiter in waiters:
                waiters.remove(waiter)

    # -- watch loop ------------------------------------------------------------------------

    def _load(self, kind: str, kvs: list[etcd.KV]) -> None:
        prefix = self._keys.prefix(kind)
        if kind in REGISTRIES:
            fresh: dict[str, Any] = {}
            for kv in kvs:
                record = REGISTRIES[kind].FromString(kv.value)
                record.revision = kv.mod_revision  # type: ignore[attr-defined]
                fresh[kv.key[len(prefix):].decode()] = record
            for name in [n for n in self.registries[kind] if n not in fresh]:
                self.apply_registry(kind, name, None)
            for name, record in fresh.items():
                self.apply_registry(kind, name, record)
            return
        if kind == "agents":
            seen = set()
            for kv in kvs:
                agent_id = kv.key[len(prefix):].decode()
                seen.add(agent_id)
                self.apply_agent(agent_id, agent_records.decode(kv), kv.mod_revision)
            for agent_id in [a for a in self.agents if a not in seen]:
                self.apply_agent(agent_id, None, 0)
        else:
            fresh = {kv.key[len(prefix):].decode(): records_pb2.HostRecord.FromString(kv.value) for kv in kvs}
            gone = [h for h in self.hosts if h not in fresh]
            self.hosts = fresh
            for host_id in gone:
                self._host_changed(host_id, False)
            for host_id in fresh:
                self._host_changed(host_id, True)

    def apply_host(self, record: records_pb2.HostRecord) -> None:
        """Take a host this replica just registered, ahead of the watch event that will confirm it."""
        known = record.host.id in self.hosts
        self.hosts[record.host.id] = record
        if not known:
            self._host_changed(record.host.id, True)

    def _registry_changed(self, kind: str, name: str, record: Any) -> None:
        for listener in self._registry_listeners[kind]:
            listener(name, record)

    def _host_changed(self, host_id: str, alive: bool) -> None:
        for listener in self._host_listeners:
            listener(host_id, alive)

    def _apply(self, kind: str, event: etcd.WatchEvent) -> None:
        prefix = self._keys.prefix(kind)
        name = event.key[len(prefix):].decode()
        if kind in REGISTRIES:
            record = None
            if not event.deleted:
                record = REGISTRIES[kind].FromString(event.value)
                record.revision = event.mod_revision  # type: ignore[attr-defined]
            self.apply_registry(kind, name, record)
            return
        if kind == "agents":
            record = None if event.deleted else agent_records.decode(
                etcd.KV(event.key, event.value, event.mod_revision, 0))
            self.apply_agent(name, record, event.mod_revision)
            return
        if event.deleted:
            if self.hosts.pop(name, None) is not None:
                self._host_changed(name, False)
            return
        self.hosts[name] = records_pb2.HostRecord.FromString(event.value)
        self._host_changed(name, True)

    async def _follow(self, kind: str) -> None:
        prefix = self._keys.prefix(kind)
        backoff = 0.1
        while True:
            try:
                kvs, revision = await self._etcd.get_prefix(prefix)
                self._load(kind, kvs)
                self._mark_synced(kind)
                backoff = 0.1
                async for event in self._etcd.watch(prefix, revision + 1):
                    self._apply(kind, event)
                log.info("event=watch_ended kind=%s; relisting", kind)
            except asyncio.CancelledError:
                raise
            except etcd.Compacted as exc:
                log.info("event=watch_compacted kind=%s revision=%d; relisting", kind, exc.compacted_revision)
            except Exception as exc:
                log.warning("event=watch_failed kind=%s error=%r; relisting in %.1fs", kind, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _mark_synced(self, kind: str) -> None:
        self._synced_kinds.add(kind)
        if self._synced_kinds.issuperset(KINDS):
            self.synced.set()
