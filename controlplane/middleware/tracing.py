"""OpenTelemetry server spans for the public API: the first interceptor of the chain.

Built on opentelemetry-instrumentation-grpc's grpc.aio server interceptor (span name = the
full method, kind SERVER, rpc.* attributes, parent taken from the caller's `traceparent`
metadata, the span current while the handler runs, so `telemetry.inject()` in a handler
carries it on to the agent host). Adaptations:

* Our handlers report errors with `context.abort_with_status` (rich google.rpc statuses). The
  library's context wrapper only sees `abort`/`set_code`, so those spans would say OK; ours
  also records the code and status of `abort_with_status`.
* An abort is how a handler answers with an error, not an exception of the server: it is not
  recorded as an exception event (the library records it, twice). Other exceptions are
  recorded once and set the span's status to ERROR.
* With no TracerProvider installed the library would still build a no-op span per call (about
  60us); instead a call passes straight through, and only a caller's trace context (if it sent
  one) is made current, so it still reaches the agent host.

Not traced: the host link (HostLinkService.Connect lives as long as the host is linked; its
messages carry their own trace context, see `controlplane.telemetry`), health checks and
reflection.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.grpc._aio_server import (
    OpenTelemetryAioServerInterceptor,
    _OpenTelemetryAioServicerContext,
)
from opentelemetry.instrumentation.grpc._server import _wrap_rpc_behavior
from opentelemetry.instrumentation.grpc._utilities import _server_status
from opentelemetry.instrumentation.grpc.version import __version__ as instrumentation_version
from opentelemetry.semconv._incubating.attributes.rpc_attributes import RPC_GRPC_STATUS_CODE
from opentelemetry.trace import Span, Status, StatusCode

from controlplane import telemetry

UNTRACED_PREFIXES = ("/elizaos.host.v1.", "/grpc.health.v1.", "/grpc.reflection.")
PROPAGATED = frozenset({"traceparent", "tracestate", "baggage"})

Behavior = Callable[[Any, grpc.aio.ServicerContext], Any]


def traced(details: grpc.HandlerCallDetails) -> bool:
    """Whether calls of this method get a server span."""
    method: str = details.method
    return not method.startswith(UNTRACED_PREFIXES)


class _TracedContext(_OpenTelemetryAioServicerContext):
    """The library's servicer-context wrapper, plus `abort_with_status`."""

    async def abort_with_status(self, status: grpc.Status) -> None:
        code: grpc.StatusCode = status.code
        span: Span = self._self_active_span
        self._self_code = code
        self._self_details = status.details
        span.set_attribute(RPC_GRPC_STATUS_CODE, code.value[0])
        span.set_status(_server_status(code, status.details))  # type: ignore[no-untyped-call]
        await self.__wrapped__.abort_with_status(status)


def _with_context(parent: otel_context.Context, behavior: Behavior, request_streaming: bool,
                  response_streaming: bool) -> Behavior:
    """`behavior` run with `parent` (the caller's trace context) current."""
    if response_streaming:
        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            token = otel_context.attach(parent)
            try:
                async for response in behavior(request, context):
                    yield response
            finally:
                otel_context.detach(token)

        return stream

    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        token = otel_context.attach(parent)
        try:
            return await behavior(request, context)
        finally:
            otel_context.detach(token)

    return unary


def _failed(span: Span, exc: Exception) -> None:
    span.set_attribute(RPC_GRPC_STATUS_CODE, grpc.StatusCode.UNKNOWN.value[0])
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


class TracingInterceptor(OpenTelemetryAioServerInterceptor):
    """The library's aio server interceptor with the adaptations above, and a fast path: with no
    TracerProvider installed no span is made and a call without trace context passes straight
    through; a caller's trace context is still made current for the handler, so it reaches the
    agent host (whose spans continue the caller's trace if the host traces)."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        if telemetry.tracing_installed():
            return await super().intercept_service(continuation, handler_call_details)  # type: ignore[no-untyped-call]
        handler = await continuation(handler_call_details)
        carrier = {key: value for key, value in handler_call_details.invocation_metadata or ()
                   if key in PROPAGATED}
        if handler is None or not carrier or not traced(handler_call_details):
            return handler
        parent = propagate.extract(carrier)
        return _wrap_rpc_behavior(handler, functools.partial(_with_context, parent))  # type: ignore[no-untyped-call]

    def _intercept_aio_server_unary(
        self, behavior: Behavior, handler_call_details: grpc.HandlerCallDetails
    ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            with self._set_remote_context(context):
                aborted: grpc.aio.AbortError | None = None
                with self._start_span(handler_call_details, context,  # type: ignore[no-untyped-call]
                                      set_status_on_exception=False) as span:
                    try:
                        return await behavior(request, _TracedContext(context, span))  # type: ignore[no-untyped-call]
                    except grpc.aio.AbortError as exc:
                        aborted = exc  # the status is on the span already
                    except Exception as exc:
                        _failed(span, exc)
                        raise  # recorded (once) by the span's context manager
                assert aborted is not None
                raise aborted

        return unary

    def _intercept_aio_server_stream(
        self, behavior: Behavior, handler_call_details: grpc.HandlerCallDetails
    ) -> Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]:
        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            with self._set_remote_context(context):
                aborted: grpc.aio.AbortError | None = None
                with self._start_span(handler_call_details, context,  # type: ignore[no-untyped-call]
                                      set_status_on_exception=False) as span:
                    try:
                        traced_context = _TracedContext(context, span)  # type: ignore[no-untyped-call]
                        async for response in behavior(request, traced_context):
                            yield response
                    except grpc.aio.AbortError as exc:
                        aborted = exc
                    except Exception as exc:
                        _failed(span, exc)
                        raise
                if aborted is not None:
                    raise aborted

        return stream


def tracing_interceptors() -> list[grpc.aio.ServerInterceptor]:
    """The tracing interceptors of the control plane's server; put them first in the chain.

    Spans go to the global TracerProvider (`telemetry.setup_tracing`); without one they are
    no-ops. The interceptor resolves the provider lazily, so it may be made before setup.
    """
    # The tracer the library's own factory (aio_server_interceptor) would use.
    tracer = trace.get_tracer("opentelemetry.instrumentation.grpc", instrumentation_version,
                              schema_url="https://opentelemetry.io/schemas/1.11.0")
    return [TracingInterceptor(tracer, filter_=traced)]  # type: ignore[no-untyped-call]
