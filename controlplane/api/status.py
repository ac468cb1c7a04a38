"""The one place that maps domain errors to gRPC status codes with google.rpc details.

Every error carries ErrorInfo (reason, domain, metadata); InvalidArgument adds BadRequest
field violations; RESOURCE_EXHAUSTED and UNAVAILABLE add RetryInfo.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from controlplane import errors

log = logging.getLogger(__name__)

DOMAIN = "elizaos.ai"

_CODES: list[tuple[type[errors.DomainError], int]] = [
    (errors.InvalidArgument, code_pb2.INVALID_ARGUMENT),
    (errors.NotFound, code_pb2.NOT_FOUND),
    (errors.AlreadyExists, code_pb2.ALREADY_EXISTS),
    (errors.FailedPrecondition, code_pb2.FAILED_PRECONDITION),
    (errors.Aborted, code_pb2.ABORTED),
    (errors.ResourceExhausted, code_pb2.RESOURCE_EXHAUSTED),
    (errors.Unavailable, code_pb2.UNAVAILABLE),
    (errors.DeadlineExceeded, code_pb2.DEADLINE_EXCEEDED),
]


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def to_status(error: errors.DomainError) -> grpc.Status:
    """The rich gRPC status for a domain error."""
    code = next((c for cls, c in _CODES if isinstance(error, cls)), code_pb2.INTERNAL)
    details = [_pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata=error.metadata))]
    if isinstance(error, errors.InvalidArgument):
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=field, description=desc)
            for field, desc in error.violations
        ])))
    if isinstance(error, errors.Retryable):
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(error.retry_after * 1e9))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    return rpc_status.to_status(status_pb2.Status(code=code, message=error.message, details=details))


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def rpc(method: F) -> F:
    """Decorate a servicer method: domain errors become rich statuses; anything else is logged
    and reported as INTERNAL with a reason, never as UNKNOWN."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except errors.DomainError as exc:
            await context.abort_with_status(to_status(exc))
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            log.exception("event=rpc_failed method=%s", method.__name__)
            internal = errors.DomainError(f"internal error: {type(exc).__name__}", reason="INTERNAL")
            await context.abort_with_status(to_status(internal))

    return wrapper  # type: ignore[return-value]
