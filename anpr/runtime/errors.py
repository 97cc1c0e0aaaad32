"""Map failures to gRPC statuses with google.rpc details."""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status


class ConfigError(Exception):
    """A setting (or a file it names) is missing or invalid; its text names the variable. Raised at start;
    the command's main prints it and exits with status 2."""


def bad_request_status(message: str, violations: Iterable[tuple[str, str]]) -> grpc.Status:
    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in violations
            ]
        )
    )
    return rpc_status.to_status(status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message, details=[detail]))


def field_violations_of(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    """The BadRequest field violations carried by an error (client side)."""
    status = rpc_status.from_call(error)
    out = []
    for detail in status.details if status else ():
        br = error_details_pb2.BadRequest()
        if detail.Unpack(br):
            out.extend((v.field, v.description) for v in br.field_violations)
    return out


# --- the domain's errors, mapped to statuses in one place (anpr/runtime/boundary.py) ------------
#
# A handler, a store or a rule raises one of these; the boundary turns it into the call's status.
# The message goes to the caller as it is: name the field, never put values (plates, names) or
# addresses in it.


class AnprError(Exception):
    """Base of the errors raised on purpose; `code` is the gRPC status the caller gets, with
    `details` (google.rpc messages such as QuotaFailure or RetryInfo) when given."""

    code = grpc.StatusCode.INTERNAL

    def __init__(self, message: str = "", details: Iterable[Message] = ()):
        super().__init__(message)
        self.details = list(details)


class InvalidArgument(AnprError):
    """The request itself is wrong: each (field, problem) goes back as a google.rpc.BadRequest
    field violation."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, violations: Iterable[tuple[str, str]]):
        self.violations = list(violations)
        super().__init__("invalid request: " + "; ".join(f"{f}: {d}" for f, d in self.violations))

    @classmethod
    def of(cls, field: str, problem: str) -> InvalidArgument:
        return cls([(field, problem)])


class NotFound(AnprError):
    """No such thing, or none the caller may see (the two are never told apart)."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(AnprError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(AnprError):
    """The caller is known, and may not do this."""

    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(AnprError):
    code = grpc.StatusCode.UNAUTHENTICATED


class FailedPrecondition(AnprError):
    """The request is well formed, but the state it acts on does not allow it (yet)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(AnprError):
    """Over a limit (a batch too large, a rate, too many streams): retry later or smaller."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DataLoss(AnprError):
    """What is stored no longer matches the record it must match (an edit outside the service): the
    caller is not shown it, and the text says where to look."""

    code = grpc.StatusCode.DATA_LOSS


class DeadlineExceeded(AnprError):
    """The caller let a call wait too long for its next message (a stalled stream holding a lock)."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Unavailable(AnprError):
    """A dependency (the database, another service) is down: the caller should retry."""

    code = grpc.StatusCode.UNAVAILABLE


def status_for(error: AnprError) -> grpc.Status:
    if isinstance(error, InvalidArgument):
        return bad_request_status(str(error), error.violations)
    details = []
    for message in error.details:
        detail = any_pb2.Any()
        detail.Pack(message)
        details.append(detail)
    return rpc_status.to_status(status_pb2.Status(code=error.code.value[0], message=str(error), details=details))
