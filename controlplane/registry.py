"""Global services behind RegistryService: registrations, distribution to hosts, health.

Registrations live in etcd (services/<name>). Each replica tells the hosts linked to it to
start class services (one instance per host) or to record endpoints. The leader probes gRPC
endpoints with grpc.health.v1 and records `service:error` when one turns unhealthy.
"""

from __future__ import annotations

import asyncio
import logging
import re

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from controlplane.errors import AlreadyExists, InvalidArgument
from controlplane.hostlink import HostSession, Sessions
from controlplane.store import etcd
from controlplane.store.events import EventLog
from controlplane.store.keys import Keys, check_name
from controlplane.store.registrations import Registrations
from controlplane.view import ClusterView
from elizaos.host.v1 import host_link_pb2 as pb
from elizaos.v1 import registry_service_pb2 as rs

log = logging.getLogger(__name__)

_REF = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
MAX_CONFIG_BYTES = 16 * 1024
PROBE_INTERVAL = 5.0
PROBE_TIMEOUT = 2.0


def validate(service: rs.GlobalService) -> None:
    """Check a registration; every problem is reported, by field path."""
    problems: list[tuple[str, str]] = []
    try:
        check_name("service.name", service.name)
    except InvalidArgument as exc:
        problems.extend(exc.violations)
    if service.kind == rs.SERVICE_KIND_CLASS:
        if not _REF.fullmatch(service.ref):
            problems.append(("service.ref", "must be an import reference 'package.module:attr'"))
        if service.address:
            problems.append(("service.address", "only endpoint services have an address"))
        for i, dep in enumerate(service.dependencies):
            if dep == service.name:
                problems.append((f"service.dependencies[{i}]", "a service cannot depend on itself"))
            elif not dep:
                problems.append((f"service.dependencies[{i}]", "must not be empty"))
    elif service.kind == rs.SERVICE_KIND_ENDPOINT:
        if not service.address or len(service.address) > 256:
            problems.append(("service.address", "is required (host:port or URL, at most 256 characters)"))
        if not service.protocol or len(service.protocol) > 32:
            problems.append(("service.protocol", "is required, e.g. 'grpc' or 'http'"))
        if service.ref:
            problems.append(("service.ref", "only class services have a ref"))
    else:
        problems.append(("service.kind", "must be SERVICE_KIND_CLASS or SERVICE_KIND_ENDPOINT"))
    if service.config.ByteSize() > MAX_CONFIG_BYTES:
        problems.append(("service.config", f"must be at most {MAX_CONFIG_BYTES} bytes"))
    if sum(len(k) + len(v) for k, v in service.metadata.items()) > 4096:
        problems.append(("service.metadata", "must be at most 4096 bytes"))
    if problems:
        raise InvalidArgument(problems)


def _spec(service: rs.GlobalService) -> rs.GlobalService:
    """The user-given part of a registration (what makes two registrations the same)."""
    out = rs.GlobalService()
    out.CopyFrom(service)
    for field in ("health", "health_reason", "hosts", "create_time", "revision"):
        out.ClearField(field)
    return out


class GlobalServices:
    """Register, unregister, read, distribute and probe global services."""

    def __init__(self, *, store: etcd.Etcd, keys: Keys, events: EventLog, view: ClusterView,
                 sessions: Sessions) -> None:
        self._store = Registrations(kind="services", record=rs.GlobalService, noun="global service", store=store,
                                    keys=keys, events=events, view=view)
        self._events = events
        self._view = view
        self._sessions = sessions
        view.on_registry("services", self._changed)
        sessions.on_open(self._load_all)

    def _load_all(self, session: HostSession) -> None:
        for service in self._view.services.values():
            session.send(pb.ConnectResponse(load_service=pb.LoadService(service=_spec(service))))

    def _changed(self, name: str, service: rs.GlobalService | None) -> None:
        if service is None:
            message = pb.ConnectResponse(unload_service=pb.UnloadService(name=name))
        else:  # hosts treat a repeated load (e.g. after a health update) as a no-op
            message = pb.ConnectResponse(load_service=pb.LoadService(service=_spec(service)))
        for session in self._sessions.all():
            if not session.closed:
                session.send(message)

    def _with_hosts(self, service: rs.GlobalService) -> rs.GlobalService:
        out = rs.GlobalService()
        out.CopyFrom(service)
        if service.kind == rs.SERVICE_KIND_CLASS:
            out.hosts[:] = sorted(h for h, r in self._view.hosts.items() if service.name in r.host.services)
            if out.hosts and len(out.hosts) == len(self._view.hosts):
                out.health, out.health_reason = rs.SERVICE_HEALTH_HEALTHY, ""
            elif self._view.hosts:
                missing = sorted(set(self._view.hosts) - set(out.hosts))
                out.health = rs.SERVICE_HEALTH_UNHEALTHY
                out.health_reason = out.health_reason or f"not running on {', '.join(missing)}"
            else:
                out.health, out.health_reason = rs.SERVICE_HEALTH_UNKNOWN, "no agent host connected"
        return out

    async def register(self, service: rs.GlobalService) -> rs.GlobalService:
        """Register a service (idempotent for an identical registration)."""
        validate(service)
        record = _spec(service)
        record.health = rs.SERVICE_HEALTH_UNKNOWN
        record.create_time.GetCurrentTime()
        data = {"name": service.name, "kind": rs.ServiceKind.Name(service.kind)}
        if not await self._store.create(service.name, record, "service:registered", data):
            existing = await self._store.read(service.name)
            if _spec(existing) == _spec(service):
                return self._with_hosts(existing)
            raise AlreadyExists(f"global service {service.name!r} is registered already, differently",
                                reason="SERVICE_EXISTS", metadata={"service": service.name})
        return self._with_hosts(record)

    async def unregister(self, name: str) -> None:
        """Unregister; hosts stop class instances."""
        await self._store.delete(name, "service:unregistered")

    async def get(self, name: str) -> rs.GlobalService:
        """One registration with its hosts and health."""
        return self._with_hosts(await self._store.read(name))

    def list(self) -> list[rs.GlobalService]:
        """Every registration, by name."""
        return [self._with_hosts(self._view.services[n]) for n in sorted(self._view.services)]

    # -- health (leader) -------------------------------------------------------------------------

    async def probe_forever(self) -> None:
        """Probe gRPC endpoints until cancelled."""
        while True:
            await self.probe_once()
            await asyncio.sleep(PROBE_INTERVAL)

    async def probe_once(self) -> None:
        """Probe every gRPC endpoint once; record health changes (and service:error when unhealthy)."""
        services = [s for s in self._view.services.values()
                    if s.kind == rs.SERVICE_KIND_ENDPOINT and s.protocol.lower() == "grpc"]
        results = await asyncio.gather(*(self._probe(s.address) for s in services))
        for service, (healthy, reason) in zip(services, results, strict=True):
            health = rs.SERVICE_HEALTH_HEALTHY if healthy else rs.SERVICE_HEALTH_UNHEALTHY
            if service.health == health and service.health_reason == reason:
                continue
            await self._record_health(service, health, reason)

    @staticmethod
    async def _probe(address: str) -> tuple[bool, str]:
        try:
            async with grpc.aio.insecure_channel(address) as channel:
                response = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=PROBE_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            return False, f"health check failed: {exc.code().name}"
        if response.status != health_pb2.HealthCheckResponse.SERVING:
            return False, f"health status {health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)}"
        return True, ""

    async def _record_health(self, service: rs.GlobalService, health: int, reason: str) -> None:
        updated = _spec(service)
        updated.create_time.CopyFrom(service.create_time)
        updated.health, updated.health_reason = health, reason  # type: ignore[assignment]
        extra = []
        if health == rs.SERVICE_HEALTH_UNHEALTHY:
            extra.append(await self._events.op("service:error", data={"service": service.name, "error": reason,
                                                                      "address": service.address}))
        if await self._store.replace(service.name, updated, service.revision, extra):
            log.info("event=service_health service=%s health=%s reason=%s", service.name,
                     rs.ServiceHealth.Name(health), reason)  # type: ignore[arg-type]
