"""Tracing setup, and trace context carried inside host-link messages.

A host-link stream has one metadata set for its whole life, so each of its messages carries
its own W3C trace context (`inject` on the sender, `extract` on the receiver). Spans of RPCs
come from the interceptors (controlplane.middleware.tracing, elizaos._tracing); spans of an
agent's pipeline from the agent host.

`setup_tracing` installs the SDK's TracerProvider once per process (never over one that is
already installed, e.g. by a test or an embedding application); OTLP export is optional and
needs the `otlp` extra (`opentelemetry-exporter-otlp-proto-grpc`). The SDK's standard
variables apply (OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER=parentbased_traceidratio with
OTEL_TRACES_SAMPLER_ARG to sample). Without a provider, no span work is done at all: the
interceptors pass calls through (only a caller's trace context is passed on) and hosts make
no spans.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger(__name__)

OTLP_PACKAGE = "opentelemetry-exporter-otlp-proto-grpc"
VERSION = "0.1.0"

_lock = threading.Lock()
_tracers: dict[str, tuple[trace.TracerProvider, trace.Tracer]] = {}
_installed: dict[str, trace.TracerProvider] = {}


class TracingSetupError(RuntimeError):
    """Tracing was asked for but cannot be set up (the message says what to install)."""


def inject() -> dict[str, str]:
    """The current trace context as a `traceparent`/`tracestate` mapping (empty when not tracing)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, str]) -> otel_context.Context:
    """A context to start child spans from, out of a carrier made by `inject` (empty: a new trace)."""
    return propagate.extract(dict(carrier), context=otel_context.Context())


def tracer(name: str) -> trace.Tracer:
    """The tracer `name` of the current global provider (cached per provider, so a provider
    installed later, or replaced by a test, is picked up)."""
    provider = trace.get_tracer_provider()
    cached = _tracers.get(name)
    if cached is not None and cached[0] is provider:
        return cached[1]
    made = provider.get_tracer(name, VERSION)
    _tracers[name] = (provider, made)
    return made


def tracing_installed() -> bool:
    """Whether a real TracerProvider is installed (by `setup_tracing`, a test, or the application);
    without one, spans are no-ops and instrumentation may skip making them (but should still
    pass on a trace context it was given)."""
    return not isinstance(trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def _otlp_exporter(endpoint: str) -> SpanExporter:
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found,unused-ignore]
            OTLPSpanExporter,
        )
    except ImportError as exc:
        raise TracingSetupError(
            f"telemetry.otlp_endpoint is set ({endpoint}) but the OTLP exporter is not installed: "
            f"pip install {OTLP_PACKAGE} (or the `otlp` extra: pip install 'elizaos-controlplane[otlp]')"
        ) from exc
    insecure: bool | None = None
    if "://" not in endpoint and "OTEL_EXPORTER_OTLP_INSECURE" not in os.environ:
        insecure = True  # a bare host:port is a plaintext collector; use https://host:port for TLS
    exporter: SpanExporter = OTLPSpanExporter(endpoint=endpoint, insecure=insecure)
    return exporter


def setup_tracing(service_name: str, otlp_endpoint: str = "") -> None:
    """Install an SDK TracerProvider (resource service.name; OTEL_SERVICE_NAME wins if set) as the
    global one, exporting to `otlp_endpoint` over OTLP/gRPC when given.

    Idempotent: once a provider is installed (by this function or anyone else) it is left alone.
    Raises TracingSetupError naming the package to install when the endpoint is set but the
    OTLP exporter is missing.
    """
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter = _otlp_exporter(otlp_endpoint) if otlp_endpoint else None
    with _lock:
        current = trace.get_tracer_provider()
        if not isinstance(current, trace.ProxyTracerProvider):  # one is set already
            if exporter is not None:
                exporter.shutdown()
                if current is not _installed.get("provider"):
                    log.warning("event=tracing_provider_exists provider=%s otlp_endpoint_not_applied=%s",
                                type(current).__name__, otlp_endpoint)
            return
        name = os.environ.get("OTEL_SERVICE_NAME") or service_name
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _installed["provider"] = provider
    log.info("event=tracing_enabled service=%s otlp=%s", name, otlp_endpoint or "off")


# Span attributes of agent work (the host's spans; also useful to filter traces by agent).
AGENT_ID = "elizaos.agent.id"
AGENT_EPOCH = "elizaos.agent.epoch"
ROOM_ID = "elizaos.room.id"
ACTIONS = "elizaos.actions"
"""The actions an agent took for a message (a list)."""
PLUGINS = "elizaos.plugins"
REPLY_ERROR = "elizaos.reply.error_code"
