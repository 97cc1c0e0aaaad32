"""The error policy at the edge of every service, in one place.

`BoundaryInterceptor` wraps every handler of a service's contract:

- each request message (each message of a request stream) is checked against the contract's
  limits first (anpr/field_limits.py): a violation is INVALID_ARGUMENT with google.rpc.BadRequest;
- whatever escapes the handler is mapped to a status, streams included:
  the domain's errors (anpr.runtime.errors.AnprError) to their own code and message; an outage of
  PostgreSQL (connection refused or lost, pool closed: pg.OUTAGE_ERRORS) to UNAVAILABLE, and the
  health watch is told; a value the database refused (pg.DATA_ERRORS) to INVALID_ARGUMENT; anything
  else to INTERNAL with a generic message, the traceback logged. Exception text and addresses never
  reach the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import grpc
from grpc import aio

from anpr.field_limits import Checker
from anpr.runtime import pg
from anpr.runtime.auth import wrap_handler
from anpr.runtime.errors import AnprError, InvalidArgument, Unavailable, status_for
from anpr.v1 import types_pb2

log = logging.getLogger(__name__)

UNAVAILABLE_MESSAGE = "the service's database is unavailable; retry later"
INTERNAL_MESSAGE = "internal error; it has been logged"


def domain_error(exc: Exception, method: str) -> AnprError | None:
    """The domain error `exc` stands for, or None when it is a bug (logged with its traceback)."""
    if isinstance(exc, AnprError):
        return exc
    if pg.is_outage(exc):
        log.warning("database unavailable", extra={"method": method, "error": type(exc).__name__})
        return Unavailable(UNAVAILABLE_MESSAGE)
    if isinstance(exc, pg.DATA_ERRORS):
        log.info("database refused a value", extra={"method": method, "error": type(exc).__name__})
        return InvalidArgument([("request", f"a value the database cannot store ({type(exc).__name__})")])
    log.error("unexpected error in handler", extra={"method": method}, exc_info=exc)
    return None


class BoundaryInterceptor(aio.ServerInterceptor):
    def __init__(
        self, grpc_service: str, checkers: Mapping[str, Checker], on_outage: Callable[[], None] = lambda: None
    ):
        service = types_pb2.DESCRIPTOR.pool.FindServiceByName(grpc_service)
        self._checks = {f"/{grpc_service}/{m.name}": checkers[m.input_type.full_name] for m in service.methods}
        self._on_outage = on_outage

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        handler = await continuation(handler_call_details)
        check = self._checks.get(method)
        if handler is None or check is None:
            return handler
        return wrap_handler(
            handler,
            lambda behavior, streaming: self._wrap(behavior, streaming, handler.request_streaming, check, method),
        )

    async def _fail(self, exc: Exception, context, method: str) -> None:
        error = domain_error(exc, method)
        if isinstance(error, Unavailable):
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
