"""system:overloaded: fired when cluster load passes cluster.scale_threshold, and again only
after it has dropped below the threshold first (hysteresis by re-arming)."""

from __future__ import annotations

import asyncio
import logging

from controlplane.store.events import EventLog
from controlplane.view import ClusterView

log = logging.getLogger(__name__)


def cluster_load(view: ClusterView) -> tuple[float, str]:
    """The highest fraction in use of agent slots, memory or CPU across all hosts, and which one."""
    hosts = view.host_views()
    if not hosts:
        return 0.0, "no hosts"
    totals = {"agents": (sum(h.agents for h in hosts), sum(h.max_agents for h in hosts)),
              "memory": (sum(h.memory_allocated for h in hosts), sum(h.memory_bytes for h in hosts)),
              "cpu": (sum(h.cpu_allocated for h in hosts), sum(h.cpu for h in hosts))}
    # Host processes' own CPU use counts too: agents may be few but busy.
    busy = [r.host.load.cpu_percent / 100 / max(r.host.capacity.cpu, 1) for r in view.hosts.values()]
    fractions = {name: used / total if total else 0.0 for name, (used, total) in totals.items()}
    fractions["host cpu"] = sum(busy) / len(busy) if busy else 0.0
    name = max(fractions, key=lambda k: fractions[k])
    return fractions[name], name


class OverloadWatch:
    """Leader-side check of cluster load."""

    def __init__(self, view: ClusterView, events: EventLog, threshold: float, interval: float) -> None:
        self._view = view
        self._events = events
        self._threshold = threshold
        self._interval = interval
        self.overloaded = False

    async def check(self) -> bool:
        """Look once; record system:overloaded on an upward crossing. Returns whether it fired."""
        load, resource = cluster_load(self._view)
        if load > self._threshold and not self.overloaded:
            self.overloaded = True
            await self._events.record("system:overloaded", data={
                "load": round(load, 4), "threshold": self._threshold, "resource": resource,
                "hosts": len(self._view.hosts), "agents": len(self._view.agents)})
            log.warning("event=system_overloaded load=%.2f resource=%s threshold=%.2f", load, resource,
                        self._threshold)
            return True
        if load < self._threshold and self.overloaded:
            self.overloaded = False
            log.info("event=system_load_normal load=%.2f", load)
        return False

    async def run(self) -> None:
        """Check every interval until cancelled."""
        while True:
            try:
                await self.check()
            except Exception as exc:
                log.warning("event=overload_check_failed error=%r", exc)
            await asyncio.sleep(self._interval)
