"""Counts and times every RPC by method and status code (for Prometheus)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc

from controlplane.metrics import ControlPlaneMetrics


def _code(context: grpc.aio.ServicerContext) -> str:
    code = context.code()
    if code is None:
        return "OK"
    return code.name if isinstance(code, grpc.StatusCode) else str(code)


class MetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc ships no stubs
    """Wraps unary and server-streaming handlers; the host link stream is counted when it ends."""

    def __init__(self, metrics: ControlPlaneMetrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method: str = handler_call_details.method
        requests, latency = self._metrics.rpc_requests, self._metrics.rpc_latency.labels(method)

        @contextlib.contextmanager
        def counted(context: grpc.aio.ServicerContext, timed: bool) -> Iterator[None]:
            start, failed = time.perf_counter(), "UNKNOWN"
            try:
                yield
            except BaseException as exc:
                cancelled = isinstance(exc, asyncio.CancelledError) and context.code() is None
                failed = "CANCELLED" if cancelled else _code(context) if context.code() is not None else failed
                requests.labels(method, failed).inc()
                raise
            else:
                requests.labels(method, _code(context)).inc()
            finally:
                if timed:
                    latency.observe(time.perf_counter() - start)

        if handler.unary_unary is not None:
            behavior = handler.unary_unary

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                with counted(context, timed=True):
                    return await behavior(request, context)

            return grpc.unary_unary_rpc_method_handler(unary, handler.request_deserializer,
                                                       handler.response_serializer)
        if handler.unary_stream is not None and not inspect.isasyncgenfunction(handler.unary_stream):
            # A streaming handler written with context.write() (e.g. grpc.health.v1 Watch).
            writer = handler.unary_stream

            async def unary_writer(request: Any, context: grpc.aio.ServicerContext) -> None:
                with counted(context, timed=False):
                    await writer(request, context)

            return grpc.unary_stream_rpc_method_handler(unary_writer, handler.request_deserializer,
                                                        handler.response_serializer)
        if handler.unary_stream is not None:
            stream = handler.unary_stream

            async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                with counted(context, timed=False):
                    async for item in stream(request, context):
                        yield item

            return grpc.unary_stream_rpc_method_handler(unary_stream, handler.request_deserializer,
                                                        handler.response_serializer)
        return handler
