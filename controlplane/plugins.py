"""The global plugin registry behind PluginService, and its distribution to hosts.

Registrations live in etcd (plugins/<name>). Every replica's view watches them and each
replica tells the hosts linked to it: LoadPlugin on register (and to every host that links
later, before any agent is started there), UnloadPlugin on unregister.
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf import struct_pb2

from controlplane.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from controlplane.hostlink import HostSession, Sessions
from controlplane.store import etcd
from controlplane.store.events import EventLog
from controlplane.store.keys import Keys, check_name
from controlplane.store.registrations import Registrations
from controlplane.view import ClusterView
from elizaos.host.v1 import host_link_pb2 as pb
from elizaos.v1 import plugin_service_pb2

_REF = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
MAX_CONFIG_BYTES = 16 * 1024


def check_ref(field: str, ref: str) -> None:
    """A plugin reference: an installed name or `package.module:attr`."""
    if ":" in ref:
        if not _REF.fullmatch(ref) or len(ref) > 256:
            raise InvalidArgument([(field, "must be an installed plugin name or 'package.module:attr'")])
    else:
        check_name(field, ref)


class GlobalPlugins:
    """Register, unregister, read and distribute global plugins."""

    def __init__(self, *, store: etcd.Etcd, keys: Keys, events: EventLog, view: ClusterView,
                 sessions: Sessions) -> None:
        self._store = Registrations(kind="plugins", record=plugin_service_pb2.Plugin, noun="global plugin",
                                    store=store, keys=keys, events=events, view=view)
        self._view = view
        self._sessions = sessions
        view.on_registry("plugins", self._changed)
        sessions.on_open(self._load_all)

    # -- distribution ----------------------------------------------------------------------------

    @staticmethod
    def _load_message(plugin: plugin_service_pb2.Plugin) -> pb.ConnectResponse:
        return pb.ConnectResponse(load_plugin=pb.LoadPlugin(name=plugin.name, ref=plugin.ref, config=plugin.config))

    def _load_all(self, session: HostSession) -> None:
        for plugin in self._view.plugins.values():
            session.send(self._load_message(plugin))

    def _changed(self, name: str, plugin: plugin_service_pb2.Plugin | None) -> None:
        if plugin is None:
            message = pb.ConnectResponse(unload_plugin=pb.UnloadPlugin(name=name))
        else:
            message = self._load_message(plugin)
        for session in self._sessions.all():
            if not session.closed:
                session.send(message)

    # -- operations ------------------------------------------------------------------------------

    def _installed_on(self, name: str) -> list[str]:
        return sorted(h for h, record in self._view.hosts.items() if name in record.host.plugins)

    def _with_counts(self, plugin: plugin_service_pb2.Plugin) -> plugin_service_pb2.Plugin:
        out = plugin_service_pb2.Plugin()
        out.CopyFrom(plugin)
        if out.is_global:
            out.agent_count = len(self._view.agents)
        else:
            out.agent_count = sum(1 for r in self._view.agents.values() if plugin.name in r.agent.plugins)
        out.hosts[:] = self._installed_on(plugin.name)
        return out

    async def register(self, name: str, ref: str, config: struct_pb2.Struct) -> plugin_service_pb2.Plugin:
        """Register a global plugin (idempotent for the same ref and config)."""
        ref = ref or name
        if ":" not in ref and self._view.hosts and not self._installed_on(ref):
            raise FailedPrecondition(f"no connected host has plugin {ref!r} installed",
                                     reason="PLUGIN_NOT_INSTALLED", metadata={"plugin": ref})
        plugin = plugin_service_pb2.Plugin(name=name, ref=ref, config=config, is_global=True)
        plugin.create_time.GetCurrentTime()
        if not await self._store.create(name, plugin, "plugin:registered", {"name": name, "ref": ref}):
            existing = await self._store.read(name)
            if existing.ref == ref and existing.config == config:
                return self._with_counts(existing)
            raise AlreadyExists(f"global plugin {name!r} is registered already with another ref or config",
                                reason="PLUGIN_EXISTS", metadata={"plugin": name})
        return self._with_counts(plugin)

    async def unregister(self, name: str) -> None:
        """Unregister a global plugin; hosts remove it from running agents."""
        await self._store.delete(name, "plugin:unregistered")

    async def get(self, name: str) -> plugin_service_pb2.Plugin:
        """A global registration, or a plugin installed on some host."""
        try:
            return self._with_counts(await self._store.read(name))
        except NotFound:
            if self._installed_on(name):
                return self._with_counts(plugin_service_pb2.Plugin(name=name, ref=name))
            raise

    def list(self) -> list[plugin_service_pb2.Plugin]:
        """Global plugins and installed plugins, by name."""
        known: dict[str, Any] = {name: p for name, p in self._view.plugins.items()}
        for record in self._view.hosts.values():
            for name in record.host.plugins:
                known.setdefault(name, plugin_service_pb2.Plugin(name=name, ref=name))
        return [self._with_counts(known[name]) for name in sorted(known)]
