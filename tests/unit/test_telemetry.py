"""controlplane.telemetry (setup, propagation helpers) and the agent host's spans: the
supervisor's "agent.start" / "agent.process_message" and the pipeline's steps under them."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from opentelemetry.util._once import Once

from agenthost.runtime.runtime import AgentRuntime
from agenthost.supervisor import Supervisor
from controlplane import telemetry
from elizaos import (
    Action,
    ActionResult,
    Evaluator,
    ModelRegistration,
    ModelRequest,
    ModelResponse,
    ModelType,
    Plugin,
    Provider,
    ProviderResult,
)
from elizaos._tracing import client_interceptors
from elizaos._tracing import traced as client_traced
from elizaos.host.v1 import host_link_pb2 as pb
from elizaos.v1 import agent_pb2, character_pb2

OTLP_MODULE = "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"


@pytest.fixture(autouse=True)
def no_global_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no global TracerProvider and leaves the process's one as it was."""
    monkeypatch.setattr(trace, "_TRACER_PROVIDER_SET_ONCE", Once())
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_PYTHON_TRACER_PROVIDER", raising=False)


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """A test provider (SimpleSpanProcessor -> in-memory exporter) installed as the global one."""
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: "test"}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)
    yield memory
    provider.shutdown()


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {s.name: s for s in spans}


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


# --- setup_tracing ------------------------------------------------------------------------------


def test_setup_tracing_installs_an_sdk_provider_once() -> None:
    assert not telemetry.tracing_installed()
    telemetry.setup_tracing("svc-a")
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    assert provider.resource.attributes[SERVICE_NAME] == "svc-a"
    telemetry.setup_tracing("svc-b")  # idempotent: the first provider stays
    assert trace.get_tracer_provider() is provider
    assert provider.resource.attributes[SERVICE_NAME] == "svc-a"
    provider.shutdown()


def test_setup_tracing_leaves_an_installed_provider_alone(exporter: InMemorySpanExporter) -> None:
    installed = trace.get_tracer_provider()
    telemetry.setup_tracing("svc")
    assert trace.get_tracer_provider() is installed
    with telemetry.tracer("t").start_as_current_span("still-exported"):
        pass
    assert [s.name for s in exporter.get_finished_spans()] == ["still-exported"]


def test_otel_service_name_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    telemetry.setup_tracing("from-config")
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    assert provider.resource.attributes[SERVICE_NAME] == "from-env"
    provider.shutdown()


def test_otlp_endpoint_without_the_exporter_fails_naming_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, OTLP_MODULE, None)  # makes the import fail, installed or not
    with pytest.raises(telemetry.TracingSetupError) as raised:
        telemetry.setup_tracing("svc", otlp_endpoint="collector:4317")
    message = str(raised.value)
    assert "opentelemetry-exporter-otlp-proto-grpc" in message and "collector:4317" in message
    assert "elizaos-controlplane[otlp]" in message
    assert not telemetry.tracing_installed()  # nothing half set up


@pytest.mark.skipif(importlib.util.find_spec("opentelemetry.exporter") is None
                    or importlib.util.find_spec(OTLP_MODULE) is None,
                    reason="the otlp extra (opentelemetry-exporter-otlp-proto-grpc) is not installed")
def test_otlp_endpoint_adds_a_batch_exporter() -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
        OTLPSpanExporter,
    )

    telemetry.setup_tracing("svc", otlp_endpoint="127.0.0.1:4317")
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    processors = provider._active_span_processor._span_processors
    assert len(processors) == 1 and isinstance(processors[0], BatchSpanProcessor)
    exporter: Any = processors[0].span_exporter
    assert isinstance(exporter, OTLPSpanExporter) and exporter._insecure
    provider.shutdown()


# --- propagation helpers ------------------------------------------------------------------------


def test_inject_extract_round_trip(exporter: InMemorySpanExporter) -> None:
    assert telemetry.inject() == {}  # nothing current: nothing to carry
    tracer = telemetry.tracer("t")
    with tracer.start_as_current_span("sender") as sender:
        carrier = telemetry.inject()
        assert set(carrier) == {"traceparent"}
        # An empty carrier starts a new trace even while a span is current.
        assert not trace.get_current_span(telemetry.extract({})).get_span_context().is_valid
    remote = trace.get_current_span(telemetry.extract(carrier)).get_span_context()
    assert remote.is_remote
    assert (remote.trace_id, remote.span_id) == (sender.get_span_context().trace_id,
                                                 sender.get_span_context().span_id)


def test_tracer_follows_the_installed_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    before = telemetry.tracer("t")
    assert telemetry.tracer("t") is before
    provider = TracerProvider()
    trace.set_tracer_provider(provider)
    after = telemetry.tracer("t")
    assert after is not before and after is telemetry.tracer("t")
    assert after.start_span("x").is_recording()


# --- the host's spans ---------------------------------------------------------------------------


def _agent(plugins: list[str]) -> agent_pb2.Agent:
    return agent_pb2.Agent(id="agent-1", name="a", character=character_pb2.Character(name="A"), plugins=plugins)


async def _fine(runtime: Any, message: Any, state: Any) -> ProviderResult:
    return ProviderResult(text="it is fine")


async def _broken(runtime: Any, message: Any, state: Any) -> ProviderResult:
    raise ValueError("provider broke")


async def _yes(runtime: Any, message: Any, state: Any) -> bool:
    return True


async def _answer(runtime: Any, message: Any, state: Any) -> ActionResult:
    return ActionResult(text="answered")


async def _explode(runtime: Any, message: Any, state: Any) -> ActionResult:
    raise RuntimeError("action broke")


async def _evaluate(runtime: Any, message: Any, state: Any, answer: str) -> None:
    return None


TEST_PLUGIN = Plugin(
    name="testkit",
    providers=[Provider(name="fine", get=_fine), Provider(name="broken", get=_broken, position=1)],
    actions=[Action(name="ANSWER", description="", handler=_answer, validate=_yes),
             Action(name="EXPLODE", description="", handler=_explode, validate=_yes)],
    evaluators=[Evaluator(name="judge", handler=_evaluate, always_run=True)],
)


async def test_pipeline_steps_are_children_of_the_message_span(exporter: InMemorySpanExporter) -> None:
    runtime = AgentRuntime(_agent(["testkit"]), 3)
    await runtime.add_plugin(TEST_PLUGIN)
    with telemetry.tracer("t").start_as_current_span("parent") as parent:
        reply = await runtime.process_message("hello there", "u", "room-1")
    assert reply.actions == ["ANSWER"]
    spans = by_name(exporter.get_finished_spans())
    assert set(spans) == {"parent", "pipeline.should_respond", "pipeline.compose_state", "provider fine",
                          "provider broken", "model eliza", "action ANSWER", "action EXPLODE", "evaluator judge"}
    top = parent.get_span_context().span_id
    for name in ("pipeline.should_respond", "pipeline.compose_state", "model eliza", "action ANSWER",
                 "action EXPLODE", "evaluator judge"):
        assert parent_of(spans[name]) == top, name
    compose = span_id(spans["pipeline.compose_state"])
    assert parent_of(spans["provider fine"]) == compose and parent_of(spans["provider broken"]) == compose
    # Handled failures: ERROR + exception event, and the pipeline went on.
    for name, error in (("provider broken", "ValueError"), ("action EXPLODE", "RuntimeError")):
        span = spans[name]
        assert span.status.status_code is StatusCode.ERROR, name
        assert [e.name for e in span.events] == ["exception"]
        assert span.events[0].attributes is not None and span.events[0].attributes["exception.type"] == error
    for name in ("provider fine", "action ANSWER", "model eliza", "evaluator judge"):
        assert spans[name].status.status_code is StatusCode.UNSET, name
    assert spans["model eliza"].attributes == {"elizaos.model.type": "TEXT_LARGE"}


async def test_no_pipeline_spans_without_a_recording_parent(exporter: InMemorySpanExporter) -> None:
    runtime = AgentRuntime(_agent([]), 1)
    reply = await runtime.process_message("I feel sad", "u", "r")
    assert reply.text
    assert exporter.get_finished_spans() == ()


async def test_failed_model_is_recorded_on_its_span(exporter: InMemorySpanExporter) -> None:
    async def broken_model(runtime: Any, request: ModelRequest) -> ModelResponse:
        raise ConnectionError("model unreachable")

    plugin = Plugin(name="badmodel", models=[ModelRegistration(ModelType.TEXT_LARGE, broken_model, priority=10)])
    supervisor = Supervisor(resolve=lambda refs: [plugin] if refs else [])
    await supervisor.start(pb.StartAgent(agent=_agent(["badmodel"]), epoch=2))
    exporter.clear()
    with telemetry.tracer("t").start_as_current_span("controlplane") as cp:
        command = pb.DeliverMessage(agent_id="agent-1", epoch=2, text="hi", room_id="r",
                                    trace_context=telemetry.inject())
    reply = await supervisor.deliver(command)
    assert reply.error_code == pb.REPLY_ERROR_CODE_AGENT_FAILED
    spans = by_name(exporter.get_finished_spans())
    model, message = spans["model badmodel"], spans["agent.process_message"]
    assert parent_of(message) == cp.get_span_context().span_id
    assert parent_of(model) == span_id(message)
    assert model.status.status_code is StatusCode.ERROR
    assert model.events[0].attributes is not None
    assert model.events[0].attributes["exception.type"] == "ConnectionError"
    assert message.status.status_code is StatusCode.ERROR and "model badmodel failed" in str(message.status.description)
    assert message.attributes is not None
    assert message.attributes[telemetry.REPLY_ERROR] == "REPLY_ERROR_CODE_AGENT_FAILED"


async def test_supervisor_spans_continue_the_trace_in_the_command(exporter: InMemorySpanExporter) -> None:
    supervisor = Supervisor(resolve=lambda refs: [TEST_PLUGIN] if refs else [])
    tracer = telemetry.tracer("t")
    with tracer.start_as_current_span("reconcile") as reconcile:
        start = pb.StartAgent(agent=_agent(["testkit"]), epoch=4, trace_context=telemetry.inject())
    report = await supervisor.start(start)
    assert report is not None and report.status == agent_pb2.AGENT_STATUS_RUNNING
    with tracer.start_as_current_span("send") as send:
        command = pb.DeliverMessage(agent_id="agent-1", epoch=4, text="hello", user_id="u", room_id="room-9",
                                    trace_context=telemetry.inject())
    reply = await supervisor.deliver(command)
    assert reply.actions == ["ANSWER"]
    spans = by_name(exporter.get_finished_spans())
    started, message = spans["agent.start"], spans["agent.process_message"]
    assert started.kind is trace.SpanKind.CONSUMER and parent_of(started) == reconcile.get_span_context().span_id
    assert started.attributes is not None and started.attributes[telemetry.PLUGINS] == ("testkit",)
    assert message.kind is trace.SpanKind.SERVER
    assert parent_of(message) == send.get_span_context().span_id
    assert message.context is not None and message.context.trace_id == send.get_span_context().trace_id
    assert dict(message.attributes or {}) == {
        telemetry.AGENT_ID: "agent-1", telemetry.AGENT_EPOCH: 4, telemetry.ROOM_ID: "room-9",
        telemetry.ACTIONS: ("ANSWER",)}
    assert message.status.status_code is StatusCode.UNSET
    assert parent_of(spans["action ANSWER"]) == span_id(message)


async def test_failed_start_marks_its_span(exporter: InMemorySpanExporter) -> None:
    async def explode(config: Any, runtime: Any) -> None:
        raise ValueError("no init for you")

    plugin = Plugin(name="bad-init", init=explode)
    supervisor = Supervisor(resolve=lambda refs: [plugin] if refs else [])
    report = await supervisor.start(pb.StartAgent(agent=_agent(["bad-init"]), epoch=1))
    assert report is not None and report.status == agent_pb2.AGENT_STATUS_ERROR
    (span,) = exporter.get_finished_spans()
    assert span.name == "agent.start" and span.parent is None
    assert span.status.status_code is StatusCode.ERROR and "no init for you" in str(span.status.description)
    assert [e.name for e in span.events] == ["exception"]


# --- the SDK's client interceptors ------------------------------------------------------------


def test_client_calls_are_traced_only_when_something_would_use_it() -> None:
    details = grpc.aio.ClientCallDetails(b"/elizaos.v1.AgentService/SendMessage", None, None, None, None)
    link = grpc.aio.ClientCallDetails("/elizaos.host.v1.HostLinkService/Connect", None, None, None, None)
    assert not client_traced(details)  # no provider, nothing to pass on: straight through
    remote = trace.SpanContext(trace_id=1, span_id=2, is_remote=True)
    with trace.use_span(trace.NonRecordingSpan(remote)):
        assert client_traced(details)  # no provider, but a context to pass on
    trace.set_tracer_provider(TracerProvider())
    assert client_traced(details) and not client_traced(link)
    assert len(client_interceptors()) == 4


def test_otlp_endpoint_with_a_foreign_provider_is_reported(monkeypatch: pytest.MonkeyPatch,
                                                           exporter: InMemorySpanExporter,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    class FakeExporter:
        def __init__(self, **kwargs: Any) -> None:
            self.closed = False

        def shutdown(self) -> None:
            self.closed = True

    made: list[FakeExporter] = []

    def fake(endpoint: str) -> Any:
        made.append(FakeExporter())
        return made[-1]

    monkeypatch.setattr(telemetry, "_otlp_exporter", fake)
    installed = trace.get_tracer_provider()
    with caplog.at_level("WARNING", logger="controlplane.telemetry"):
        telemetry.setup_tracing("svc", otlp_endpoint="collector:4317")
    assert trace.get_tracer_provider() is installed and made[0].closed
    assert "otlp_endpoint_not_applied=collector:4317" in caplog.text
