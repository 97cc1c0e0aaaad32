"""The error policy at the edge of every service, in one place.

`BoundaryInterceptor` wraps every handler of a service's contract:

- each request message (each message of a request stream) is checked against the contract's
  limits first (anpr/field_limits.py): a violation is INVALID_ARGUMENT with google.rpc.BadRequest;
- whatever escapes the handler is mapped to a status, streams included:
  the domain's errors (anpr.runtime.errors.AnprError) to their own code and message; the rest by
  the one classification of failures (anpr.runtime.failures): an outage of PostgreSQL (connection
  refused or lost, pool closed) to UNAVAILABLE, and the health watch is told; an outage of a service
  this one calls to UNAVAILABLE; a value the database refused to INVALID_ARGUMENT; anything else (a
  bug, ours or a peer's) to INTERNAL with a generic message, the traceback logged. Exception text and
  addresses never reach the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import grpc
from grpc import aio

from anpr.field_limits import Checker
from anpr.runtime.auth import wrap_handler
from anpr.runtime.errors import AnprError, InvalidArgument, Unavailable, status_for
from anpr.runtime.failures import PG_REFUSALS, Failure, classify, describe
from anpr.v1 import types_pb2

log = logging.getLogger(__name__)

UNAVAILABLE_MESSAGE = "the service's database is unavailable; retry later"
PEER_UNAVAILABLE_MESSAGE = "a service this one depends on is unavailable; retry later"
INTERNAL_MESSAGE = "internal error; it has been logged"


def domain_error(exc: Exception, method: str) -> AnprError | None:
    """The domain error `exc` stands for, or None when it is a bug (logged with its traceback)."""
    if isinstance(exc, AnprError):
        return exc
    kind = classify(exc)
    if kind is Failure.OUTAGE and isinstance(exc, grpc.aio.AioRpcError):
        log.warning("a service this one calls is unavailable", extra={"method": method, "error": describe(exc)})
        return Unavailable(PEER_UNAVAILABLE_MESSAGE)
    if kind is Failure.OUTAGE:
        log.warning("database unavailable", extra={"method": method, "error": describe(exc)})
        return DatabaseUnavailable(UNAVAILABLE_MESSAGE)
    if kind is Failure.REFUSED and isinstance(exc, PG_REFUSALS):
        log.info("database refused a value", extra={"method": method, "error": describe(exc)})
        return InvalidArgument([("request", f"a value the database cannot store ({describe(exc)})")])
    log.error("unexpected error in handler", extra={"method": method, "error": describe(exc)}, exc_info=exc)
    return None


class DatabaseUnavailable(Unavailable):
    """PostgreSQL is unreachable: the caller retries, and the health watch looks at once."""


class BoundaryInterceptor(aio.ServerInterceptor):
    def __init__(
        self, grpc_service: str, checkers: Mapping[str, Checker], on_outage: Callable[[], None] = lambda: None
    ):
        service = types_pb2.DESCRIPTOR.pool.FindServiceByName(grpc_service)
        self._checks = {f"/{grpc_service}/{m.name}": checkers[m.input_type.full_name] for m in service.methods}
        self._on_outage = on_outage
        # method -> (the servicer's handler, it wrapped): wrapped once, not on every call
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        handler = await continuation(handler_call_details)
        check = self._checks.get(method)
        if handler is None or check is None:
            return handler
        known = self._wrapped.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = wrap_handler(
            handler,
            lambda behavior, streaming: self._wrap(behavior, streaming, handler.request_streaming, check, method),
        )
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    async def _fail(self, exc: Exception, context, method: str) -> None:
        error = domain_error(exc, method)
        if isinstance(error, DatabaseUnavailable):
            self._on_outage()
        if error is None:
            await context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)
        await context.abort_with_status(status_for(error))

    def _wrap(self, behavior, streaming: bool, request_streaming: bool, check: Checker, method: str):
        async def checked(request, context):
            if request_streaming:
                return _checked_stream(request, context, check)
            violations: list[tuple[str, str]] = []
            check(request, "", violations)
            if violations:
                await context.abort_with_status(status_for(InvalidArgument(violations)))
            return request

        if streaming:

            async def stream_behavior(request, context):
                try:
                    async for item in behavior(await checked(request, context), context):
                        yield item
                except aio.AbortError:
                    raise
                except Exception as exc:
                    await self._fail(exc, context, method)

            return stream_behavior

        async def unary_behavior(request, context):
            try:
                return await behavior(await checked(request, context), context)
            except aio.AbortError:
                raise
            except Exception as exc:
                await self._fail(exc, context, method)

        return unary_behavior


async def _checked_stream(requests, context, check: Checker):
    """The request stream, each message checked against the limits as it arrives."""
    async for request in requests:
        violations: list[tuple[str, str]] = []
        check(request, "", violations)
        if violations:
            await context.abort_with_status(status_for(InvalidArgument(violations)))
        yield request
