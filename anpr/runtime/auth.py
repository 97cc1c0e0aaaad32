"""Bearer-token authentication and per-RPC role authorisation.

Tokens are never stored in clear: the tokens file holds SHA-256 hashes.

    {"tokens": [{"sha256": "<hex>", "role": "camera", "subject": "vendor-acme-cam-17"}]}

Each service declares, for every RPC of its contract, the roles allowed to call it; a service
refuses to start when an RPC has no declaration. Health and reflection are open (probes and
grpcurl need them).
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import hashlib
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc import aio

from anpr.runtime.config import ConfigError
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


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


class TokenRegistry:
    def __init__(self, entries: Mapping[str, Caller]):
        self._by_hash = dict(entries)

    @classmethod
    def from_file(cls, path: Path) -> "TokenRegistry":
        try:
            doc = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"ANPR_TOKENS_FILE: no such file: {path}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"ANPR_TOKENS_FILE: {path} is not valid JSON: {exc}") from None
        entries = {}
        for i, item in enumerate(doc.get("tokens", [])):
            try:
                claims = {k: item[k] for k in ("force", "national", "unit", "covert") if k in item}
                entries[item["sha256"]] = Caller(Role(item["role"]), item["subject"], **claims)
            except (KeyError, ValueError, TypeError) as exc:
                raise ConfigError(f"ANPR_TOKENS_FILE: tokens[{i}] is invalid ({exc})") from None
        return cls(entries)

    @staticmethod
    def write_file(path: Path, tokens: Iterable[tuple[str, Role, str]]) -> None:
        """Write a tokens file for (token, role, subject) triples; only hashes are written."""
        TokenRegistry.write_identities(path, [(t, Caller(r, s)) for t, r, s in tokens])

    @staticmethod
    def write_identities(path: Path, tokens: Iterable[tuple[str, Caller]]) -> None:
        """Write a tokens file for (token, identity) pairs: the hash, role, subject and the claims
        that are set (force, national, unit, covert); never the token itself."""
        items = []
        for token, c in tokens:
            claims = {"force": c.force, "national": c.national, "unit": c.unit, "covert": c.covert}
            items.append(
                {"sha256": hash_token(token), "role": str(c.role), "subject": c.subject}
                | {k: v for k, v in claims.items() if v}
            )
        path.write_text(json.dumps({"tokens": items}, indent=2))
        path.chmod(0o600)

    def authenticate(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> Caller | None:
        for key, value in metadata or ():
            if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
                return self._by_hash.get(hash_token(value[len("Bearer ") :].strip()))
        return None


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


class AuthInterceptor(aio.ServerInterceptor):
    """Authenticates the bearer token and checks the caller's role against the RPC's declaration.

    Until `ready()` is true every call gets UNAVAILABLE (the service is still migrating or loading).
    It is the server's outermost interceptor: it drives every response stream (`streams`: open
    streams per identity, streams that are not read, closing in the call's own task).
    """

    def __init__(
        self,
        registry: TokenRegistry,
        method_roles: Mapping[str, frozenset[Role]],
        ready: Callable[[], bool] = lambda: True,
        *,
        service_needs_client_cert: bool = False,
        streams: StreamGuard | None = None,
    ):
        self._registry = registry
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

    async def intercept_service(self, continuation, handler_call_details):
        method: str = handler_call_details.method
        rpc = method.rsplit("/", 1)[-1]
        handler = await continuation(handler_call_details)
        if handler is None or method.lstrip("/").split("/")[0] in OPEN_SERVICES:
            return handler
        caller = self._registry.authenticate(handler_call_details.invocation_metadata)
        allowed = self._roles.get(method, frozenset())
        if not self._ready():
            denial = (grpc.StatusCode.UNAVAILABLE, "service is starting")
        elif caller is None:
            denial = (grpc.StatusCode.UNAUTHENTICATED, "missing or unknown bearer token")
        elif caller.role not in allowed:
            denial = (grpc.StatusCode.PERMISSION_DENIED, f"role {caller.role} may not call {method}")
        else:
            denial = None

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
    def __init__(self, token: str):
        self._md = ("authorization", f"Bearer {token}")

    def _details(self, details: aio.ClientCallDetails) -> aio.ClientCallDetails:
        metadata = aio.Metadata(*(details.metadata or ()))
        metadata.add(*self._md)
        return aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )


class _UU(_BearerAuth, aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, details, request):
        return await continuation(self._details(details), request)


class _US(_BearerAuth, aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, details, request):
        return await continuation(self._details(details), request)


class _SU(_BearerAuth, aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, details, request_iterator):
        return await continuation(self._details(details), request_iterator)


class _SS(_BearerAuth, aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, details, request_iterator):
        return await continuation(self._details(details), request_iterator)


def bearer_interceptors(token: str) -> list[aio.ClientInterceptor]:
    """Client interceptors that put `authorization: Bearer <token>` on every call."""
    return [_UU(token), _US(token), _SU(token), _SS(token)]
