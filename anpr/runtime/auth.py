"""Who is calling (a verified bearer token: anpr.runtime.identity) and per-RPC role authorisation.

Each service declares, for every RPC of its contract, the roles allowed to call it; a service
refuses to start when an RPC has no declaration. Health and reflection are open (probes and
grpcurl need them).
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import grpc
from grpc import aio

from anpr.runtime.errors import AnprError
from anpr.runtime.streams import StreamGuard
from anpr.runtime.tls import has_verified_client_cert


class Role(enum.StrEnum):
    CAMERA = "camera"
    TERMINAL = "terminal"
    CONTROL_ROOM = "control_room"
    TFC = "tfc"
    # A supervising firearms commander: the supervisor view, closure sign-off, the rota.
    TFC_SUPERVISOR = "tfc_supervisor"
    HOTLIST_ADMIN = "hotlist_admin"
    CAMERA_ADMIN = "camera_admin"
    SERVICE = "service"


@dataclass(frozen=True)
class Caller:
    """Who is calling, as verified: never taken from what a request says about its caller.

    `force`: the force (or agency) the identity belongs to; `national`: it sees every force (a
    national control room, an auditor); `unit`: a terminal's unit (call sign); `covert`: cleared for
    covert lists. A service's identity has none of them."""

    role: Role
    subject: str
    force: str = ""
    national: bool = False
    unit: str = ""
    covert: bool = False


_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("anpr_caller", default=None)

OPEN_SERVICES = (
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
)


def current_caller() -> Caller:
    """The authenticated caller of the RPC being handled."""
    caller = _caller.get()
    if caller is None:
        raise RuntimeError("current_caller() called outside an authenticated RPC")
    return caller


@contextlib.contextmanager
def _bound(caller: Caller | None):
    """`caller` is the current caller inside (set and reset in the same task)."""
    token = _caller.set(caller)
    try:
        yield
    finally:
        _caller.reset(token)


def bearer(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The bearer token of a call's `authorization` metadata ("" when there is none)."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str) and value[:7].lower() == "bearer ":
            return value[7:].strip()
    return ""


class TokenVerifier(Protocol):
    """Bearer token -> verified Caller, raising the domain's errors (anpr.runtime.identity.Verifier)."""

    async def caller(self, token: str) -> Caller: ...


def wrap_handler(handler: grpc.RpcMethodHandler, wrap: Callable) -> grpc.RpcMethodHandler:
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            wrap(handler.unary_unary, False), handler.request_deserializer, handler.response_serializer
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            wrap(handler.unary_stream, True), handler.request_deserializer, handler.response_serializer
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            wrap(handler.stream_unary, False), handler.request_deserializer, handler.response_serializer
        )
    return grpc.stream_stream_rpc_method_handler(
        wrap(handler.stream_stream, True), handler.request_deserializer, handler.response_serializer
    )


def _count_refusal(code: grpc.StatusCode) -> None:
    from anpr.runtime import metrics  # (a server's only: the commands that import Role need none of it)

    metrics.AUTH_REFUSALS.add(1, {"code": code.name})


class AuthInterceptor(aio.ServerInterceptor):
    """Verifies the bearer token and checks the caller's role against the RPC's declaration.

    No token, or one that does not verify: UNAUTHENTICATED; a verified identity the suite cannot serve,
    or a role not allowed for the RPC: PERMISSION_DENIED (anpr.runtime.claims). Until `ready()` is
    true every call gets UNAVAILABLE (the service is still migrating or loading).
    It is the server's outermost interceptor: it drives every response stream (`streams`: open
    streams per identity, streams that are not read, closing in the call's own task).
    """

    def __init__(
        self,
        verifier: TokenVerifier,
        method_roles: Mapping[str, frozenset[Role]],
        ready: Callable[[], bool] = lambda: True,
        *,
        service_needs_client_cert: bool = False,
        streams: StreamGuard | None = None,
    ):
        self._verifier = verifier
        self._roles = dict(method_roles)
        self._ready = ready
        # With TLS on, the `service` role is honoured only on a connection with a verified client
        # certificate of the cluster CA (the service port, mutual TLS): see anpr.runtime.tls.
        self._service_needs_cert = service_needs_client_cert
        # Open streams per identity, streams that are not read, and their closing: the outermost
        # interceptor drives every response stream (see anpr.runtime.streams).
        self._streams = streams or StreamGuard()

    def _cert_denial(self, caller: Caller | None, context) -> tuple[grpc.StatusCode, str] | None:
        if (
            self._service_needs_cert
            and caller is not None
            and caller.role is Role.SERVICE
            and not has_verified_client_cert(context)
        ):
            return (grpc.StatusCode.PERMISSION_DENIED, "role service needs mutual TLS (the service port)")
        return None

    async def _identify(self, method: str, metadata) -> tuple[Caller | None, tuple[grpc.StatusCode, str] | None]:
        """The verified caller, or why the call is refused."""
        if not self._ready():
            return None, (grpc.StatusCode.UNAVAILABLE, "service is starting")
        try:
            caller = await self._verifier.caller(bearer(metadata))
        except AnprError as exc:
            _count_refusal(exc.code)
            return None, (exc.code, str(exc))
        if caller.role not in self._roles.get(method, frozenset()):
            _count_refusal(grpc.StatusCode.PERMISSION_DENIED)
            return caller, (grpc.StatusCode.PERMISSION_DENIED, f"role {caller.role} may not call {method}")
        return caller, None

    async def intercept_service(self, continuation, handler_call_details):
        method: str = handler_call_details.method
        rpc = method.rsplit("/", 1)[-1]
        handler = await continuation(handler_call_details)
        if handler is None or method.lstrip("/").split("/")[0] in OPEN_SERVICES:
            return handler
        caller, denial = await self._identify(method, handler_call_details.invocation_metadata)

        def bound():
            return _bound(caller)

        def wrap(behavior, streaming: bool):
            if streaming:  # driven by the stream guard, closed in this call's task (anpr.runtime.streams)
                return self._streams.drive(
                    behavior,
                    rpc,
                    caller.subject if caller else "",
                    lambda c: denial or self._cert_denial(caller, c),
                    bound,
                )

            async def unary_behavior(request, context):
                if refused := denial or self._cert_denial(caller, context):
                    await context.abort(*refused)
                with bound():
                    return await behavior(request, context)

            return unary_behavior

        return wrap_handler(handler, wrap)


class _BearerAuth:
    def __init__(self, token: str | Callable[[], Awaitable[str]]):
        self._token = token

    async def _details(self, details: aio.ClientCallDetails) -> aio.ClientCallDetails:
        token = self._token if isinstance(self._token, str) else await self._token()
        metadata = aio.Metadata(*(details.metadata or ()))
        metadata.add("authorization", f"Bearer {token}")
        return aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )


class _UU(_BearerAuth, aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, details, request):
        return await continuation(await self._details(details), request)


class _US(_BearerAuth, aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, details, request):
        return await continuation(await self._details(details), request)


class _SU(_BearerAuth, aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, details, request_iterator):
        return await continuation(await self._details(details), request_iterator)


class _SS(_BearerAuth, aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, details, request_iterator):
        return await continuation(await self._details(details), request_iterator)


def bearer_interceptors(token: str | Callable[[], Awaitable[str]]) -> list[aio.ClientInterceptor]:
    """Client interceptors that put `authorization: Bearer <token>` on every call; `token` is the
    token, or a coroutine function giving the current one (a service's own, renewed as it expires)."""
    return [_UU(token), _US(token), _SU(token), _SS(token)]
