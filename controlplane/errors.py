"""Domain errors. Raised below the API layer; controlplane/api/status.py maps them to gRPC."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class DomainError(Exception):
    """Base of every error the control plane reports to a caller.

    `reason` is a stable UPPER_SNAKE identifier (google.rpc.ErrorInfo.reason); `metadata` adds
    machine-readable context. Messages never contain secrets.
    """

    reason = "ERROR"

    def __init__(self, message: str, *, reason: str | None = None, metadata: Mapping[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})


class InvalidArgument(DomainError):
    """The request is malformed; `violations` lists (field path, description) pairs."""

    reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        violations: Sequence[tuple[str, str]],
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ):
        text = "; ".join(f"{field}: {desc}" for field, desc in violations)
        super().__init__(f"invalid request: {text}", reason=reason, metadata=metadata)
        self.violations = list(violations)


class NotFound(DomainError):
    """The addressed resource does not exist."""

    reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    """A resource with that identity exists already."""

    reason = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    """The resource is not in a state that allows the operation."""

    reason = "FAILED_PRECONDITION"


class Aborted(DomainError):
    """A concurrent update won; retry with the new revision."""

    reason = "CONCURRENT_UPDATE"


class Retryable(DomainError):
    """An error worth retrying after `retry_after` seconds (sent as google.rpc.RetryInfo)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float = 1.0,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ):
        super().__init__(message, reason=reason, metadata=metadata)
        self.retry_after = retry_after


class ResourceExhausted(Retryable):
    """A limit is reached; `retry_after` (seconds) says when retrying may help."""

    reason = "RESOURCE_EXHAUSTED"


class Unavailable(Retryable):
    """A dependency (etcd, a host) cannot be reached now; retry after `retry_after` seconds."""

    reason = "UNAVAILABLE"


class DeadlineExceeded(DomainError):
    """The operation did not finish before its deadline."""

    reason = "DEADLINE_EXCEEDED"
