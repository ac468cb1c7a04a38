"""The SDK side of the seed's on/off/emit: one event watch, many handlers.

The watch starts with the first handler and ends with the last. When the stream breaks it
reconnects with backoff and resumes from the last revision it delivered, so handlers see
every event once, in order. If the history it needs is gone (EVENTS_COMPACTED) it resumes
from the floor the server names and reports the gap to `on_gap`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import grpc

from elizaos._client import ElizaOSClient
from elizaos._errors import ElizaOSError
from elizaos.v1 import event_pb2

log = logging.getLogger(__name__)

EventHandler = Callable[[event_pb2.Event], Awaitable[None] | None]


def matches(pattern: str, event_type: str) -> bool:
    """'*' matches all, 'agent:' every agent event, anything else exactly."""
    return pattern == "*" or event_type == pattern or (pattern.endswith(":") and event_type.startswith(pattern))


class Listeners:
    """Handlers by event type, fed by one resuming watch."""

    def __init__(self, client: ElizaOSClient, *, on_gap: Callable[[int, int], None] | None = None) -> None:
        self._client = client
        self._handlers: dict[str, list[EventHandler]] = {}
        self._task: asyncio.Task[None] | None = None
        self._on_gap = on_gap
        self.revision = 0
        self.connected = asyncio.Event()

    def on(self, event_type: str, handler: EventHandler) -> None:
        """Call `handler(event)` for every event of `event_type` ('agent:' prefix, '*' all)."""
        self._handlers.setdefault(event_type, []).append(handler)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="elizaos-events")

    def off(self, event_type: str, handler: EventHandler) -> None:
        """Stop calling a handler; the watch ends with the last one."""
        handlers = self._handlers.get(event_type, [])
        if handler in handlers:
            handlers.remove(handler)
        if not handlers:
            self._handlers.pop(event_type, None)
        if not self._handlers and self._task is not None:
            self._task.cancel()
            self._task = None

    async def close(self) -> None:
        """End the watch."""
        self._handlers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        backoff = 0.1
        if not self.revision:
            # Start from "now": the event log's current revision, so a reconnect can resume exactly.
            self.revision = (await self._client.get_system_status()).event_revision
        while True:
            try:
                self.connected.set()
                async for event in self._client.watch_events(since_revision=self.revision):
                    self.revision = event.revision
                    backoff = 0.1
                    await self._deliver(event)
                raise ElizaOSError(grpc.StatusCode.UNAVAILABLE, "event stream ended")
            except asyncio.CancelledError:
                raise
            except ElizaOSError as exc:
                self.connected.clear()
                if exc.reason == "EVENTS_COMPACTED":
                    floor = int(exc.metadata.get("floor_revision", "0"))
                    if self._on_gap is not None:
                        self._on_gap(self.revision, floor)
                    log.warning("event history between %d and %d is gone; resuming from %d", self.revision,
                                floor, floor)
                    self.revision = floor
                    continue
                if exc.code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED,
                                    grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED):
                    log.error("event watch failed: %s", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _deliver(self, event: event_pb2.Event) -> None:
        for pattern, handlers in list(self._handlers.items()):
            if not matches(pattern, event.type):
                continue
            for handler in list(handlers):
                try:
                    result = handler(event)
                    if result is not None:
                        await result
                except Exception:
                    log.exception("event handler for %s failed", pattern)
