"""Map failures to gRPC statuses with google.rpc details."""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status


def bad_request_status(message: str, violations: Iterable[tuple[str, str]]) -> grpc.Status:
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.BadRequest(field_violations=[
        error_details_pb2.BadRequest.FieldViolation(field=f, description=d) for f, d in violations]))
    return rpc_status.to_status(status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT, message=message, details=[detail]))


async def abort_invalid(context: grpc.aio.ServicerContext, violations: Iterable[tuple[str, str]]) -> None:
    violations = list(violations)
    message = "invalid request: " + "; ".join(f"{f}: {d}" for f, d in violations)
    await context.abort_with_status(bad_request_status(message, violations))


def field_violations_of(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    """The BadRequest field violations carried by an error (client side)."""
    status = rpc_status.from_call(error)
    out = []
    for detail in status.details if status else ():
        br = error_details_pb2.BadRequest()
        if detail.Unpack(br):
            out.extend((v.field, v.description) for v in br.field_violations)
    return out
