"""Request-rate limiting for the public API (resource_limits.max_requests_per_minute).

A token bucket per replica: `rate` tokens a minute, bursts up to one minute's worth. A call
over the limit is answered RESOURCE_EXHAUSTED with RetryInfo saying when a token is due. The
host link is not limited: hosts are part of the cluster, not callers.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from controlplane.api.status import to_status
from controlplane.errors import ResourceExhausted

EXEMPT_PREFIXES = ("/elizaos.host.v1.", "/grpc.health.v1.", "/grpc.reflection.")


class TokenBucket:
    """`rate_per_minute` tokens a minute, holding at most `burst` tokens."""

    def __init__(self, rate_per_minute: int, burst: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_per_minute / 60.0
        self.capacity = float(burst if burst is not None else rate_per_minute)
        self.tokens = self.capacity
        self._clock = clock
        self._last = clock()

    def take(self) -> float:
        """0.0 if a token was taken, else the seconds until one is available."""
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
        self._last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimitInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc ships no stubs
    """Rejects API calls beyond the configured rate with RESOURCE_EXHAUSTED + RetryInfo."""

    def __init__(self, rate_per_minute: int) -> None:
        self._bucket = TokenBucket(rate_per_minute)
        self._limit = rate_per_minute

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method
        if method.startswith(EXEMPT_PREFIXES):
            return await continuation(handler_call_details)
        wait = self._bucket.take()
        if not wait:
            return await continuation(handler_call_details)
        status = to_status(ResourceExhausted(
            f"rate limit of {self._limit} requests per minute reached", retry_after=wait,
            reason="RATE_LIMITED", metadata={"limit_per_minute": str(self._limit)}))
        handler = await continuation(handler_call_details)

        async def reject(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await context.abort_with_status(status)

        if handler is not None and handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(reject, handler.request_deserializer,
                                                       handler.response_serializer)
        return handler
