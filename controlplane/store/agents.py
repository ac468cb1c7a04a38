"""Agent records in etcd: create (with max_agents and idempotency in one transaction),
read, list with pagination, compare-and-swap updates, delete.

Each agent holds one of `max_agents` slot keys; the create transaction requires its slot key
to be absent, so the limit holds across every replica without a global lock.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Awaitable, Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from google.protobuf import timestamp_pb2

from controlplane.errors import Aborted, InvalidArgument, NotFound, ResourceExhausted
from controlplane.store import etcd
from controlplane.store.keys import Keys, check_uuid, range_end
from elizaos.store.v1 import records_pb2
from elizaos.v1 import agent_pb2

# A mutation returns the events to record with it (type, data), or None to write nothing.
Mutation = Callable[[agent_pb2.Agent], "list[tuple[str, dict[str, Any]]] | None"]

_CAS_ATTEMPTS = 16


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def decode(kv: etcd.KV) -> records_pb2.AgentRecord:
    """An agent record from its etcd value, with agent.revision set to the key's mod_revision."""
    record = records_pb2.AgentRecord.FromString(kv.value)
    record.agent.revision = kv.mod_revision
    return record


def encode_page_token(last_id: str) -> str:
    """Opaque page token pointing after `last_id`."""
    return base64.urlsafe_b64encode(last_id.encode()).decode()


def decode_page_token(token: str) -> str:
    """The agent id a page token points after; InvalidArgument if it is not one of ours."""
    try:
        return check_uuid("page_token", base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, UnicodeDecodeError, InvalidArgument):
        raise InvalidArgument([("page_token", "is not a token returned by a previous ListAgents")]) from None


class AgentStore:
    """All reads and writes of agent records."""

    def __init__(self, store: etcd.Etcd, keys: Keys, events: Any,
                 known_slots: Callable[[], AbstractSet[int]] | None = None) -> None:
        self._etcd = store
        self._keys = keys
        self._events = events
        # Slots this replica already knows are taken (from its view): picking outside them
        # avoids collisions, so a nearly full table costs no extra reads.
        self._known_slots = known_slots or (lambda: frozenset())
        self._reserved: set[int] = set()

    async def _event_ops(self, agent_id: str, events: Sequence[tuple[str, dict[str, Any]]]) -> list[Any]:
        return [await self._events.op(kind, agent_id=agent_id, data=data) for kind, data in events]

    async def get(self, agent_id: str) -> records_pb2.AgentRecord:
        """The record of one agent; NotFound if there is none."""
        kv = await self._etcd.get(self._keys.agent(agent_id))
        if kv is None:
            raise NotFound(f"agent {agent_id} not found", reason="AGENT_NOT_FOUND", metadata={"agent_id": agent_id})
        return decode(kv)

    async def find_request(self, request_id: str) -> records_pb2.AgentRecord | None:
        """The agent an earlier create with this request id made, if it still exists."""
        kv = await self._etcd.get(self._keys.request(request_id))
        if kv is None:
            return None
        try:
            return await self.get(kv.value.decode())
        except NotFound:
            return None

    async def create(self, agent: agent_pb2.Agent, *, max_agents: int,
                     events: Sequence[tuple[str, dict[str, Any]]]) -> records_pb2.AgentRecord:
        """Store a new agent (its id already set) in one transaction with its slot, request id and events.

        A repeated request id fails the transaction's compare; the earlier agent is returned then.
        """
        slots = self._keys.prefix("slots/agents")
        # Slots at or past max_agents exist only if the limit was lowered; then count them all.
        # Normally that range is empty, so this stays O(1) however many agents there are.
        beyond, _, _ = await self._etcd.range(self._keys.agent_slot(max_agents), range_end(slots), limit=1,
                                              keys_only=True)
        if beyond and await self._etcd.count(slots) >= max_agents:
            raise self._full(max_agents)
        agent.create_time.CopyFrom(_now())
        agent.update_time.CopyFrom(agent.create_time)
        agent_key = self._keys.agent(agent.id)
        event_ops = await self._event_ops(agent.id, events)
        taken: AbstractSet[int] = self._known_slots()
        for attempt in range(_CAS_ATTEMPTS):
            slot = self._free_slot(max_agents, taken)
            record = records_pb2.AgentRecord(agent=agent, slot=slot)
            compare = [etcd.missing(self._keys.agent_slot(slot)), etcd.missing(agent_key)]
            success = [
                etcd.put(self._keys.agent_slot(slot), agent.id.encode()),
                etcd.put(agent_key, record.SerializeToString()),
                *event_ops,
            ]
            if agent.request_id:
                compare.append(etcd.missing(self._keys.request(agent.request_id)))
                success.append(etcd.put(self._keys.request(agent.request_id), agent.id.encode()))
            self._reserved.add(slot)
            try:
                result = await self._etcd.txn(compare, success)
            finally:
                self._reserved.discard(slot)
            if result.succeeded:
                record.agent.revision = result.revision
                return record
            if agent.request_id:
                existing = await self.find_request(agent.request_id)
                if existing is not None:
                    return existing
            if attempt >= 1:
                # Still colliding (other replicas are creating too): read the table itself.
                kvs, _ = await self._etcd.get_prefix(slots, keys_only=True)
                taken = {int(kv.key[len(slots):]) for kv in kvs}
        raise Aborted("could not allocate an agent slot under contention; retry", reason="SLOT_CONTENTION")

    def _free_slot(self, max_agents: int, taken: AbstractSet[int]) -> int:
        """A random slot outside `taken` and this replica's in-flight creates; full if there is none."""
        busy = len(taken) + len(self._reserved)
        if busy < max_agents * 0.9:
            for _ in range(64):
                slot = random.randrange(max_agents)
                if slot not in taken and slot not in self._reserved:
                    return slot
        free = [s for s in range(max_agents) if s not in taken and s not in self._reserved]
        if not free:
            raise self._full(max_agents)
        return random.choice(free)

    @staticmethod
    def _full(max_agents: int) -> ResourceExhausted:
        return ResourceExhausted(
            f"the cluster holds its maximum of {max_agents} agents; delete one or raise max_agents",
            retry_after=5.0,
            reason="MAX_AGENTS_REACHED",
            metadata={"max_agents": str(max_agents)},
        )

    async def update(self, agent_id: str, mutate: Mutation, *, expected_revision: int = 0,
                     current: records_pb2.AgentRecord | None = None) -> records_pb2.AgentRecord:
        """Read-modify-write with compare on mod_revision, retried on conflict.

        `mutate` edits the agent in place and returns the events to record, or None to leave
        the record as it is. With `expected_revision`, a record at another revision is Aborted.
        `current` (a cached copy) saves the first read when it leads to a write; a stale copy makes
        the write fail, and a decision to write nothing is always taken again on a fresh read.
        """
        for _ in range(_CAS_ATTEMPTS):
            cached = current is not None
            record, current = current or await self.get(agent_id), None
            if expected_revision and record.agent.revision != expected_revision:
                if cached:
                    continue
                raise Aborted(
                    f"agent {agent_id} is at revision {record.agent.revision}, not {expected_revision}",
                    metadata={"agent_id": agent_id, "revision": str(record.agent.revision)},
                )
            written = await self.try_update(record, mutate)
            if written is not None and not (cached and written is record):
                return written
            if cached:
                continue  # nothing written from a cached copy: decide again on a fresh read
            if expected_revision:
                raise Aborted(f"agent {agent_id} changed concurrently", metadata={"agent_id": agent_id})
        raise Aborted(f"agent {agent_id} is updated too often concurrently; retry", metadata={"agent_id": agent_id})

    async def try_update(self, record: records_pb2.AgentRecord, mutate: Mutation) -> records_pb2.AgentRecord | None:
        """One compare-and-swap attempt from `record`; None if someone else wrote first."""
        revision = record.agent.revision
        updated = records_pb2.AgentRecord()
        updated.CopyFrom(record)
        events = mutate(updated.agent)
        if events is None:
            return record
        updated.agent.update_time.CopyFrom(_now())
        updated.agent.revision = 0
        key = self._keys.agent(record.agent.id)
        result = await self._etcd.txn(
            [etcd.mod_is(key, revision)],
            [etcd.put(key, updated.SerializeToString()), *await self._event_ops(record.agent.id, events)],
        )
        if not result.succeeded:
            return None
        updated.agent.revision = result.revision
        return updated

    async def delete(self, agent_id: str, events: Callable[[agent_pb2.Agent], Awaitable[list[Any]]] | None = None,
                     *, extra: Sequence[tuple[str, dict[str, Any]]] = ()) -> records_pb2.AgentRecord:
        """Delete an agent with its slot, request id and memories in one transaction."""
        for _ in range(_CAS_ATTEMPTS):
            record = await self.get(agent_id)
            key = self._keys.agent(agent_id)
            ops = [
                etcd.delete(key),
                etcd.delete(self._keys.agent_slot(record.slot)),
                etcd.delete(self._keys.memories(agent_id), prefix=True),
                etcd.delete(self._keys.cache(agent_id), prefix=True),
                *await self._event_ops(agent_id, extra),
            ]
            if record.agent.request_id:
                ops.append(etcd.delete(self._keys.request(record.agent.request_id)))
            result = await self._etcd.txn([etcd.mod_is(key, record.agent.revision)], ops)
            if result.succeeded:
                return record
        raise Aborted(f"agent {agent_id} is updated too often concurrently; retry", metadata={"agent_id": agent_id})

    async def list_page(
        self,
        *,
        after: str,
        page_size: int,
        keep: Callable[[agent_pb2.Agent], bool],
    ) -> tuple[list[agent_pb2.Agent], str]:
        """One page of agents in id order after `after` that `keep` accepts, and the next page token."""
        prefix = self._keys.prefix("agents")
        start = self._keys.agent(after) + b"\0" if after else prefix
        end = range_end(prefix)
        out: list[agent_pb2.Agent] = []
        revision = 0
        while True:
            kvs, more, header = await self._etcd.range(start, end, limit=max(page_size, 100), revision=revision)
            revision = revision or header
            for kv in kvs:
                agent = decode(kv).agent
                if keep(agent):
                    out.append(agent)
                    if len(out) == page_size:
                        is_last = kv is kvs[-1] and not more
                        return out, "" if is_last else encode_page_token(agent.id)
            if not more or not kvs:
                return out, ""
            start = kvs[-1].key + b"\0"

    async def all(self) -> tuple[list[records_pb2.AgentRecord], int]:
        """Every agent record and the revision of the read."""
        kvs, revision = await self._etcd.get_prefix(self._keys.prefix("agents"))
        return [decode(kv) for kv in kvs], revision
