"""The host's side of HostLinkService.Connect: dial, Hello, heartbeat, obey, reconnect.

One stream carries everything. When it breaks the host keeps its agents running, dials again
with exponential backoff (with jitter), and re-reports them in Hello, so a control-plane
restart does not restart agents.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import resource
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import grpc
from google.protobuf import json_format

from agenthost.metrics import HostMetrics
from agenthost.services import HostServices
from agenthost.supervisor import Supervisor
from elizaos.host.v1 import host_link_pb2 as pb
from elizaos.host.v1 import host_link_pb2_grpc
from elizaos.v1 import registry_service_pb2, system_service_pb2

log = logging.getLogger(__name__)

VERSION = "0.1.0"
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
    ("grpc.enable_retries", 0),
]


@dataclasses.dataclass(frozen=True)
class HostConfig:
    """Everything an agent host needs; built once from flags and environment."""

    controlplane: str
    """host:port of a control-plane replica."""
    host_id: str
    """Stable id of this host in the cluster."""
    max_agents: int = 1000
    """Most agents this host runs."""
    memory_bytes: int = 0
    """Memory offered to agents (0: all physical memory)."""
    cpu: float = 0.0
    """CPU cores offered to agents (0: all cores)."""
    labels: tuple[tuple[str, str], ...] = ()
    """Labels for placement constraints."""
    plugins: tuple[str, ...] = ()
    """Plugins installed on this host."""
    join_token: str = ""
    """Join token the cluster requires, if any (never logged)."""
    memory_window: int = 64
    """Memories kept per room in each runtime."""
    backoff_max: float = 5.0
    """Longest wait between reconnection attempts, in seconds."""
    metrics_port: int = -1
    """Port of the Prometheus /metrics endpoint; 0 picks a free one, -1 turns it off."""
    metrics_host: str = "127.0.0.1"
    """Interface of the /metrics endpoint."""
    otlp_endpoint: str = ""
    """host:port of an OpenTelemetry collector to send traces to over OTLP/gRPC ("": no tracing)."""


def physical_memory() -> int:
    """Total physical memory in bytes."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 * 1024**3


class HostLink:
    """Keeps this host linked to the control plane and runs what it is told."""

    def __init__(self, config: HostConfig, supervisor: Supervisor, services: HostServices | None = None) -> None:
        self.config = config
        self.supervisor = supervisor
        self.services = services or HostServices()
        self.metrics = HostMetrics(lambda: len(supervisor.runtimes), lambda: supervisor.in_flight)
        self.connected = asyncio.Event()
        self.controlplane_id = ""
        self._outbox: asyncio.Queue[pb.ConnectRequest | None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._unlinked = asyncio.Event()
        self._cpu_mark = (time.monotonic(), time.process_time())

    def capacity(self) -> system_service_pb2.HostCapacity:
        """What this host offers."""
        return system_service_pb2.HostCapacity(
            max_agents=self.config.max_agents,
            memory_bytes=self.config.memory_bytes or physical_memory(),
            cpu=self.config.cpu or float(os.cpu_count() or 1),
        )

    def _hello(self) -> pb.ConnectRequest:
        return pb.ConnectRequest(hello=pb.Hello(
            host_id=self.config.host_id, capacity=self.capacity(), labels=dict(self.config.labels),
            plugins=self.plugins(), version=VERSION, join_token=self.config.join_token,
            agents=self.supervisor.running()))

    def plugins(self) -> list[str]:
        """Plugins this host can load: installed by entry point, plus those named by flags."""
        from agenthost.plugins.loader import installed_plugins

        return sorted({*installed_plugins(), *self.config.plugins})

    def _load(self) -> system_service_pb2.HostLoad:
        now, cpu = time.monotonic(), time.process_time()
        then, cpu_then = self._cpu_mark
        self._cpu_mark = (now, cpu)
        percent = 100.0 * (cpu - cpu_then) / (now - then) if now > then else 0.0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        with contextlib.suppress(OSError), open("/proc/self/statm", "rb") as statm:
            rss = int(statm.read().split()[1]) * resource.getpagesize()
        return system_service_pb2.HostLoad(agents=len(self.supervisor.runtimes), in_flight=self.supervisor.in_flight,
                                           cpu_percent=percent, rss_bytes=rss)

    def send(self, message: pb.ConnectRequest) -> None:
        """Queue a message to the control plane (dropped while disconnected: Hello re-reports)."""
        if self._outbox is not None:
            self._outbox.put_nowait(message)

    async def run(self) -> None:
        """Stay linked until `shutdown`; reconnect with backoff."""
        backoff = 0.1
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as exc:
                if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INVALID_ARGUMENT):
                    log.error("event=link_refused code=%s detail=%s", exc.code().name, exc.details())
                else:
                    log.info("event=link_lost code=%s", exc.code().name)
            except Exception:
                log.exception("event=link_failed")
            finally:
                self.connected.clear()
                self._outbox = None
                self._unlinked.set()
            if self._stopping:
                return
            if time.monotonic() - started > 10:
                backoff = 0.1  # the link was healthy for a while: reconnect quickly
            await asyncio.sleep(backoff * (0.5 + random.random() / 2))
            backoff = min(backoff * 2, self.config.backoff_max)

    async def _session(self) -> None:
        outbox: asyncio.Queue[pb.ConnectRequest | None] = asyncio.Queue()
        outbox.put_nowait(self._hello())
        self._outbox = outbox
        self._unlinked.clear()

        async def requests() -> AsyncIterator[pb.ConnectRequest]:
            while True:
                message = await outbox.get()
                if message is None:
                    return
                yield message

        async with grpc.aio.insecure_channel(self.config.controlplane, options=CHANNEL_OPTIONS) as channel:
            stub = host_link_pb2_grpc.HostLinkServiceStub(channel)
            call = stub.Connect(requests())
            heartbeat: asyncio.Task[None] | None = None
            try:
                async for message in call:
                    kind = message.WhichOneof("message")
                    if kind == "welcome":
                        self.controlplane_id = message.welcome.controlplane_id
                        interval = max(message.welcome.heartbeat_interval_ms, 50) / 1000
                        heartbeat = asyncio.create_task(self._heartbeat(interval))
                        self.connected.set()
                        self.metrics.link_reconnects.inc()
                        log.info("event=linked controlplane=%s host=%s agents=%d", self.controlplane_id,
                                 self.config.host_id, len(self.supervisor.runtimes))
                    elif kind == "start_agent":
                        report = await self.supervisor.start(message.start_agent)
                        if report is not None:
                            self.send(pb.ConnectRequest(agent_status=report))
                    elif kind == "stop_agent":
                        report = self.supervisor.stop(message.stop_agent)
                        if report is not None:
                            self.send(pb.ConnectRequest(agent_status=report))
                    elif kind == "deliver_message":
                        self._spawn(self._deliver(message.deliver_message))
                    elif kind == "load_plugin":
                        await self._load_plugin(message.load_plugin)
                    elif kind == "unload_plugin":
                        self.supervisor.unload_plugin(message.unload_plugin.name)
                    elif kind == "load_service":
                        self._spawn(self._load_service(message.load_service.service))
                    elif kind == "unload_service":
                        self._spawn(self.services.unload(message.unload_service.name))
                    elif kind == "drain":
                        log.info("event=drain_requested reason=%s", message.drain.reason)
            finally:
                if heartbeat is not None:
                    heartbeat.cancel()

    async def _load_plugin(self, command: pb.LoadPlugin) -> None:
        try:
            config = json_format.MessageToDict(command.config) if command.HasField("config") else {}
            failures = await self.supervisor.load_plugin(command.name, command.ref, config)
        except Exception as exc:
            log.warning("event=plugin_load_failed plugin=%s error=%r", command.name, exc)
            self._event("system:error", "", {"plugin": command.name, "error": f"{type(exc).__name__}: {exc}",
                                              "hostId": self.config.host_id})
            return
        for agent_id, error in failures:
            self._event("agent:error", agent_id, {"plugin": command.name, "error": error,
                                                  "hostId": self.config.host_id})

    async def _load_service(self, spec: registry_service_pb2.GlobalService) -> None:
        for name, error in await self.services.load(spec):
            self._event("service:error", "", {"service": name, "error": error, "hostId": self.config.host_id})

    def _event(self, event_type: str, agent_id: str, data: dict[str, Any]) -> None:
        event = pb.HostEvent(type=event_type, agent_id=agent_id)
        event.data.update(data)
        event.time.GetCurrentTime()
        self.send(pb.ConnectRequest(event=event))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, command: pb.DeliverMessage) -> None:
        started = time.perf_counter()
        reply = await self.supervisor.deliver(command)
        self.metrics.message_latency.observe(time.perf_counter() - started)
        outcome = pb.ReplyErrorCode.Name(reply.error_code).removeprefix("REPLY_ERROR_CODE_").lower()
        self.metrics.messages.labels("ok" if not reply.error_code else outcome).inc()
        self.send(pb.ConnectRequest(message_reply=reply))

    async def _heartbeat(self, interval: float) -> None:
        while True:
            self.send(pb.ConnectRequest(heartbeat=pb.Heartbeat(load=self._load(), services=self.services.running)))
            await asyncio.sleep(interval)

    async def shutdown(self, timeout: float = 3.0) -> None:
        """Leave gracefully: report agents stopped so they move at once, then half-close."""
        self._stopping = True
        outbox = self._outbox
        if outbox is not None and self.connected.is_set():
            for report in self.supervisor.stop_all("host shutting down"):
                outbox.put_nowait(pb.ConnectRequest(agent_status=report))
            outbox.put_nowait(pb.ConnectRequest(goodbye=pb.Goodbye(reason="host shutting down")))
            outbox.put_nowait(None)
            # Give the control plane a moment to apply the reports before the process exits.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._unlinked.wait(), timeout)
