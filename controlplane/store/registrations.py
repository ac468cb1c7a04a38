"""Named registrations in etcd (plugins/<name>, services/<name>): create, read, delete,
each written together with its event, and mirrored into the view at once."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from google.protobuf.message import Message

from controlplane.errors import NotFound
from controlplane.store import etcd
from controlplane.store.events import EventLog
from controlplane.store.keys import Keys
from controlplane.view import ClusterView

R = TypeVar("R", bound=Message)


class Registrations(Generic[R]):
    """One kind of registration (`kind` is its etcd prefix and view registry)."""

    def __init__(self, *, kind: str, record: type[R], noun: str, store: etcd.Etcd, keys: Keys, events: EventLog,
                 view: ClusterView) -> None:
        self._kind = kind
        self._record = record
        self._noun = noun  # "global plugin"
        self._etcd = store
        self._keys = keys
        self._events = events
        self._view = view

    def _key(self, name: str) -> bytes:
        return self._keys.registration(self._kind, name)

    def not_found(self, name: str) -> NotFound:
        """The error for a name that is not registered."""
        reason = f"{self._kind.rstrip('s').upper()}_NOT_FOUND"
        return NotFound(f"{self._noun} {name!r} is not registered", reason=reason,
                        metadata={self._kind.rstrip("s"): name})

    async def create(self, name: str, record: R, event: str, data: dict[str, Any]) -> bool:
        """Store a new registration with its event; False if the name is taken."""
        key = self._key(name)
        result = await self._etcd.txn([etcd.missing(key)], [etcd.put(key, record.SerializeToString()),
                                                             await self._events.op(event, data=data)])
        if result.succeeded:
            record.revision = result.revision  # type: ignore[attr-defined]
            self._view.apply_registry(self._kind, name, record)
        return result.succeeded

    async def read(self, name: str) -> R:
        """The registration, with its revision; NotFound if there is none."""
        kv = await self._etcd.get(self._key(name))
        if kv is None:
            raise self.not_found(name)
        record = self._record.FromString(kv.value)
        record.revision = kv.mod_revision  # type: ignore[attr-defined]
        return record

    async def delete(self, name: str, event: str) -> None:
        """Remove a registration with its event; NotFound if there is none."""
        key = self._key(name)
        op = await self._events.op(event, data={"name": name})
        result = await self._etcd.txn([etcd.exists(key)], [etcd.delete(key), op])
        if not result.succeeded:
            raise self.not_found(name)
        self._view.apply_registry(self._kind, name, None)

    async def replace(self, name: str, record: R, revision: int, extra: list[Any]) -> bool:
        """Overwrite a registration if it is still at `revision` (plus extra ops); False if it moved on."""
        key = self._key(name)
        result = await self._etcd.txn([etcd.mod_is(key, revision)], [etcd.put(key, record.SerializeToString()),
                                                                      *extra])
        if result.succeeded:
            record.revision = result.revision  # type: ignore[attr-defined]
            self._view.apply_registry(self._kind, name, record)
        return result.succeeded
