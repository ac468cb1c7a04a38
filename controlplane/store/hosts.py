"""Host records: hosts/<id>, attached to a lease the linked replica keeps alive.

When a host stops heartbeating (or its replica dies) the lease runs out, etcd deletes the
key, and every replica's view sees the host go.
"""

from __future__ import annotations

from controlplane.store import etcd
from controlplane.store.keys import Keys
from elizaos.store.v1 import records_pb2
from elizaos.v1 import system_service_pb2


class HostStore:
    """Registers hosts under leases and keeps their records fresh."""

    def __init__(self, store: etcd.Etcd, keys: Keys, ttl: int) -> None:
        self._etcd = store
        self._keys = keys
        self.ttl = ttl

    async def register(self, host: system_service_pb2.Host) -> int:
        """Write the host's record under a new lease; returns the lease id."""
        lease = await self._etcd.grant_lease(self.ttl)
        await self.write(host, lease)
        return lease

    async def write(self, host: system_service_pb2.Host, lease: int) -> None:
        """Rewrite the host's record (load, heartbeat time) under its lease."""
        record = records_pb2.HostRecord(host=host)
        await self._etcd.put(self._keys.host(host.id), record.SerializeToString(), lease=lease)

    async def keep_alive(self, lease: int) -> bool:
        """Refresh the lease; False when it is gone (the host must be registered again)."""
        return await self._etcd.refresh_lease(lease) > 0

    async def remove(self, lease: int) -> None:
        """Drop the host now (graceful disconnect): revoking the lease deletes its record."""
        await self._etcd.revoke_lease(lease)
