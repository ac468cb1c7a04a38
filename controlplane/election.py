"""Leader election over etcd: the leader holds election/leader under its own lease.

A replica that finds its own id in the key (it restarted) takes the key over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from controlplane.errors import Unavailable
from controlplane.store import etcd
from controlplane.store.keys import Keys

log = logging.getLogger(__name__)


class LeaderElection:
    """Campaign for leadership; while leader, run `lead()`; step down when the lease is lost."""

    def __init__(self, store: etcd.Etcd, keys: Keys, replica_id: str, ttl: int) -> None:
        self._etcd = store
        self._key = keys.election()
        self._id = replica_id.encode()
        self._ttl = ttl
        self.is_leader = False
        self.leader_id = ""

    async def run(self, lead: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Campaign forever; call `lead` while leader and cancel it when leadership is lost."""
        while True:
            try:
                lease = await self._acquire()
            except Unavailable as exc:
                log.warning("event=election_failed error=%s", exc.message)
                await asyncio.sleep(1.0)
                continue
            if lease == 0:
                await asyncio.sleep(self._ttl / 3)
                continue
            self.is_leader, self.leader_id = True, self._id.decode()
            log.info("event=leader_elected replica=%s", self.leader_id)
            task = asyncio.create_task(lead(), name="leader")
            try:
                await self._hold(lease, task)
            finally:
                self.is_leader = False
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                with contextlib.suppress(Unavailable):
                    await self._etcd.revoke_lease(lease)
            log.info("event=leader_lost replica=%s", self._id.decode())

    async def _acquire(self) -> int:
        current = await self._etcd.get(self._key)
        if current is not None:
            self.leader_id = current.value.decode()
            if current.value != self._id:
                return 0
        lease = await self._etcd.grant_lease(self._ttl)
        compare = [etcd.missing(self._key)] if current is None else [etcd.mod_is(self._key, current.mod_revision)]
        result = await self._etcd.txn(compare, [etcd.put(self._key, self._id, lease=lease)])
        if not result.succeeded:
            await self._etcd.revoke_lease(lease)
            return 0
        return lease

    async def _hold(self, lease: int, task: asyncio.Task[None]) -> None:
        while not task.done():
            await asyncio.sleep(self._ttl / 3)
            try:
                if await self._etcd.refresh_lease(lease) <= 0:
                    return
            except Unavailable as exc:
                log.warning("event=leader_refresh_failed error=%s", exc.message)
                return
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("event=leader_loop_crashed error=%r", task.exception())
