"""Client side helpers shared by the `anpr` commands, the demo, the benchmarks and the tests."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from anpr.runtime.auth import bearer_interceptors
from anpr.runtime.errors import field_violations_of
from anpr.runtime.tls import ClientTls


class CommandError(Exception):
    """A command cannot go on: `cli.main` prints the message and exits with `code`."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def token() -> str:
    """The caller's bearer token (ANPR_TOKEN)."""
    value = os.environ.get("ANPR_TOKEN")
    if not value:
        raise CommandError("ANPR_TOKEN is not set: export the bearer token of this terminal or console")
    return value


def rpc_error(err: grpc.aio.AioRpcError) -> CommandError:
    """A refused call as the command reports it: the status code and the fields named."""
    fields = field_violations_of(err)
    detail = "; ".join(f"{f}: {d}" for f, d in fields) if fields else err.details()
    return CommandError(f"{err.code().name}: {detail}")


def channel(target: str, token: str | None = None, tls: ClientTls | None = None) -> aio.Channel:
    """A channel to a service, sending `authorization: Bearer <token>` when a token is given; TLS
    when `tls` is given (the command: `ClientTls.from_env()`, i.e. ANPR_TLS_CA_FILE)."""
    interceptors = bearer_interceptors(token) if token else None
    if tls is not None:
        return aio.secure_channel(target, tls.credentials(), interceptors=interceptors)
    return aio.insecure_channel(target, interceptors=interceptors)


def command_channel(target: str) -> aio.Channel:
    """The channel of an `anpr` client command: the caller's token (ANPR_TOKEN) and, when
    ANPR_TLS_CA_FILE is set, TLS verifying the server by that CA. Every client command uses it."""
    return channel(target, token(), ClientTls.from_env())


async def wait_serving(
    target: str, *, alive: Callable[[], bool] = lambda: True, within_s: float = 60.0, tls: ClientTls | None = None
) -> bool:
    """Follow the server's grpc.health.v1 Watch stream until it says SERVING (True), or give up
    when `alive()` turns false (the process died) or `within_s` seconds pass (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    serving = health_pb2.HealthCheckResponse.SERVING
    async with channel(target, tls=tls) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while alive() and (remaining := deadline - loop.time()) > 0:
            try:  # a short deadline per watch, so a process that died is noticed
                async for resp in stub.Watch(
                    health_pb2.HealthCheckRequest(), timeout=min(2.0, remaining), wait_for_ready=True
                ):
                    if resp.status == serving:
                        return True
            except grpc.aio.AioRpcError:
                pass
    return False


async def save_file(name: str, data: bytes) -> Path:
    """Write `data` to the file `name` off the event loop (a screen's streams go on); its full path."""

    def write() -> Path:
        path = Path(name).resolve()
        path.write_bytes(data)
        return path

    return await asyncio.to_thread(write)


def subscribe(channel: aio.Channel, request, **kwargs):
    """Open NotifyService.Subscribe with one request (the stream goes on after the client's side
    closes); for a moving unit, use the stub's Subscribe with an iterator of requests instead."""
    from anpr.v1 import notify_pb2_grpc

    return notify_pb2_grpc.NotifyServiceStub(channel).Subscribe(iter([request]), **kwargs)
