"""Domain errors -> rich gRPC status (controlplane.api.status) -> ElizaOSError (client side)."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from controlplane import errors
from controlplane.api.status import DOMAIN, to_status
from elizaos._errors import ElizaOSError, FieldViolation

DETAILS_KEY = "grpc-status-details-bin"


class FakeRpcError(grpc.RpcError):
    """What a failed call raises: code, details and trailing metadata."""

    def __init__(self, status: grpc.Status) -> None:
        super().__init__()
        self._status = status

    def code(self) -> grpc.StatusCode:
        return self._status.code

    def details(self) -> str:
        return self._status.details

    def trailing_metadata(self) -> Sequence[tuple[str, bytes]]:
        return self._status.trailing_metadata


def round_trip(error: errors.DomainError) -> ElizaOSError:
    return ElizaOSError.from_rpc_error(FakeRpcError(to_status(error)))


def detail_types(status: grpc.Status) -> list[str]:
    [(key, value)] = [item for item in status.trailing_metadata if item[0] == DETAILS_KEY]
    assert key == DETAILS_KEY
    decoded = status_pb2.Status.FromString(value)
    assert decoded.message == status.details
    assert decoded.code == status.code.value[0]
    return [detail.TypeName() for detail in decoded.details]


ERROR_INFO = "google.rpc.ErrorInfo"
BAD_REQUEST = "google.rpc.BadRequest"
RETRY_INFO = "google.rpc.RetryInfo"

CASES: list[tuple[errors.DomainError, grpc.StatusCode, str, list[str]]] = [
    (errors.InvalidArgument([("character.name", "is required")]), grpc.StatusCode.INVALID_ARGUMENT,
     "INVALID_ARGUMENT", [ERROR_INFO, BAD_REQUEST]),
    (errors.NotFound("agent 1 not found"), grpc.StatusCode.NOT_FOUND, "NOT_FOUND", [ERROR_INFO]),
    (errors.AlreadyExists("exists"), grpc.StatusCode.ALREADY_EXISTS, "ALREADY_EXISTS", [ERROR_INFO]),
    (errors.FailedPrecondition("stopped"), grpc.StatusCode.FAILED_PRECONDITION, "FAILED_PRECONDITION",
     [ERROR_INFO]),
    (errors.Aborted("revision moved"), grpc.StatusCode.ABORTED, "CONCURRENT_UPDATE", [ERROR_INFO]),
    (errors.ResourceExhausted("full", retry_after=2.5), grpc.StatusCode.RESOURCE_EXHAUSTED,
     "RESOURCE_EXHAUSTED", [ERROR_INFO, RETRY_INFO]),
    (errors.Unavailable("etcd down"), grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE", [ERROR_INFO, RETRY_INFO]),
    (errors.DeadlineExceeded("too slow"), grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", [ERROR_INFO]),
    (errors.DomainError("internal error: KeyError", reason="INTERNAL"), grpc.StatusCode.INTERNAL, "INTERNAL",
     [ERROR_INFO]),
]


@pytest.mark.parametrize(("error", "code", "reason", "details"), CASES, ids=lambda c: type(c).__name__)
def test_status_code_and_details(
    error: errors.DomainError, code: grpc.StatusCode, reason: str, details: list[str]
) -> None:
    status = to_status(error)
    assert status.code == code
    assert status.details == error.message
    assert detail_types(status) == details


@pytest.mark.parametrize(("error", "code", "reason", "details"), CASES, ids=lambda c: type(c).__name__)
def test_client_decodes_code_message_and_error_info(
    error: errors.DomainError, code: grpc.StatusCode, reason: str, details: list[str]
) -> None:
    decoded = round_trip(error)
    assert isinstance(decoded, Exception)
    assert decoded.code == code
    assert decoded.message == error.message
    assert decoded.reason == reason
    assert decoded.domain == DOMAIN == "elizaos.ai"
    assert decoded.metadata == {}
    assert str(decoded) == f"{code.name}: {error.message}"
    assert (decoded.retry_delay is not None) == (RETRY_INFO in details)
    assert bool(decoded.field_violations) == (BAD_REQUEST in details)


def test_invalid_argument_field_violations() -> None:
    error = errors.InvalidArgument([
        ("character.name", "is required"),
        ("plugins[0]", "must not be empty"),
        ("resources.cpu", "must be between 0 and 1024"),
    ])
    decoded = round_trip(error)
    assert decoded.code == grpc.StatusCode.INVALID_ARGUMENT
    assert decoded.field_violations == [
        FieldViolation("character.name", "is required"),
        FieldViolation("plugins[0]", "must not be empty"),
        FieldViolation("resources.cpu", "must be between 0 and 1024"),
    ]
    assert decoded.message == (
        "invalid request: character.name: is required; plugins[0]: must not be empty; "
        "resources.cpu: must be between 0 and 1024"
    )
    assert decoded.retry_delay is None


def test_metadata_and_custom_reason_survive() -> None:
    error = errors.NotFound("agent x not found", reason="AGENT_NOT_FOUND", metadata={"agent_id": "x", "n": "1"})
    decoded = round_trip(error)
    assert decoded.code == grpc.StatusCode.NOT_FOUND
    assert decoded.reason == "AGENT_NOT_FOUND"
    assert decoded.metadata == {"agent_id": "x", "n": "1"}


def test_invalid_argument_with_metadata() -> None:
    error = errors.InvalidArgument([("text", "must not be empty")], metadata={"agent_id": "a"})
    decoded = round_trip(error)
    assert decoded.metadata == {"agent_id": "a"}
    assert decoded.field_violations == [FieldViolation("text", "must not be empty")]


@pytest.mark.parametrize("seconds", [0.25, 1.0, 2.5, 30.0, 0.001])
def test_retry_delay_resource_exhausted(seconds: float) -> None:
    decoded = round_trip(errors.ResourceExhausted("limit", retry_after=seconds))
    assert decoded.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert decoded.retry_delay == pytest.approx(seconds)


def test_retry_delay_unavailable_default_and_explicit() -> None:
    assert round_trip(errors.Unavailable("down")).retry_delay == pytest.approx(1.0)
    assert round_trip(errors.Unavailable("down", retry_after=0.5)).retry_delay == pytest.approx(0.5)


def test_retry_info_duration_encoding() -> None:
    status = to_status(errors.Unavailable("down", retry_after=2.5))
    decoded = status_pb2.Status.FromString(dict(status.trailing_metadata)[DETAILS_KEY])
    retry = error_details_pb2.RetryInfo()
    assert decoded.details[-1].Unpack(retry)
    assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (2, 500_000_000)


def test_error_without_trailers() -> None:
    class Bare(grpc.RpcError):
        def code(self) -> grpc.StatusCode:
            return grpc.StatusCode.UNAVAILABLE

        def details(self) -> str:
            return "connection refused"

        def trailing_metadata(self) -> None:
            return None

    decoded = ElizaOSError.from_rpc_error(Bare())
    assert decoded.code == grpc.StatusCode.UNAVAILABLE
    assert decoded.message == "connection refused"
    assert (decoded.reason, decoded.domain, decoded.metadata) == ("", "", {})
    assert decoded.field_violations == []
    assert decoded.retry_delay is None


def test_other_trailers_are_ignored() -> None:
    status = to_status(errors.NotFound("gone"))
    trailers = (("x-request-id", "abc"), *status.trailing_metadata)

    class WithExtra(FakeRpcError):
        def trailing_metadata(self) -> Sequence[tuple[str, bytes]]:
            return trailers  # type: ignore[return-value]

    decoded = ElizaOSError.from_rpc_error(WithExtra(status))
    assert decoded.reason == "NOT_FOUND"
    assert decoded.code == grpc.StatusCode.NOT_FOUND
