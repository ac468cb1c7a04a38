"""One trace from the SDK through the control plane and the host link into the agent's pipeline.

The control plane's server gets `tracing_interceptors()` first in its chain and the SDK's
channel `client_interceptors()`; until that wiring is in server.py / _client.py this test
adds it itself (grpc.aio.server is wrapped for the test; the client is given a traced channel).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util._once import Once

from controlplane.middleware.tracing import TracingInterceptor, tracing_interceptors
from elizaos import ElizaOSClient, ElizaOSError
from elizaos._tracing import client_interceptors
from elizaos.host.v1 import host_link_pb2 as pb
from elizaos.v1 import agent_service_pb2, agent_service_pb2_grpc, character_pb2
from tests.integration.harness import Cluster, eventually

SEND = "/elizaos.v1.AgentService/SendMessage"
GET = "/elizaos.v1.AgentService/GetAgent"


class Started(SpanProcessor):
    """Names of every span started (the in-memory exporter only sees ended ones)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        self.names.append(span.name)


class Traces:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.started = Started()

    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()

    def named(self, name: str, kind: SpanKind | None = None) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name == name and (kind is None or s.kind is kind)]

    def one(self, name: str, kind: SpanKind | None = None) -> ReadableSpan:
        found = self.named(name, kind)
        assert len(found) == 1, (name, [s.name for s in self.spans()])
        return found[0]


@pytest.fixture
def traced_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """No global TracerProvider (restored after the test), and the control plane's server built
    with the tracing interceptors first in its chain."""
    monkeypatch.setattr(trace, "_TRACER_PROVIDER_SET_ONCE", Once())
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    real_server = grpc.aio.server

    def server(*args: Any, interceptors: Any = None, **kwargs: Any) -> grpc.aio.Server:
        chain = list(interceptors or ())
        if not any(isinstance(i, TracingInterceptor) for i in chain):  # not wired in server.py yet
            chain = [*tracing_interceptors(), *chain]
        return real_server(*args, interceptors=chain, **kwargs)

    monkeypatch.setattr(grpc.aio, "server", server)


@pytest.fixture
def traces(traced_server: None) -> Iterator[Traces]:
    """A TracerProvider for this test (SimpleSpanProcessor -> in-memory exporter), installed as
    the process's global one."""
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: "elizaos-test"}))
    found = Traces()
    provider.add_span_processor(found.started)
    provider.add_span_processor(SimpleSpanProcessor(found.exporter))
    trace.set_tracer_provider(provider)
    yield found
    provider.shutdown()


@pytest.fixture
async def cluster(etcd_endpoint: str, traces: Traces) -> AsyncIterator[Cluster]:
    made = Cluster(etcd_endpoint)
    await made.start_plane()
    await made.add_host()
    assert made.client is not None
    await made.client.close()
    made.client = ElizaOSClient(made.target, timeout=15,
                                channel=grpc.aio.insecure_channel(made.target, interceptors=client_interceptors()))
    yield made
    await made.stop()


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.trace_id)


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def ancestors(span: ReadableSpan, spans: tuple[ReadableSpan, ...]) -> list[str]:
    """Names of the span's ancestors among `spans`, nearest first."""
    index = {span_id(s): s for s in spans}
    out: list[str] = []
    current = index.get(parent_id(span) or 0)
    while current is not None:
        out.append(current.name)
        current = index.get(parent_id(current) or 0)
    return out


async def test_one_trace_from_the_sdk_into_the_agent_pipeline(cluster: Cluster, traces: Traces) -> None:
    client = cluster.client
    assert client is not None
    agent = await client.create_agent(character_pb2.Character(name="Calc"), plugins=["calculator", "time"], wait=10)
    traces.exporter.clear()

    tracer = trace.get_tracer("tests.client")
    with tracer.start_as_current_span("client.request") as request:
        reply = await client.send_message(agent.id, "what is 12*(3+4)?", room_id="room-t")
    assert "84" in reply.text and list(reply.actions) == ["CALCULATE"]
    await eventually(ended(traces, SEND, SpanKind.SERVER))

    spans = traces.spans()
    root = traces.one("client.request")
    client_span = traces.one(SEND, SpanKind.CLIENT)
    server_span = traces.one(SEND, SpanKind.SERVER)
    message = traces.one("agent.process_message")
    # One trace across the client, the control plane and the host.
    assert {trace_id(s) for s in spans} == {request.get_span_context().trace_id}
    assert root.parent is None
    assert client_span.instrumentation_scope is not None
    assert client_span.instrumentation_scope.name == "opentelemetry.instrumentation.grpc"
    assert parent_id(client_span) == span_id(root)
    assert server_span.parent is not None and server_span.parent.is_remote
    assert parent_id(server_span) == span_id(client_span)
    # The host's root span continues the control plane's server span (carried in DeliverMessage).
    assert message.parent is not None and message.parent.is_remote
    assert SEND in ancestors(message, spans) and parent_id(message) == span_id(server_span)
    assert message.kind is SpanKind.SERVER
    attributes = dict(message.attributes or {})
    assert attributes["elizaos.agent.id"] == agent.id and attributes["elizaos.room.id"] == "room-t"
    assert attributes["elizaos.agent.epoch"] == agent.epoch and attributes["elizaos.actions"] == ("CALCULATE",)
    # The pipeline under it.
    for name in ("pipeline.should_respond", "pipeline.compose_state", "model eliza", "action CALCULATE"):
        assert parent_id(traces.one(name)) == span_id(message), name
    assert parent_id(traces.one("provider time")) == span_id(traces.one("pipeline.compose_state"))
    assert not traces.named("action TIME")  # it did not accept the message, so it did not run
    # RPC attributes from the instrumentation library.
    server_attributes = dict(server_span.attributes or {})
    assert server_attributes["rpc.system"] == "grpc" and server_attributes["rpc.service"] == "elizaos.v1.AgentService"
    assert server_attributes["rpc.method"] == "SendMessage" and server_attributes["rpc.grpc.status_code"] == 0
    assert all(s.status.status_code is not StatusCode.ERROR for s in spans)
    # The host link stream is not traced as one endless span.
    assert not any(name.startswith("/elizaos.host.v1.") for name in traces.started.names)


async def test_error_statuses_reach_the_server_span(cluster: Cluster, traces: Traces) -> None:
    client = cluster.client
    assert client is not None
    traces.exporter.clear()
    with pytest.raises(ElizaOSError) as raised:
        await client.get_agent("00000000-0000-0000-0000-000000000000")
    assert raised.value.code == grpc.StatusCode.NOT_FOUND
    await eventually(ended(traces, GET, SpanKind.SERVER))
    server_span = traces.one(GET, SpanKind.SERVER)
    client_span = traces.one(GET, SpanKind.CLIENT)
    assert parent_id(server_span) == span_id(client_span)
    # Set by abort_with_status (rich statuses), which the library alone does not see.
    assert dict(server_span.attributes or {})["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    # NOT_FOUND is the caller's error: not an error of the server span (OTel gRPC conventions), and
    # an abort is an answer, not an exception.
    assert server_span.status.status_code is StatusCode.UNSET and not server_span.events
    assert client_span.status.status_code is StatusCode.ERROR

    # A stopped agent: FAILED_PRECONDITION on the server; the message never reaches a host.
    agent = await client.create_agent(character_pb2.Character(name="Idle"), auto_start=False)
    traces.exporter.clear()
    with pytest.raises(ElizaOSError) as refused:
        await client.send_message(agent.id, "hello")
    assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
    await eventually(ended(traces, SEND, SpanKind.SERVER))
    sent = traces.one(SEND, SpanKind.SERVER)
    assert dict(sent.attributes or {})["rpc.grpc.status_code"] == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert not traces.named("agent.process_message")


async def test_server_spans_without_a_client_span_start_their_own_trace(cluster: Cluster, traces: Traces) -> None:
    """A caller that does not trace (plain channel) still gets server and host spans, in one trace."""
    plain = ElizaOSClient(cluster.target, timeout=15, channel=grpc.aio.insecure_channel(cluster.target))
    try:
        agent = await plain.create_agent(character_pb2.Character(name="Plain"), wait=10)
        traces.exporter.clear()
        await plain.send_message(agent.id, "I am sad")
    finally:
        await plain.close()
    await eventually(ended(traces, SEND, SpanKind.SERVER))
    server_span = traces.one(SEND, SpanKind.SERVER)
    message = traces.one("agent.process_message")
    assert parent_id(message) == span_id(server_span)
    assert trace_id(message) == trace_id(server_span)


async def test_without_a_provider_the_callers_context_still_reaches_the_host(etcd_endpoint: str,
                                                                           traced_server: None) -> None:
    """No TracerProvider in this process: no spans are made, but a caller's traceparent is passed
    on to the host in DeliverMessage (so hosts that do trace continue the caller's trace)."""
    made = Cluster(etcd_endpoint)
    try:
        await made.start_plane()
        host = await made.add_host()
        assert made.client is not None
        agent = await made.client.create_agent(character_pb2.Character(name="Quiet"), wait=10)
        seen: list[dict[str, str]] = []
        deliver = host.supervisor.deliver

        async def spy(command: pb.DeliverMessage) -> pb.MessageReply:
            seen.append(dict(command.trace_context))
            return await deliver(command)

        host.supervisor.deliver = spy  # type: ignore[method-assign]
        caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        async with grpc.aio.insecure_channel(made.target) as channel:
            stub = agent_service_pb2_grpc.AgentServiceStub(channel)
            await stub.SendMessage(agent_service_pb2.SendMessageRequest(agent_id=agent.id, text="hi"),
                                   metadata=[("traceparent", caller)], timeout=15)
            await stub.SendMessage(agent_service_pb2.SendMessageRequest(agent_id=agent.id, text="hi again"),
                                   timeout=15)
        assert seen == [{"traceparent": caller}, {}]
    finally:
        await made.stop()


def ended(traces: Traces, name: str, kind: SpanKind) -> Callable[[], Awaitable[bool]]:
    """For `eventually`: a span of that name and kind has ended."""

    async def check() -> bool:
        return bool(traces.named(name, kind))

    return check
