"""Trace context carried inside host-link messages (a stream has one metadata set; its
messages need their own), in W3C trace-context form."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate


def inject() -> dict[str, str]:
    """The current trace context as a `traceparent`/`tracestate` mapping (empty when not tracing)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, str]) -> otel_context.Context:
    """A context to start child spans from, out of a carrier made by `inject`."""
    return propagate.extract(dict(carrier))
