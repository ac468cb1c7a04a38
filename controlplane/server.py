"""Assembles one control-plane replica: etcd, the view, the reconciler, the gRPC server.

Start: connect etcd, load the view, serve (API, host link, health, reflection), campaign for
leadership. Stop: health NOT_SERVING, stop leading, `server.stop(grace)`, close etcd.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from controlplane.agents import Agents
from controlplane.api.agents import AgentServicer
from controlplane.api.events import EventServicer
from controlplane.api.plugins import PluginServicer
from controlplane.api.registry import RegistryServicer
from controlplane.api.system import SystemServicer
from controlplane.config import Config
from controlplane.election import LeaderElection
from controlplane.eventhub import EventHub
from controlplane.hostlink import HostLinkServicer, Sessions
from controlplane.metrics import ControlPlaneMetrics
from controlplane.middleware.limits import RateLimitInterceptor
from controlplane.middleware.metrics import MetricsInterceptor
from controlplane.middleware.tracing import tracing_interceptors
from controlplane.overload import OverloadWatch
from controlplane.plugins import GlobalPlugins
from controlplane.reconciler import Reconciler
from controlplane.registry import GlobalServices
from controlplane.store.agents import AgentStore
from controlplane.store.etcd import Etcd
from controlplane.store.events import EventLog
from controlplane.store.hosts import HostStore
from controlplane.store.keys import Keys
from controlplane.store.memories import MemoryStore
from controlplane.system import System
from controlplane.view import ClusterView
from elizaos.host.v1 import host_link_pb2, host_link_pb2_grpc
from elizaos.v1 import (
    agent_service_pb2,
    agent_service_pb2_grpc,
    event_service_pb2,
    event_service_pb2_grpc,
    plugin_service_pb2,
    plugin_service_pb2_grpc,
    registry_service_pb2,
    registry_service_pb2_grpc,
    system_service_pb2,
    system_service_pb2_grpc,
)

log = logging.getLogger(__name__)

SERVICE_NAMES = (
    agent_service_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
    system_service_pb2.DESCRIPTOR.services_by_name["SystemService"].full_name,
    plugin_service_pb2.DESCRIPTOR.services_by_name["PluginService"].full_name,
    event_service_pb2.DESCRIPTOR.services_by_name["EventService"].full_name,
    registry_service_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name,
    host_link_pb2.DESCRIPTOR.services_by_name["HostLinkService"].full_name,
)

# Keep streams healthy across idle periods and notice dead peers quickly.
SERVER_OPTIONS = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
    ("grpc.so_reuseport", 0),
]


def replica_id(config: Config) -> str:
    """Stable across restarts of the same replica (same host and port), unique otherwise."""
    if config.server.port:
        return f"cp-{socket.gethostname()}-{config.server.port}"[:100]
    return f"cp-{socket.gethostname()}-{uuid.uuid4().hex[:8]}"[:100]


class ControlPlane:
    """One control-plane replica."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.replica_id = replica_id(config)
        self.keys = Keys(config.name)
        self.metrics = ControlPlaneMetrics()
        self.etcd = Etcd(config.etcd, timer=self.metrics.time_etcd)
        self.view = ClusterView(self.etcd, self.keys)
        self.metrics.watch_view(self.view)
        self.sessions = Sessions()
        self.events = EventLog(self.etcd, self.keys, f"controlplane/{self.replica_id}",
                               config.events.retention_seconds)
        self.agent_store = AgentStore(self.etcd, self.keys, self.events, known_slots=lambda: self.view.slots)
        self.memories = MemoryStore(self.etcd, self.keys, config.persistence.memory_window)
        self.election = LeaderElection(self.etcd, self.keys, self.replica_id,
                                       config.cluster.host_lease_ttl_seconds)
        self.reconciler = Reconciler(config=config, view=self.view, agents=self.agent_store,
                                     memories=self.memories, sessions=self.sessions, events=self.events)
        self.agents = Agents(config=config, store=self.agent_store, memories=self.memories, view=self.view,
                             sessions=self.sessions, events=self.events, metrics=self.metrics)
        self.hub = EventHub(self.etcd, self.keys, self.metrics)
        self.plugins = GlobalPlugins(store=self.etcd, keys=self.keys, events=self.events, view=self.view,
                                     sessions=self.sessions)
        self.services = GlobalServices(store=self.etcd, keys=self.keys, events=self.events, view=self.view,
                                       sessions=self.sessions)
        self.overload = OverloadWatch(self.view, self.events, config.cluster.scale_threshold,
                                      config.cluster.heartbeat_interval_ms / 1000)
        self.system = System(config=config, store=self.etcd, keys=self.keys, view=self.view,
                             replica_id=self.replica_id, is_leader=self.election,
                             event_revision=lambda: self.hub.revision, overload=self.overload)
        self.health = health.aio.HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.port = 0
        self._campaign: asyncio.Task[None] | None = None
        self._health_task: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Connect, serve and campaign; returns the bound port."""
        await self.etcd.connect()
        await self.view.start()
        await self.hub.start()
        # Tracing first: its server span covers the other interceptors and is current in the handlers.
        interceptors: list[grpc.aio.ServerInterceptor] = [*tracing_interceptors(), MetricsInterceptor(self.metrics)]
        limits = self.config.resource_limits
        if self.config.server.rate_limit and limits.max_requests_per_minute:
            interceptors.append(RateLimitInterceptor(limits.max_requests_per_minute))
        server = grpc.aio.server(options=SERVER_OPTIONS, interceptors=interceptors)
        agent_service_pb2_grpc.add_AgentServiceServicer_to_server(AgentServicer(self.agents, self.config), server)
        system_service_pb2_grpc.add_SystemServiceServicer_to_server(SystemServicer(self.system), server)
        plugin_service_pb2_grpc.add_PluginServiceServicer_to_server(PluginServicer(self.plugins), server)
        registry_service_pb2_grpc.add_RegistryServiceServicer_to_server(RegistryServicer(self.services), server)
        event_service_pb2_grpc.add_EventServiceServicer_to_server(EventServicer(self.hub, self.events), server)
        host_link_pb2_grpc.add_HostLinkServiceServicer_to_server(
            HostLinkServicer(
                hosts=HostStore(self.etcd, self.keys, self.config.cluster.host_lease_ttl_seconds),
                sessions=self.sessions,
                handler=self.reconciler,
                controlplane_id=self.replica_id,
                cluster=self.config.name,
                heartbeat_interval_ms=self.config.cluster.heartbeat_interval_ms,
                join_token=self.config.cluster.join_token,
            ),
            server,
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            server,
        )
        address = f"{self.config.server.host}:{self.config.server.port}"
        self.port = server.add_insecure_port(address)
        if self.port == 0:
            raise OSError(f"cannot listen on {address}")
        await server.start()
        self.server = server
        telemetry = self.config.telemetry
        if telemetry.metrics_port >= 0:
            metrics_port = self.metrics.serve(telemetry.metrics_host, telemetry.metrics_port)
            log.info("event=metrics_serving address=%s:%d", telemetry.metrics_host, metrics_port)
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        await self.events.record("system:started", data={"controlplaneId": self.replica_id, "port": self.port,
                                                         "pid": os.getpid()})
        self._campaign = asyncio.create_task(self.election.run(self._lead), name="election")
        self._health_task = asyncio.create_task(self._follow_health(), name="health")
        log.info("event=controlplane_started replica=%s address=%s:%d cluster=%s", self.replica_id,
                 self.config.server.host, self.port, self.config.name)
        return self.port

    async def _lead(self) -> None:
        """What the leader runs: the reconciler and the endpoint health probes."""
        await asyncio.gather(self.reconciler.lead(), self.services.probe_forever(), self.overload.run())

    async def _follow_health(self) -> None:
        """grpc.health.v1's overall status ("") follows CheckHealth: etcd, a leader, linked hosts."""
        serving = True
        while True:
            try:
                healthy = (await self.system.health()).healthy
            except Exception as exc:
                log.warning("event=health_check_failed error=%r", exc)
                healthy = False
            if healthy != serving:
                serving = healthy
                states = health_pb2.HealthCheckResponse
                await self.health.set("", states.SERVING if healthy else states.NOT_SERVING)
            await asyncio.sleep(max(self.config.cluster.heartbeat_interval_ms / 1000, 0.2))

    async def stop(self) -> None:
        """Graceful shutdown: NOT_SERVING, stop leading, let RPCs finish within the grace period."""
        if self._health_task is not None:
            self._health_task.cancel()
        await self.health.enter_graceful_shutdown()
        self.metrics.close()
        if self._campaign is not None:
            self._campaign.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._campaign
        for session in self.sessions.all():
            session.close()
        if self.server is not None:
            await self.server.stop(self.config.server.grace_seconds)
        with contextlib.suppress(Exception):
            await self.events.record("system:stopped", data={"controlplaneId": self.replica_id})
        await self.hub.stop()
        await self.view.stop()
        await self.etcd.close()
        log.info("event=controlplane_stopped replica=%s", self.replica_id)

    async def wait(self) -> None:
        """Serve until the server ends."""
        if self.server is not None:
            await self.server.wait_for_termination()
