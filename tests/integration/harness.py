"""Test harness: an in-process control plane and agent hosts against a real etcd."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from agenthost.link import HostConfig, HostLink
from agenthost.services import HostServices
from agenthost.supervisor import Supervisor
from controlplane.config import load_config
from controlplane.server import ControlPlane
from elizaos import ElizaOSClient


class Host:
    """An agent host running as a task in the test's event loop."""

    def __init__(self, target: str, host_id: str, **capacity: Any) -> None:
        self.services = HostServices()
        self.supervisor = Supervisor(services=self.services.get)
        self.link = HostLink(HostConfig(controlplane=target, host_id=host_id, **capacity), self.supervisor,
                             self.services)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> Host:
        self.task = asyncio.create_task(self.link.run())
        await asyncio.wait_for(self.link.connected.wait(), 10)
        return self

    async def crash(self) -> None:
        """Die without a goodbye, like kill -9: the stream just breaks."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def shutdown(self) -> None:
        await self.link.shutdown()
        await self.crash()


class Cluster:
    """A control plane, its hosts and a client, all in process."""

    def __init__(self, etcd: str, **overrides: Any) -> None:
        self.etcd = etcd
        self.name = f"t{uuid.uuid4().hex[:12]}"
        self.overrides = overrides
        self.plane: ControlPlane | None = None
        self.hosts: list[Host] = []
        self.client: ElizaOSClient | None = None
        self.port = 0

    def config(self, port: int = 0) -> Any:
        base: dict[str, Any] = {
            "name": self.name,
            "server": {"port": port, "grace_seconds": 0.5},
            "etcd": {"endpoints": [self.etcd]},
            "cluster": {"host_lease_ttl_seconds": 2, "heartbeat_interval_ms": 200},
            "persistence": {"checkpoint_interval": 500},
            "telemetry": {"metrics_port": 0},
        }
        for key, value in self.overrides.items():
            if isinstance(value, dict):
                base.setdefault(key, {}).update(value)
            else:
                base[key] = value
        return load_config(environ={}, overrides=base)

    async def start_plane(self, port: int = 0) -> ControlPlane:
        self.plane = ControlPlane(self.config(port))
        self.port = await self.plane.start()
        if self.client is None:
            self.client = ElizaOSClient(self.target, timeout=15)
        return self.plane

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def add_host(self, host_id: str | None = None, **capacity: Any) -> Host:
        host = Host(self.target, host_id or f"h{len(self.hosts) + 1}", **capacity)
        self.hosts.append(host)
        return await host.start()

    async def stop(self) -> None:
        for host in self.hosts:
            await host.crash()
        if self.client is not None:
            await self.client.close()
        if self.plane is not None:
            await self.plane.stop()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0, interval: float = 0.05) -> float:
    """Wait until `check()` is true; returns the seconds it took, fails the test on timeout."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        if await check():
            return loop.time() - start
        if loop.time() - start > timeout:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


