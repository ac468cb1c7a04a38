"""EventService servicer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from controlplane.api import validation
from controlplane.api.status import rpc, to_status
from controlplane.errors import DomainError
from controlplane.eventhub import EventFilter, EventHub
from controlplane.store.events import EventLog
from elizaos.v1 import event_service_pb2 as pb
from elizaos.v1 import event_service_pb2_grpc

# The seed's own event types: only the system records them.
RESERVED = frozenset({
    "system:started", "system:stopped", "system:error", "system:overloaded", "agent:created", "agent:started",
    "agent:stopped", "agent:removed", "agent:error", "plugin:registered", "plugin:unregistered",
    "service:registered", "service:unregistered", "service:error",
})
MAX_TYPE = 128
MAX_DATA_BYTES = 64 * 1024


def _type_ok(value: str) -> bool:
    return 0 < len(value) <= MAX_TYPE and value.isprintable() and value == value.strip()


class EventServicer(event_service_pb2_grpc.EventServiceServicer):
    """elizaos.v1.EventService."""

    def __init__(self, hub: EventHub, events: EventLog) -> None:
        self._hub = hub
        self._events = events

    async def WatchEvents(self, request: pb.WatchEventsRequest,
                          context: grpc.aio.ServicerContext) -> AsyncIterator[pb.WatchEventsResponse]:
        try:
            v = validation.Violations()
            for i, kind in enumerate(request.types):
                if not _type_ok(kind):
                    v.add(f"types[{i}]", f"must be 1..{MAX_TYPE} printable characters")
            agent_id = v.uuid("agent_id", request.agent_id) if request.agent_id else ""
            if request.since_revision < 0:
                v.add("since_revision", "must not be negative")
            v.raise_if_any()
            wants = EventFilter(list(request.types), agent_id)
            async for event in self._hub.subscribe(wants, request.since_revision):
                yield pb.WatchEventsResponse(event=event)
        except DomainError as exc:
            await context.abort_with_status(to_status(exc))

    @rpc
    async def EmitEvent(self, request: pb.EmitEventRequest,
                        context: grpc.aio.ServicerContext) -> pb.EmitEventResponse:
        v = validation.Violations()
        if not _type_ok(request.type):
            v.add("type", f"must be 1..{MAX_TYPE} printable characters without surrounding spaces")
        elif request.type in RESERVED:
            v.add("type", f"{request.type!r} is a system event type; emit a custom type")
        if request.agent_id:
            v.uuid("agent_id", request.agent_id)
        if request.data.ByteSize() > MAX_DATA_BYTES:
            v.add("data", f"must be at most {MAX_DATA_BYTES} bytes")
        v.raise_if_any()
        event = await self._events.emit(request.type, agent_id=request.agent_id, data=request.data,
                                        source="client")
        return pb.EmitEventResponse(event=event)
