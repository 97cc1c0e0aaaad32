"""Client side helpers shared by the `anpr` commands, the demo, the benchmarks and the tests, and
the suite file through which the commands find the suite that `anpr up` started."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from anpr.runtime.auth import Role, bearer_interceptors
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


SUITE_FILE = "suite.json"
DEFAULT_DATA_DIR = Path(".anpr")


def data_dir(given: Path | None = None) -> Path:
    """Where `anpr up` keeps its state: `--data-dir`, else ANPR_DATA_DIR, else .anpr."""
    return given or Path(os.environ.get("ANPR_DATA_DIR") or DEFAULT_DATA_DIR)


@dataclass(frozen=True)
class SuiteFile:
    """What `anpr up` writes to <data dir>/suite.json while it runs, for the `anpr` commands and for
    clients in any language: each service's address, the CA that verifies them, a demo token per
    role, the embedded database's DSN (absent with ANPR_DATABASE_URL) and the pid of `anpr up`."""

    addresses: Mapping[str, str]
    ca_file: str | None = None
    tokens: Mapping[str, str] = field(default_factory=dict)
    database_url: str | None = None
    pid: int | None = None

    def write(self, directory: Path) -> Path:
        """Written whole then renamed (a reader never sees half of it); readable by its owner only."""
        path, part = directory / SUITE_FILE, directory / f"{SUITE_FILE}.part"
        fields = self.__dict__ | {"addresses": dict(self.addresses), "tokens": dict(self.tokens)}
        part.write_text(json.dumps({k: v for k, v in fields.items() if v is not None}))  # absent, not null
        part.chmod(0o600)
        part.replace(path)
        return path

    @classmethod
    def read(cls, directory: Path) -> SuiteFile | None:
        """The suite file of `directory`, None when there is none (no `anpr up` ran there)."""
        try:
            raw = json.loads((directory / SUITE_FILE).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise CommandError(f"{directory / SUITE_FILE} cannot be read ({type(exc).__name__})") from None
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


@dataclass(frozen=True)
class Target:
    """Where a client command connects, with what: see `target_of`."""

    address: str
    token: str
    tls: ClientTls | None

    def channel(self) -> aio.Channel:
        return channel(self.address, self.token, self.tls)


def target_of(args, service: str, role: Role, addr_option: str = "addr") -> Target:
    """A client command's connection to `service`. Each part is taken from the first that has it:
    the command line (--addr), the environment (ANPR_TOKEN, ANPR_TLS_CA_FILE), the suite file of the
    data dir (--data-dir, ANPR_DATA_DIR, .anpr: the suite `anpr up` runs there, its token of `role`),
    the default port on 127.0.0.1 in plaintext. `addr_option`: the option holding this service's address
    (a command that calls two services has one for each)."""
    from services import DEFAULT_PORTS

    found = SuiteFile.read(data_dir(getattr(args, "data_dir", None)))
    address = getattr(args, addr_option, None) or (found and found.addresses.get(service))
    tls = ClientTls.from_env() or (ClientTls(Path(found.ca_file)) if found and found.ca_file else None)
    bearer = os.environ.get("ANPR_TOKEN") or (found and found.tokens.get(str(role)))
    if not bearer:
        raise CommandError(
            f"ANPR_TOKEN is not set (and no suite started by `anpr up` in {data_dir(getattr(args, 'data_dir', None))}):"
            f" export the bearer token of a {role}"
        )
    return Target(address or f"127.0.0.1:{DEFAULT_PORTS[service]}", bearer, tls)


def rpc_error(err: grpc.aio.AioRpcError, flags: Mapping[str, str] | None = None) -> CommandError:
    """A refused call as the command reports it: the status code and the fields named, each as the
    command's flag when `flags` (the request's field paths to the flags that fill them) has it."""
    flags = flags or {}
    fields = field_violations_of(err)
    if fields:
        detail = "; ".join(f"{flags.get(f, f)}: {d}" for f, d in fields)
    else:  # a refusal without violations may still start with the fields it is about
        detail = err.details() or ""
        named, sep, why = detail.partition(": ")
        names = [n.strip() for n in named.split(",")]
        if sep and all(n in flags for n in names):
            detail = f"{', '.join(flags[n] for n in names)}: {why}"
    if err.code() == grpc.StatusCode.UNAVAILABLE:  # "Socket closed" says nothing of the likely causes
        detail += (
            " (is the service up at that address? Every port of the suite speaks TLS only: a client"
            " needs its CA, ANPR_TLS_CA_FILE, or the suite file of `anpr up`'s data dir)"
        )
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
