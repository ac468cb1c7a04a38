"""OpenTelemetry client spans for the SDK's channel (opentelemetry-instrumentation-grpc).

Each call gets a CLIENT span named after the full method, child of whatever span is current
in the caller, and its context goes to the control plane in `traceparent` metadata; the
control plane carries it on to the agent host, so one trace covers a request end to end.
Spans go to the global TracerProvider; without one (the application did not set up
OpenTelemetry) calls are passed straight through.
"""

from __future__ import annotations

from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors

# The host link is one stream for as long as a host is linked; its messages carry their own context.
UNTRACED_PREFIXES = ("/elizaos.host.v1.",)


def _installed() -> bool:
    provider = trace.get_tracer_provider()
    return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def traced(details: Any) -> bool:
    """Whether a call (grpc.aio.ClientCallDetails) gets a client span: not when nothing would
    record it and there is no trace context to pass on (then the call costs next to nothing)."""
    if not _installed() and not trace.get_current_span().get_span_context().is_valid:
        return False
    method = details.method
    if isinstance(method, bytes):  # grpc passes bytes here (grpc/grpc#31092)
        method = method.decode()
    return not str(method).startswith(UNTRACED_PREFIXES)


def client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """Interceptors to give `grpc.aio.insecure_channel(target, interceptors=...)`: unary and
    streaming calls all traced."""
    interceptors: list[grpc.aio.ClientInterceptor] = aio_client_interceptors(  # type: ignore[no-untyped-call]
        filter_=traced)
    return interceptors
