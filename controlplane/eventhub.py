"""Fan-out of the event log: one etcd watch per replica, many subscribers.

Subscribers get every event recorded after they subscribed, in revision order. A subscriber
asking for history first reads the retained events above its revision, then the live ones,
skipping what it has seen: no gap, no duplicate. `floor` is the revision at or below which
history may be gone (compacted, expired by retention, or reset); asking below it fails
with a clear status instead of silently skipping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence

from controlplane.errors import FailedPrecondition, ResourceExhausted
from controlplane.metrics import ControlPlaneMetrics
from controlplane.store import etcd
from controlplane.store.keys import Keys, range_end
from elizaos.v1 import event_pb2

log = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000


class EventFilter:
    """Which events a subscriber wants: types (exact, or a prefix ending in ':') and an agent."""

    __slots__ = ("agent_id", "exact", "prefixes")

    def __init__(self, types: Sequence[str] = (), agent_id: str = "") -> None:
        self.exact = frozenset(t for t in types if not t.endswith(":"))
        self.prefixes = tuple(t for t in types if t.endswith(":"))
        self.agent_id = agent_id

    def __call__(self, event: event_pb2.Event) -> bool:
        if self.agent_id and event.agent_id != self.agent_id:
            return False
        if not self.exact and not self.prefixes:
            return True
        return event.type in self.exact or event.type.startswith(self.prefixes)


class _Subscriber:
    __slots__ = ("overflowed", "queue", "wants")

    def __init__(self, wants: EventFilter) -> None:
        self.wants = wants
        self.queue: asyncio.Queue[event_pb2.Event] = asyncio.Queue(QUEUE_LIMIT)
        self.overflowed = False


def _decode(value: bytes, revision: int) -> event_pb2.Event:
    event = event_pb2.Event.FromString(value)
    event.revision = revision
    return event


class EventHub:
    """Watches events/ once and hands each event to the subscribers that want it."""

    def __init__(self, store: etcd.Etcd, keys: Keys, metrics: ControlPlaneMetrics | None = None) -> None:
        self._metrics = metrics
        self._etcd = store
        self._prefix = keys.prefix("events")
        self._subscribers: set[_Subscriber] = set()
        self.floor = 0
        self.revision = 0
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.delivered = 0

    async def start(self) -> None:
        """Start following the event log; returns once it is loaded."""
        self._task = asyncio.create_task(self._follow(), name="event-hub")
        await self._ready.wait()

    async def stop(self) -> None:
        """Stop following."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _dispatch(self, event: event_pb2.Event) -> None:
        self.revision = max(self.revision, event.revision)
        if self._metrics is not None:
            self._metrics.event_lag.observe(max(time.time() - event.timestamp.ToNanoseconds() / 1e9, 0.0))
            delivered_before = self.delivered
        for subscriber in list(self._subscribers):
            if subscriber.wants(event):
                try:
                    subscriber.queue.put_nowait(event)
                    self.delivered += 1
                except asyncio.QueueFull:
                    subscriber.overflowed = True
                    self._subscribers.discard(subscriber)
        if self._metrics is not None:
            self._metrics.events_delivered.inc(self.delivered - delivered_before)

    async def _follow(self) -> None:
        first = True
        backoff = 0.1
        while True:
            try:
                kvs, revision = await self._etcd.get_prefix(self._prefix)
                events = sorted((_decode(kv.value, kv.mod_revision) for kv in kvs), key=lambda e: e.revision)
                if first:
                    # What came before the oldest retained event is unknown: treat it as gone.
                    self.floor = events[0].revision - 1 if events else revision
                    self.revision = revision
                    first = False
                for event in events:
                    if event.revision > self.revision:
                        self._dispatch(event)
                self.revision = max(self.revision, revision)
                self._ready.set()
                backoff = 0.1
                async for change in self._etcd.watch(self._prefix, revision + 1, prev_kv=True):
                    if change.deleted:
                        # Expired by retention, or reset: history up to that event is incomplete.
                        self.floor = max(self.floor, change.prev_mod_revision or change.mod_revision)
                    else:
                        self._dispatch(_decode(change.value, change.mod_revision))
            except asyncio.CancelledError:
                raise
            except etcd.Compacted as exc:
                self.floor = max(self.floor, exc.compacted_revision)
                log.info("event=event_watch_compacted revision=%d", exc.compacted_revision)
            except Exception as exc:
                log.warning("event=event_watch_failed error=%r; retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def history(self, since: int, wants: EventFilter) -> list[event_pb2.Event]:
        """Retained events above `since` that `wants` accepts, oldest first."""
        kvs, _ = await self._etcd.get_prefix(self._prefix)
        events = [_decode(kv.value, kv.mod_revision) for kv in kvs if kv.mod_revision > since]
        return sorted((e for e in events if wants(e)), key=lambda e: e.revision)

    async def subscribe(self, wants: EventFilter, since: int = 0) -> AsyncIterator[event_pb2.Event]:
        """Events `wants` accepts: history above `since` (if given), then live ones, in order."""
        if since and since < self.floor:
            raise FailedPrecondition(
                f"events up to revision {self.floor} are no longer retained; resync your state and watch "
                f"from revision {self.floor}", reason="EVENTS_COMPACTED",
                metadata={"floor_revision": str(self.floor), "since_revision": str(since)})
        subscriber = _Subscriber(wants)
        self._subscribers.add(subscriber)  # before reading history, so nothing falls between
        try:
            if since:
                last = since
            else:
                # "From now" means etcd's current revision, not what this hub has seen so far:
                # an event recorded just before the call must not be delivered.
                _, _, last = await self._etcd.range(self._prefix, range_end(self._prefix), limit=1, keys_only=True)
            if since:
                for event in await self.history(since, wants):
                    last = event.revision
                    yield event
            while True:
                if subscriber.overflowed and subscriber.queue.empty():
                    raise ResourceExhausted(
                        f"the watcher fell {QUEUE_LIMIT} events behind; watch again from revision {last}",
                        retry_after=0.1, reason="WATCHER_TOO_SLOW", metadata={"resume_revision": str(last)})
                event = await subscriber.queue.get()
                if event.revision <= last:
                    continue
                last = event.revision
                yield event
        finally:
            self._subscribers.discard(subscriber)
