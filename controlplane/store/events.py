"""The event log: events are etcd keys under events/, bounded by a retention lease.

Events are written in the same transaction as the state change they describe, so a state
change and its event are never seen one without the other. Every key is attached to a lease
of `retention_seconds`; a fresh lease is taken every quarter of that, so events live between
3/4 and all of the retention and no sweeper is needed.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from controlplane.store import etcd
from controlplane.store.keys import Keys
from elizaos.v1 import event_pb2


def struct(data: Mapping[str, Any] | None) -> struct_pb2.Struct:
    """A protobuf Struct from a plain mapping."""
    out = struct_pb2.Struct()
    if data:
        out.update(dict(data))
    return out


class EventLog:
    """Builds event writes for transactions and owns the retention lease."""

    def __init__(self, store: etcd.Etcd, keys: Keys, source: str, retention_seconds: int) -> None:
        self._etcd = store
        self._keys = keys
        self._source = source
        self._retention = retention_seconds
        self._lease = 0
        self._lease_taken = 0.0
        self._lock = asyncio.Lock()
        self._counter = 0

    async def _lease_id(self) -> int:
        now = time.monotonic()
        if self._lease and now - self._lease_taken < self._retention / 4:
            return self._lease
        async with self._lock:
            if not self._lease or time.monotonic() - self._lease_taken >= self._retention / 4:
                self._lease = await self._etcd.grant_lease(self._retention)
                self._lease_taken = time.monotonic()
        return self._lease

    async def op(self, event_type: str, *, agent_id: str = "", data: Mapping[str, Any] | None = None,
                 source: str | None = None) -> Any:
        """A put operation recording one event, to include in a transaction."""
        return await self._put(self._event(event_type, agent_id, struct(data), source or self._source))

    @staticmethod
    def _event(event_type: str, agent_id: str, data: struct_pb2.Struct, source: str) -> event_pb2.Event:
        stamp = timestamp_pb2.Timestamp()
        stamp.GetCurrentTime()
        return event_pb2.Event(type=event_type, timestamp=stamp, data=data, agent_id=agent_id, source=source)

    async def _put(self, event: event_pb2.Event) -> Any:
        self._counter += 1
        # Time first so keys sort by time; pid+counter keeps keys from one process unique.
        name = f"{time.time_ns():020d}-{os.getpid():x}-{self._counter:x}"
        return etcd.put(self._keys.event(name), event.SerializeToString(), lease=await self._lease_id())

    async def emit(self, event_type: str, *, agent_id: str, data: struct_pb2.Struct,
                   source: str) -> event_pb2.Event:
        """Record a custom event with a Struct payload; returns it with its revision."""
        event = self._event(event_type, agent_id, data, source)
        event.revision = (await self._etcd.txn([], [await self._put(event)])).revision
        return event

    async def record(self, event_type: str, *, agent_id: str = "", data: Mapping[str, Any] | None = None,
                     source: str | None = None) -> int:
        """Record one event on its own; returns its revision."""
        op = await self.op(event_type, agent_id=agent_id, data=data, source=source)
        result = await self._etcd.txn([], [op])
        return result.revision

    async def list(self) -> list[event_pb2.Event]:
        """Every retained event, oldest first, with its revision."""
        kvs, _ = await self._etcd.get_prefix(self._keys.prefix("events"))
        out = []
        for kv in sorted(kvs, key=lambda kv: kv.mod_revision):
            event = event_pb2.Event.FromString(kv.value)
            event.revision = kv.mod_revision
            out.append(event)
        return out
