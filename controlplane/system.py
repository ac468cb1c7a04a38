"""System operations behind SystemService: status, health, hosts, reset."""

from __future__ import annotations

import resource
import sys
import time
from collections import Counter
from collections.abc import Callable

from controlplane.config import Config
from controlplane.errors import Unavailable
from controlplane.overload import cluster_load
from controlplane.store import etcd
from controlplane.store.keys import Keys
from controlplane.view import ClusterView
from elizaos.v1 import agent_pb2, system_service_pb2

VERSION = "0.1.0"


def rss_bytes() -> int:
    """Resident memory of this process (peak on platforms without /proc)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()
    except OSError:
        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


class System:
    """The domain side of SystemService."""

    def __init__(self, *, config: Config, store: etcd.Etcd, keys: Keys, view: ClusterView,
                 replica_id: str, is_leader: object, event_revision: Callable[[], int] = lambda: 0,
                 overload: object = None) -> None:
        self._overload = overload
        self._config = config
        self._etcd = store
        self._keys = keys
        self._view = view
        self._replica_id = replica_id
        self._is_leader = is_leader
        self._event_revision = event_revision
        self._started = time.monotonic()

    def hosts(self) -> list[system_service_pb2.Host]:
        """Every live host with what is allocated on it, by id."""
        out = []
        for host_id in sorted(self._view.hosts):
            host = system_service_pb2.Host()
            host.CopyFrom(self._view.hosts[host_id].host)
            agents, memory, cpu = self._view.allocation(host_id)
            host.agents = agents
            host.allocated.memory_bytes = memory
            host.allocated.cpu = cpu
            out.append(host)
        return out

    async def status(self) -> system_service_pb2.GetSystemStatusResponse:
        """Totals from the watch-fed view, plus etcd's health and size."""
        counts = Counter(agent_pb2.AgentStatus.Name(r.agent.status) for r in self._view.agents.values())
        response = system_service_pb2.GetSystemStatusResponse(
            name=self._config.name,
            total_agents=len(self._view.agents),
            active_agents=counts.get("AGENT_STATUS_RUNNING", 0),
            agents_by_status=dict(counts),
            memory_usage_bytes=rss_bytes(),
            hosts=self.hosts(),
            max_agents=self._config.max_agents,
            version=VERSION,
            controlplane_id=self._replica_id,
            leader=bool(getattr(self._is_leader, "is_leader", False)),
            event_revision=self._event_revision(),
            services=sorted(self._view.services),
            plugins=sorted({p for r in self._view.hosts.values() for p in r.host.plugins} | set(self._view.plugins)),
            load=cluster_load(self._view)[0],
            overloaded=bool(getattr(self._overload, "overloaded", False)),
        )
        try:
            response.etcd_db_size_bytes, leader = await self._etcd.status()
            response.etcd_healthy = leader != 0
        except Unavailable:
            response.etcd_healthy = False
        response.uptime.FromNanoseconds(int((time.monotonic() - self._started) * 1e9))
        return response

    async def health(self) -> system_service_pb2.CheckHealthResponse:
        """etcd reachable, a leader known, at least one host linked; each with its reason."""
        checks = []
        try:
            db_size, leader = await self._etcd.status()
            reason = f"db size {db_size} bytes" if leader else "etcd has no leader"
            checks.append(system_service_pb2.HealthCheck(name="etcd", healthy=leader != 0, reason=reason))
        except Unavailable as exc:
            checks.append(system_service_pb2.HealthCheck(name="etcd", healthy=False, reason=exc.message))
        try:
            current = await self._etcd.get(self._keys.election())
            leader_id = current.value.decode() if current else ""
            checks.append(system_service_pb2.HealthCheck(
                name="leader", healthy=bool(leader_id),
                reason=f"leader is {leader_id}" if leader_id else "no control-plane leader elected"))
        except Unavailable as exc:
            checks.append(system_service_pb2.HealthCheck(name="leader", healthy=False, reason=exc.message))
        hosts = len(self._view.hosts)
        checks.append(system_service_pb2.HealthCheck(
            name="hosts", healthy=hosts > 0,
            reason=f"{hosts} agent host(s) connected" if hosts else "no agent host connected"))
        return system_service_pb2.CheckHealthResponse(healthy=all(c.healthy for c in checks), checks=checks)

    async def reset(self) -> int:
        """Delete every agent, memory, idempotency key and event in one transaction."""
        count = await self._etcd.count(self._keys.prefix("agents"))
        kinds = ("agents", "slots/agents", "memories", "cache", "requests", "events")
        await self._etcd.txn([], [etcd.delete(self._keys.prefix(kind), prefix=True) for kind in kinds])
        return count
