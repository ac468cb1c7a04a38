"""A small typed KV interface over etcd (aetcd), with a deadline on every call.

Transactions are built from etcd's own request messages so the caller gets the response
header's revision (the new mod_revision of what it wrote). Connection failures become
`Unavailable`; a compacted watch raises `Compacted` so watchers can relist.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import aetcd
import aetcd.exceptions
import grpc
from aetcd import rpc

from controlplane.config import EtcdConfig
from controlplane.errors import Unavailable
from controlplane.store.keys import range_end

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class KV:
    """One key-value pair as read from etcd."""

    key: bytes
    value: bytes
    mod_revision: int
    create_revision: int
    lease: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class WatchEvent:
    """A change seen by a watch: `deleted` tells a delete from a put."""

    key: bytes
    value: bytes
    mod_revision: int
    deleted: bool
    prev_mod_revision: int = 0
    """With prev_kv: the mod_revision the key had before this change (0 if unknown)."""


class Compacted(Exception):
    """The watch's start revision was compacted away; relist and watch from the new revision."""

    def __init__(self, compacted_revision: int) -> None:
        super().__init__(f"revision compacted below {compacted_revision}")
        self.compacted_revision = compacted_revision


@dataclasses.dataclass(frozen=True, slots=True)
class TxnResult:
    """Outcome of a transaction: whether the compares held, the revision after it, the responses."""

    succeeded: bool
    revision: int
    responses: Sequence[Any]

    def range_kvs(self, index: int) -> list[KV]:
        """KVs of the range response at `index`."""
        return [_kv(kv) for kv in self.responses[index].response_range.kvs]


def _kv(kv: Any) -> KV:
    return KV(kv.key, kv.value, kv.mod_revision, kv.create_revision, kv.lease)


# -- transaction building blocks (etcd's request messages) ---------------------------------


def put(key: bytes, value: bytes, lease: int = 0) -> Any:
    """Put operation for a transaction."""
    return rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value, lease=lease))


def delete(key: bytes, *, prefix: bool = False, end: bytes | None = None) -> Any:
    """Delete a key, a whole prefix, or the range [key, end)."""
    stop = range_end(key) if prefix else end
    return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key, range_end=stop or b""))


def get(key: bytes, *, prefix: bool = False, count_only: bool = False) -> Any:
    """Range read for a transaction."""
    return rpc.RequestOp(
        request_range=rpc.RangeRequest(key=key, range_end=range_end(key) if prefix else b"", count_only=count_only)
    )


def mod_is(key: bytes, revision: int) -> Any:
    """Compare: the key's mod_revision equals `revision` (0: the key does not exist)."""
    return rpc.Compare(key=key, result=rpc.Compare.EQUAL, target=rpc.Compare.MOD, mod_revision=revision)


def missing(key: bytes) -> Any:
    """Compare: the key does not exist."""
    return rpc.Compare(key=key, result=rpc.Compare.EQUAL, target=rpc.Compare.CREATE, create_revision=0)


def exists(key: bytes) -> Any:
    """Compare: the key exists."""
    return rpc.Compare(key=key, result=rpc.Compare.GREATER, target=rpc.Compare.CREATE, create_revision=0)


class Etcd:
    """Connection to an etcd cluster (first reachable endpoint), with a deadline on every call."""

    def __init__(self, config: EtcdConfig, timer: Callable[[str], Callable[[], None]] | None = None) -> None:
        self._config = config
        # timer(op) starts timing one etcd call and returns the function that ends it (metrics).
        self._timer = timer
        self._timeout = config.timeout_seconds
        self._client: aetcd.Client | None = None
        self._endpoint = 0
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        """Connect to the first endpoint that answers a status call; Unavailable if none does."""
        errors: list[str] = []
        for i in range(len(self._config.endpoints)):
            index = (self._endpoint + i) % len(self._config.endpoints)
            host, _, port = self._config.endpoints[index].rpartition(":")
            client = aetcd.Client(
                host=host,
                port=int(port),
                username=self._config.username or None,
                password=self._config.password or None,
                timeout=self._timeout,  # aetcd hands it to grpc as the per-call deadline, in seconds
            )
            try:
                await client.connect()
                await client.status()
            except (aetcd.exceptions.ClientError, grpc.RpcError, OSError) as exc:
                errors.append(f"{self._config.endpoints[index]}: {exc}")
                await client.close()
                continue
            old, self._client, self._endpoint = self._client, client, index
            if old is not None:
                await old.close()
            return
        raise Unavailable("etcd unreachable: " + "; ".join(errors), retry_after=1.0, reason="ETCD_UNAVAILABLE")

    async def close(self) -> None:
        """Close the connection (watches end)."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def client(self) -> aetcd.Client:
        """The underlying aetcd client (for leases and watches)."""
        if self._client is None:
            raise Unavailable("etcd not connected", reason="ETCD_UNAVAILABLE")
        return self._client

    async def _call(self, method: str, request: Any) -> Any:
        client = self.client
        done = self._timer(method) if self._timer is not None else None
        try:
            return await getattr(client.kvstub, method)(request, timeout=self._timeout, metadata=client.metadata)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                await self._failover()
            raise Unavailable(f"etcd {method} failed: {exc.code().name}: {exc.details()}",
                              reason="ETCD_UNAVAILABLE") from exc
        finally:
            if done is not None:
                done()

    async def _failover(self) -> None:
        if len(self._config.endpoints) < 2 or self._lock.locked():
            return
        async with self._lock:
            self._endpoint = (self._endpoint + 1) % len(self._config.endpoints)
            try:
                await self.connect()
            except Unavailable as exc:
                log.warning("etcd failover failed: %s", exc)

    async def get(self, key: bytes) -> KV | None:
        """One key, or None."""
        response = await self._call("Range", rpc.RangeRequest(key=key))
        return _kv(response.kvs[0]) if response.kvs else None

    async def range(
        self,
        start: bytes,
        end: bytes,
        *,
        limit: int = 0,
        keys_only: bool = False,
        revision: int = 0,
    ) -> tuple[list[KV], bool, int]:
        """Keys in [start, end), ascending: (kvs, more, header revision)."""
        response = await self._call(
            "Range",
            rpc.RangeRequest(key=start, range_end=end, limit=limit, keys_only=keys_only, revision=revision),
        )
        return [_kv(kv) for kv in response.kvs], bool(response.more), int(response.header.revision)

    async def get_prefix(self, prefix: bytes, *, keys_only: bool = False) -> tuple[list[KV], int]:
        """Every key under `prefix` and the revision of the read (paged, so large prefixes are fine)."""
        out: list[KV] = []
        start, end, revision = prefix, range_end(prefix), 0
        while True:
            kvs, more, header = await self.range(start, end, limit=1000, keys_only=keys_only, revision=revision)
            revision = revision or header
            out.extend(kvs)
            if not more or not kvs:
                return out, revision
            start = kvs[-1].key + b"\0"

    async def count(self, prefix: bytes) -> int:
        """Number of keys under `prefix`."""
        response = await self._call(
            "Range", rpc.RangeRequest(key=prefix, range_end=range_end(prefix), count_only=True)
        )
        return int(response.count)

    async def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        """Write one key; returns the new revision."""
        response = await self._call("Put", rpc.PutRequest(key=key, value=value, lease=lease))
        return int(response.header.revision)

    async def txn(self, compare: Sequence[Any], success: Sequence[Any], failure: Sequence[Any] = ()) -> TxnResult:
        """One atomic transaction."""
        response = await self._call(
            "Txn", rpc.TxnRequest(compare=list(compare), success=list(success), failure=list(failure))
        )
        return TxnResult(bool(response.succeeded), int(response.header.revision), list(response.responses))

    async def grant_lease(self, ttl: int) -> int:
        """A new lease of `ttl` seconds; returns its id."""
        try:
            lease = await self.client.lease(ttl)
        except aetcd.exceptions.ClientError as exc:
            raise Unavailable(f"etcd lease grant failed: {exc}", reason="ETCD_UNAVAILABLE") from exc
        return int(lease.id)

    async def refresh_lease(self, lease_id: int) -> int:
        """Keep a lease alive; returns its remaining TTL (0 or less: it is gone)."""
        try:
            reply = await self.client.refresh_lease(lease_id)
        except aetcd.exceptions.ClientError as exc:
            raise Unavailable(f"etcd lease refresh failed: {exc}", reason="ETCD_UNAVAILABLE") from exc
        return int(reply.TTL) if reply is not None else 0

    async def revoke_lease(self, lease_id: int) -> None:
        """Drop a lease and every key attached to it."""
        try:
            await self.client.revoke_lease(lease_id)
        except aetcd.exceptions.ClientError as exc:
            if "not found" not in str(exc):
                raise Unavailable(f"etcd lease revoke failed: {exc}", reason="ETCD_UNAVAILABLE") from exc

    async def status(self) -> tuple[int, int]:
        """(db size in bytes, leader member id)."""
        try:
            status = await self.client.status()
        except aetcd.exceptions.ClientError as exc:
            raise Unavailable(f"etcd status failed: {exc}", reason="ETCD_UNAVAILABLE") from exc
        return int(status.db_size), int(status.leader.id if hasattr(status.leader, "id") else status.leader)

    async def watch(self, prefix: bytes, start_revision: int, *, prev_kv: bool = False) -> AsyncIterator[WatchEvent]:
        """Changes under `prefix` from `start_revision` on; raises Compacted or Unavailable when it breaks."""
        try:
            watch = await self.client.watch(prefix, range_end=range_end(prefix), start_revision=start_revision,
                                            prev_kv=prev_kv)
        except aetcd.exceptions.RevisionCompactedError as exc:
            raise Compacted(exc.compacted_revision) from exc
        except aetcd.exceptions.ClientError as exc:
            raise Unavailable(f"etcd watch failed: {exc}", reason="ETCD_UNAVAILABLE") from exc
        try:
            async for event in watch:
                prev = event.prev_kv.mod_revision if event.prev_kv is not None else 0
                yield WatchEvent(event.kv.key, event.kv.value, event.kv.mod_revision, event.kind == "DELETE", prev)
        except aetcd.exceptions.RevisionCompactedError as exc:
            raise Compacted(exc.compacted_revision) from exc
        except aetcd.exceptions.ClientError as exc:
            raise Unavailable(f"etcd watch broke: {exc}", reason="ETCD_UNAVAILABLE") from exc
        finally:
            await watch.cancel()
