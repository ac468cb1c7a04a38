"""Conversation memories: memories/<agent>/<room>/<sequence>, a bounded window per room."""

from __future__ import annotations

from collections.abc import Sequence

from controlplane.store import etcd
from controlplane.store.keys import Keys
from elizaos.v1 import agent_pb2


class MemoryStore:
    """Durable conversation memory; each room keeps only its newest `window` entries."""

    def __init__(self, store: etcd.Etcd, keys: Keys, window: int) -> None:
        self._etcd = store
        self._keys = keys
        self._window = window

    async def append(self, agent_id: str, memories: Sequence[agent_pb2.Memory]) -> int:
        """Write memories and trim each room they touch, in one transaction; returns the revision."""
        if not memories:
            return 0
        ops = []
        newest: dict[str, int] = {}
        for memory in memories:
            ops.append(etcd.put(self._keys.memory(agent_id, memory.room_id, memory.sequence),
                                memory.SerializeToString()))
            newest[memory.room_id] = max(newest.get(memory.room_id, 0), memory.sequence)
        for room, sequence in newest.items():
            oldest_kept = sequence - self._window + 1
            if oldest_kept > 0:
                ops.append(etcd.delete(self._keys.room(agent_id, room),
                                       end=self._keys.memory(agent_id, room, oldest_kept)))
        result = await self._etcd.txn([], ops)
        return result.revision

    async def snapshot(self, agent_id: str) -> list[agent_pb2.Memory]:
        """Every stored memory of an agent, by room, oldest first (bounded by the window per room)."""
        kvs, _ = await self._etcd.get_prefix(self._keys.memories(agent_id))
        return [agent_pb2.Memory.FromString(kv.value) for kv in kvs]

    async def room(self, agent_id: str, room_id: str) -> list[agent_pb2.Memory]:
        """The stored memories of one room, oldest first."""
        kvs, _ = await self._etcd.get_prefix(self._keys.room(agent_id, room_id))
        return [agent_pb2.Memory.FromString(kv.value) for kv in kvs]
