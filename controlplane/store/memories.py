"""Conversation memories: memories/<agent>/<room>/<sequence>, a bounded window per room."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from controlplane.store import etcd
from controlplane.store.keys import Keys
from elizaos.v1 import agent_pb2


class MemoryStore:
    """Durable conversation memory; each room keeps only its newest `window` entries."""

    def __init__(self, store: etcd.Etcd, keys: Keys, window: int) -> None:
        self._etcd = store
        self._keys = keys
        self._window = window

    async def append(self, agent_id: str, memories: Sequence[agent_pb2.Memory],
                     cache_set: Mapping[str, str] | None = None, cache_delete: Sequence[str] = ()) -> int:
        """Write memories and cache changes and trim each room touched, in one transaction."""
        if not memories and not cache_set and not cache_delete:
            return 0
        ops = [etcd.put(self._keys.cache_entry(agent_id, k), v.encode()) for k, v in (cache_set or {}).items()]
        ops += [etcd.delete(self._keys.cache_entry(agent_id, k)) for k in cache_delete]
        newest: dict[str, int] = {}
        added: dict[str, int] = {}
        for memory in memories:
            ops.append(etcd.put(self._keys.memory(agent_id, memory.room_id, memory.sequence),
                                memory.SerializeToString()))
            newest[memory.room_id] = max(newest.get(memory.room_id, 0), memory.sequence)
            added[memory.room_id] = added.get(memory.room_id, 0) + 1
        for room, sequence in newest.items():
            oldest_kept = sequence - self._window + 1
            if oldest_kept > 1:
                # Only the entries that just left the window: a range from the room's start would
                # walk every deleted key etcd still indexes until it compacts (slower each message).
                first = max(oldest_kept - added[room], 1)
                ops.append(etcd.delete(self._keys.memory(agent_id, room, first),
                                       end=self._keys.memory(agent_id, room, oldest_kept)))
        result = await self._etcd.txn([], ops)
        return result.revision

    async def snapshot(self, agent_id: str) -> list[agent_pb2.Memory]:
        """Every stored memory of an agent, by room, oldest first, at most `window` per room.

        Rooms holding more (the window was made smaller) are trimmed here, once per placement.
        """
        kvs, _ = await self._etcd.get_prefix(self._keys.memories(agent_id))
        memories = [agent_pb2.Memory.FromString(kv.value) for kv in kvs]
        by_room: dict[str, list[agent_pb2.Memory]] = {}
        for memory in memories:
            by_room.setdefault(memory.room_id, []).append(memory)
        trims = []
        kept: list[agent_pb2.Memory] = []
        for room, entries in by_room.items():
            if len(entries) > self._window:
                oldest_kept = entries[-self._window].sequence
                trims.append(etcd.delete(self._keys.room(agent_id, room),
                                         end=self._keys.memory(agent_id, room, oldest_kept)))
                entries = entries[-self._window:]
            kept.extend(entries)
        if trims:
            await self._etcd.txn([], trims)
        return kept

    async def cache(self, agent_id: str) -> dict[str, str]:
        """The agent's durable cache."""
        prefix = self._keys.cache(agent_id)
        kvs, _ = await self._etcd.get_prefix(prefix)
        return {kv.key[len(prefix):].decode(): kv.value.decode() for kv in kvs}

    async def room(self, agent_id: str, room_id: str) -> list[agent_pb2.Memory]:
        """The stored memories of one room, oldest first."""
        kvs, _ = await self._etcd.get_prefix(self._keys.room(agent_id, room_id))
        return [agent_pb2.Memory.FromString(kv.value) for kv in kvs]
