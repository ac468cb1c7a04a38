"""Global services on this host: one instance per class service, and endpoint descriptions.

Class services start in dependency order: a service whose dependencies are not running yet
waits and starts as soon as they are. Unregistering stops the service and, first, whatever
depends on it (those wait again for it to come back).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format

from elizaos._plugin import Service, ServiceContext
from elizaos.v1 import registry_service_pb2 as pb

log = logging.getLogger(__name__)
START_TIMEOUT = 10.0


class ServiceLoadError(Exception):
    """A class service could not be imported or started."""


def resolve_service(ref: str) -> Service:
    """The Service behind `package.module:attr` (a Service or a zero-argument factory of one)."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ServiceLoadError(f"{ref!r} is not an import reference 'package.module:attr'")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise ServiceLoadError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ServiceLoadError(f"{module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if not isinstance(target, Service) and callable(target):
        target = target()
    if not isinstance(target, Service):
        raise ServiceLoadError(f"{ref!r} is a {type(target).__name__}, not an elizaos.Service")
    return target


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    """What agents get for an endpoint service."""

    name: str
    address: str
    protocol: str
    metadata: dict[str, str]


class HostServices:
    """The global services of one host."""

    def __init__(self, resolve: Callable[[str], Service] = resolve_service) -> None:
        self._resolve = resolve
        self._specs: dict[str, pb.GlobalService] = {}
        self._running: dict[str, tuple[Service, Any]] = {}
        self._endpoints: dict[str, Endpoint] = {}
        self._lock = asyncio.Lock()

    def get(self, name: str) -> Any:
        """The running instance of a class service, an Endpoint, or None."""
        running = self._running.get(name)
        if running is not None:
            return running[1]
        return self._endpoints.get(name)

    @property
    def running(self) -> list[str]:
        """Names of class services running here, in start order."""
        return list(self._running)

    async def load(self, spec: pb.GlobalService) -> list[tuple[str, str]]:
        """Record or start a service; returns (service, error) for services that failed to start."""
        async with self._lock:
            if spec.kind == pb.SERVICE_KIND_ENDPOINT:
                self._endpoints[spec.name] = Endpoint(spec.name, spec.address, spec.protocol, dict(spec.metadata))
                return []
            self._specs[spec.name] = spec
            return await self._start_ready()

    async def _start_ready(self) -> list[tuple[str, str]]:
        failures: list[tuple[str, str]] = []
        failed: set[str] = set()
        progress = True
        while progress:
            progress = False
            for name, spec in list(self._specs.items()):
                if name in self._running or name in failed:
                    continue
                if not all(dep in self._running for dep in spec.dependencies):
                    continue
                try:
                    await self._start(spec)
                    progress = True
                except Exception as exc:
                    failed.add(name)
                    message = str(exc) if isinstance(exc, ServiceLoadError) else f"{type(exc).__name__}: {exc}"
                    log.warning("event=service_start_failed service=%s error=%s", name, message)
                    failures.append((name, message))
        return failures

    async def _start(self, spec: pb.GlobalService) -> None:
        service = self._resolve(spec.ref)
        config = json_format.MessageToDict(spec.config) if spec.HasField("config") else {}
        try:
            instance = await asyncio.wait_for(service.start(ServiceContext(config=config, get_service=self.get)),
                                              START_TIMEOUT)
        except TimeoutError:
            raise ServiceLoadError(f"start did not finish within {START_TIMEOUT:g}s") from None
        self._running[spec.name] = (service, instance)
        log.info("event=service_started service=%s", spec.name)

    async def unload(self, name: str) -> None:
        """Stop a service (and, before it, the services that depend on it) and forget it."""
        async with self._lock:
            self._endpoints.pop(name, None)
            await self._stop_with_dependents(name)
            self._specs.pop(name, None)

    async def _stop_with_dependents(self, name: str) -> None:
        for other, spec in list(self._specs.items()):
            if name in spec.dependencies and other in self._running:
                await self._stop_with_dependents(other)
        running = self._running.pop(name, None)
        if running is None:
            return
        service, instance = running
        if service.stop is not None:
            try:
                await asyncio.wait_for(service.stop(instance), START_TIMEOUT)
            except Exception as exc:
                log.warning("event=service_stop_failed service=%s error=%r", name, exc)
        log.info("event=service_stopped service=%s", name)

    async def stop_all(self) -> None:
        """Stop every class service, dependents first."""
        async with self._lock:
            for name in reversed(list(self._running)):
                await self._stop_with_dependents(name)
