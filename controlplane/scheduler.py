"""Placement: filter the hosts an agent fits on, then pick the least allocated one.

Pure and synchronous: the reconciler hands it a snapshot of host capacity and allocation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping


@dataclasses.dataclass(slots=True)
class HostView:
    """What the scheduler knows of one live host."""

    id: str
    max_agents: int
    memory_bytes: int
    cpu: float
    agents: int = 0
    memory_allocated: int = 0
    cpu_allocated: float = 0.0
    plugins: frozenset[str] = frozenset()
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    draining: bool = False

    def utilisation(self, memory: int = 0, cpu: float = 0.0, agents: int = 0) -> float:
        """Highest fraction used of any resource, after adding the given request."""
        return max(
            (self.agents + agents) / self.max_agents if self.max_agents else 1.0,
            (self.memory_allocated + memory) / self.memory_bytes if self.memory_bytes else 1.0,
            (self.cpu_allocated + cpu) / self.cpu if self.cpu else 1.0,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """What an agent needs from a host."""

    memory_bytes: int
    cpu: float
    plugins: frozenset[str] = frozenset()
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class Placement:
    """The chosen host, or None with the reason no host fits."""

    host_id: str | None
    reason: str = ""


def _misfit(host: HostView, request: Request) -> str | None:
    if host.draining:
        return "draining"
    if host.agents + 1 > host.max_agents:
        return f"agent limit {host.max_agents} reached"
    if host.memory_allocated + request.memory_bytes > host.memory_bytes:
        free = max(host.memory_bytes - host.memory_allocated, 0)
        return f"needs {request.memory_bytes} bytes of memory, {free} free"
    if host.cpu_allocated + request.cpu > host.cpu + 1e-9:
        return f"needs {request.cpu:g} CPU, {max(host.cpu - host.cpu_allocated, 0):g} free"
    missing = sorted(request.plugins - host.plugins)
    if missing:
        return f"missing plugins {', '.join(missing)}"
    for key, value in request.labels.items():
        if host.labels.get(key) != value:
            return f"label {key}={value} not present"
    return None


class Scheduler:
    """Chooses hosts for agents: fit first, then least allocated (ties by fewest agents, then id)."""

    def place(self, request: Request, hosts: Iterable[HostView]) -> Placement:
        """Pick the host for `request`, or say why none fits."""
        candidates: list[HostView] = []
        reasons: list[str] = []
        for host in hosts:
            why = _misfit(host, request)
            if why is None:
                candidates.append(host)
            else:
                reasons.append(f"{host.id}: {why}")
        if not candidates:
            if not reasons:
                return Placement(None, "no agent host is connected")
            return Placement(None, "no host fits: " + "; ".join(sorted(reasons)[:5]))
        best = min(
            candidates,
            key=lambda h: (h.utilisation(request.memory_bytes, request.cpu, 1), h.agents, h.id),
        )
        return Placement(best.id)
