"""HostLinkService: one bidirectional stream per agent host.

The servicer only moves messages: it registers the host under a lease, keeps the lease alive
on heartbeats, correlates message replies, and hands status reports and events to a
`LinkHandler` (the domain). Commands go down through `HostSession.send`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import grpc
from google.protobuf import timestamp_pb2

from controlplane.errors import DeadlineExceeded, DomainError, Unavailable
from controlplane.store.hosts import HostStore
from controlplane.store.keys import check_name
from elizaos.host.v1 import host_link_pb2 as pb
from elizaos.host.v1 import host_link_pb2_grpc
from elizaos.v1 import system_service_pb2

log = logging.getLogger(__name__)

HELLO_TIMEOUT = 10.0


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


class HostSession:
    """The live link to one host on this replica: its command queue and what it reports."""

    def __init__(self, hello: pb.Hello, peer: str, controlplane_id: str) -> None:
        self.host_id = hello.host_id
        self.hello = hello
        self.peer = peer
        self.controlplane_id = controlplane_id
        self.queue: asyncio.Queue[pb.ConnectResponse | None] = asyncio.Queue()
        # agent id -> epoch, as the host reported / as we commanded.
        self.running: dict[str, int] = {a.agent_id: a.epoch for a in hello.agents}
        self.starting: dict[str, int] = {}
        self.stopping: dict[str, int] = {}
        self.pending: dict[str, asyncio.Future[pb.MessageReply]] = {}
        self.load = system_service_pb2.HostLoad()
        self.services: list[str] = []
        self.connect_time = _now()
        self.last_heartbeat = _now()
        self.lease = 0
        self.closed = False
        # True when the host half-closed the stream (it is leaving on purpose).
        self.graceful = False
        self._ids = itertools.count(1)

    def host(self) -> system_service_pb2.Host:
        """The host as stored in etcd and shown by ListHosts."""
        return system_service_pb2.Host(
            id=self.host_id,
            capacity=self.hello.capacity,
            labels=dict(self.hello.labels),
            plugins=list(self.hello.plugins),
            version=self.hello.version,
            load=self.load,
            connect_time=self.connect_time,
            last_heartbeat_time=self.last_heartbeat,
            controlplane_id=self.controlplane_id,
            peer=self.peer,
            services=self.services,
        )

    def send(self, message: pb.ConnectResponse) -> None:
        """Queue a command for the host; Unavailable if the link is gone."""
        if self.closed:
            raise Unavailable(f"host {self.host_id} disconnected", reason="HOST_UNAVAILABLE",
                              metadata={"host_id": self.host_id})
        self.queue.put_nowait(message)

    async def deliver(self, message: pb.DeliverMessage, timeout: float) -> pb.MessageReply:
        """Send a message to an agent on this host and await the correlated reply."""
        correlation = f"{self.host_id}-{next(self._ids)}"
        message.correlation_id = correlation
        future: asyncio.Future[pb.MessageReply] = asyncio.get_running_loop().create_future()
        self.pending[correlation] = future
        try:
            self.send(pb.ConnectResponse(deliver_message=message))
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise DeadlineExceeded(f"agent {message.agent_id} did not answer within {timeout:.1f}s",
                                   metadata={"agent_id": message.agent_id}) from None
        finally:
            self.pending.pop(correlation, None)

    def resolve(self, reply: pb.MessageReply) -> None:
        """Complete the delivery waiting for this reply (late replies are dropped)."""
        future = self.pending.get(reply.correlation_id)
        if future is not None and not future.done():
            future.set_result(reply)

    def close(self) -> None:
        """Fail pending deliveries and end the command stream."""
        if self.closed:
            return
        self.closed = True
        for future in self.pending.values():
            if not future.done():
                future.set_exception(Unavailable(f"host {self.host_id} disconnected", reason="HOST_UNAVAILABLE",
                                                 metadata={"host_id": self.host_id}))
        self.queue.put_nowait(None)


class Sessions:
    """Host sessions linked to this replica, by host id."""

    def __init__(self) -> None:
        self._by_host: dict[str, HostSession] = {}
        self._on_open: list[Callable[[HostSession], None]] = []

    def on_open(self, callback: Callable[[HostSession], None]) -> None:
        """Call `callback(session)` when a host links (before anything else is sent to it)."""
        self._on_open.append(callback)

    def get(self, host_id: str) -> HostSession | None:
        """The live session of a host, if it is linked here."""
        return self._by_host.get(host_id)

    def all(self) -> list[HostSession]:
        """Every live session."""
        return list(self._by_host.values())

    def add(self, session: HostSession) -> HostSession | None:
        """Register a session; returns the one it replaces (a host that reconnected)."""
        old = self._by_host.get(session.host_id)
        self._by_host[session.host_id] = session
        for callback in self._on_open:
            callback(session)
        return old

    def remove(self, session: HostSession) -> bool:
        """Forget a session if it is still the current one for its host."""
        if self._by_host.get(session.host_id) is session:
            del self._by_host[session.host_id]
            return True
        return False


class LinkHandler(Protocol):
    """What the domain does with what hosts say."""

    async def session_opened(self, session: HostSession) -> None: ...

    async def session_closed(self, session: HostSession) -> None: ...

    async def status_reported(self, session: HostSession, report: pb.AgentStatusReport) -> None: ...

    async def event_reported(self, session: HostSession, event: pb.HostEvent) -> None: ...


class HostLinkServicer(host_link_pb2_grpc.HostLinkServiceServicer):
    """Accepts host streams on this replica."""

    def __init__(
        self,
        *,
        hosts: HostStore,
        sessions: Sessions,
        handler: LinkHandler,
        controlplane_id: str,
        cluster: str,
        heartbeat_interval_ms: int,
        join_token: str,
    ) -> None:
        self._hosts = hosts
        self._sessions = sessions
        self._handler = handler
        self._controlplane_id = controlplane_id
        self._cluster = cluster
        self._heartbeat_ms = heartbeat_interval_ms
        self._join_token = join_token
        self._tasks: set[asyncio.Task[None]] = set()

    async def Connect(
        self, request_iterator: AsyncIterator[pb.ConnectRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ConnectResponse]:
        try:
            first = await asyncio.wait_for(anext(request_iterator), HELLO_TIMEOUT)
        except (TimeoutError, StopAsyncIteration):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message of a host link must be hello")
        if first.WhichOneof("message") != "hello":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message of a host link must be hello")
        hello = first.hello
        try:
            check_name("hello.host_id", hello.host_id)
        except DomainError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.message)
        if self._join_token and not hmac.compare_digest(hello.join_token.encode(), self._join_token.encode()):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid join token")
        hello.join_token = ""  # never kept, never logged
        session = HostSession(hello, context.peer(), self._controlplane_id)
        try:
            session.lease = await self._hosts.register(session.host())
        except Unavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, exc.message)
        old = self._sessions.add(session)
        if old is not None:
            old.close()
        log.info("event=host_connected host=%s peer=%s agents=%d", session.host_id, session.peer, len(hello.agents))
        # Before Welcome, so a host that is told it is linked is already schedulable here.
        await self._handler.session_opened(session)
        reader = asyncio.create_task(self._read(session, request_iterator), name=f"link-{session.host_id}")
        try:
            yield pb.ConnectResponse(
                welcome=pb.Welcome(controlplane_id=self._controlplane_id, heartbeat_interval_ms=self._heartbeat_ms,
                                   cluster=self._cluster)
            )
            while True:
                message = await session.queue.get()
                if message is None:
                    break
                yield message
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await self._closed(session)

    async def _read(self, session: HostSession, requests: AsyncIterator[pb.ConnectRequest]) -> None:
        try:
            async for message in requests:
                kind = message.WhichOneof("message")
                if kind == "heartbeat":
                    self._heartbeat(session, message.heartbeat)
                elif kind == "agent_status":
                    await self._handler.status_reported(session, message.agent_status)
                elif kind == "message_reply":
                    session.resolve(message.message_reply)
                elif kind == "event":
                    await self._handler.event_reported(session, message.event)
                elif kind == "goodbye":
                    # The request stream also ends when a connection drops, so only an explicit
                    # goodbye means the host is leaving on purpose.
                    session.graceful = True
        except asyncio.CancelledError:
            raise
        except grpc.aio.AioRpcError:
            pass  # the connection broke; the lease will run out unless the host comes back
        except Exception:
            log.exception("event=host_link_failed host=%s", session.host_id)
        finally:
            session.close()

    def _heartbeat(self, session: HostSession, heartbeat: pb.Heartbeat) -> None:
        session.load = heartbeat.load
        session.services = list(heartbeat.services)
        session.last_heartbeat = _now()
        task = asyncio.create_task(self._keep_alive(session))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _keep_alive(self, session: HostSession) -> None:
        try:
            if session.closed:
                return
            if not await self._hosts.keep_alive(session.lease):
                # The lease ran out (etcd or this replica stalled): register again.
                session.lease = await self._hosts.register(session.host())
                log.warning("event=host_reregistered host=%s", session.host_id)
            else:
                await self._hosts.write(session.host(), session.lease)
        except Unavailable as exc:
            log.warning("event=host_keepalive_failed host=%s error=%s", session.host_id, exc.message)

    async def _closed(self, session: HostSession) -> None:
        session.close()
        current = self._sessions.remove(session)
        log.info("event=host_disconnected host=%s graceful=%s", session.host_id, session.graceful)
        if current and session.graceful:
            with contextlib.suppress(Unavailable):
                await self._hosts.remove(session.lease)
        await self._handler.session_closed(session)
