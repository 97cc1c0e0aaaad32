"""Test support: tokens for every role, services started in this process on real ports,
and builders for reads and entries."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
from google.protobuf import timestamp_pb2
from grpc import aio

from anpr.runtime.auth import Caller, Role
from anpr.runtime.dbroles import Logins
from anpr.runtime.server import RunningService
from anpr.v1 import notify_pb2 as N
from anpr.v1 import types_pb2 as T
from cli.client import channel
from cli.client import subscribe as client_subscribe
from cli.suite.launcher import Tokens, free_ports, port_free, up_ports
from cli.suite.launcher import free_port as free_port  # the tests import it from here
from services import spec

X = TypeVar("X")


def ts(dt: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(dt)
    return out


def make_read(vrm: str, **overrides) -> T.Read:
    read = T.Read(
        read_id=str(uuid.uuid4()),
        vrm=vrm,
        confidence=93.5,
        camera_id="CAM-TEST-1",
        captured_at=ts(datetime.now(timezone.utc) - timedelta(seconds=1)),
        location=T.GeoPoint(latitude=51.5072, longitude=-0.1276),
        direction=T.DIRECTION_TOWARDS,
        heading_degrees=90.0,
        lane=1,
    )
    for k, v in overrides.items():
        if isinstance(v, (T.GeoPoint, T.VehicleDescription, timestamp_pb2.Timestamp)):
            getattr(read, k).CopyFrom(v)
        else:
            setattr(read, k, v)
    return read


def make_entry(vrm: str, hotlist_id: str, **overrides) -> T.VoiEntry:
    fields = dict(
        entry_id=str(uuid.uuid4()),
        hotlist_id=hotlist_id,
        vrm=vrm,
        vehicle=T.VehicleDescription(make="Ford", model="Focus", colour="Blue"),
        action=T.ACTION_STOP_VEHICLE,
        warning_markers=[T.WARNING_MARKER_VIOLENT],
        reason="Wanted in connection with a robbery",
        pnc_id="26/000123X",
        force="Test Police",
        area="North",
        source_reference="IR-TEST-0001",
        information="Two occupants",
        cad_information="CAD 4411 23/11",
        operational_instructions="Stop and detain occupants",
        grading=T.IntelligenceGrading(source_evaluation="B", intelligence_assessment="2", handling_code="1"),
        protective_marking=T.PROTECTIVE_MARKING_OFFICIAL_SENSITIVE,
    )
    fields.update(overrides)
    return T.VoiEntry(**fields)


TEST_CAMERAS = ("CAM-TEST-1", "CAM-M4-J12", "CAM-A34-N")

# Identities beside the per-role tokens (tokens.named(name)): a unit and a control room of another
# force than the role tokens' Test Police.
IDENTITIES = {
    "tv-unit": Caller(Role.TERMINAL, "tv-alpha-2", force="Thames Valley", unit="TV-ALPHA-2"),
    "tv-room": Caller(Role.CONTROL_ROOM, "tv-room", force="Thames Valley", covert=True),
    "tv-room-uncleared": Caller(Role.CONTROL_ROOM, "tv-room-2", force="Thames Valley"),
}


async def register_cameras(addr: str, tokens: Tokens, camera_ids=TEST_CAMERAS, enabled: bool = True) -> None:
    from anpr.v1 import ingest_pb2, ingest_pb2_grpc

    async with channel(addr, tokens[Role.CAMERA_ADMIN]) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        for cid in camera_ids:
            await stub.UpsertCamera(
                ingest_pb2.UpsertCameraRequest(
                    camera=T.Camera(
                        camera_id=cid,
                        name=f"Test camera {cid}",
                        location=T.GeoPoint(latitude=51.5, longitude=-0.12),
                        direction=T.DIRECTION_TOWARDS,
                        force="Test Police",
                        enabled=enabled,
                    )
                )
            )


class Database(str):
    """A test database's URL as its administrator (a DBA) sees it, and the logins of its owner and of
    each service (the roles' privileges are the real ones: tests/conftest.py `database_url`)."""

    logins: Logins
    data_dir: Path  # the services' ANPR_DATA_DIR: the firearms log's key and checkpoint file, one per database

    def __new__(cls, url: str, logins: Logins, data_dir: Path) -> Database:
        made = super().__new__(cls, url)
        made.logins, made.data_dir = logins, data_dir
        return made

    def service_url(self, service: str) -> str:
        return self.logins.service_url(spec(service).schema)

    @property
    def owner_url(self) -> str:
        return self.logins.owner_url


def service_url(database_url: str, service: str) -> str:
    """What `service` connects with: its own login on a test Database, else the URL itself."""
    return database_url.service_url(service) if isinstance(database_url, Database) else database_url


def logins_of(database_url: str) -> Logins | str:
    """What a Launcher is given: the Database's logins (each process its own role), else the URL."""
    return database_url.logins if isinstance(database_url, Database) else database_url


@dataclass
class InProcessSuite:
    """The four services in this process (each with its real server, port and pool, working with
    its own login role when `database_url` is a test Database)."""

    database_url: str
    tokens: Tokens
    running: dict[str, RunningService] = field(default_factory=dict)

    def addr(self, name: str) -> str:
        return f"127.0.0.1:{self.running[name].port}"

    async def start(self, name: str, *, cameras: bool = True, **overrides) -> RunningService:
        """Start service `name` with its settings' `overrides` (ingest: with the test cameras
        registered, unless `cameras` is false)."""
        s = spec(name)
        options = dict(
            database_url=service_url(self.database_url, name),
            data_dir=getattr(self.database_url, "data_dir", Path(".anpr")),
            grpc_host="127.0.0.1",
            grpc_port=0,
            shutdown_grace_s=1.0,
            **self.tokens.service_settings(),
        )
        settings = s.settings_cls(**(options | overrides))
        service = RunningService(s, settings)
        self.running[name] = service
        try:
            await service.start()
            if name == "ingest" and cameras:
                await register_cameras(self.addr("ingest"), self.tokens)
        except BaseException:
            await self.stop()  # leave no server (and no gRPC thread) behind a failed start
            raise
        return service

    async def start_all(self, **matcher_overrides) -> None:
        ingest_port, matcher_port, notify_port, firearms_port = free_ports(4)
        await self.start("notify", grpc_port=notify_port, matcher_addr=f"127.0.0.1:{matcher_port}")
        await self.start("firearms", grpc_port=firearms_port)
        await self.start(
            "matcher",
            grpc_port=matcher_port,
            notify_addr=self.addr("notify"),
            firearms_addr=self.addr("firearms"),
            ingest_addr=f"127.0.0.1:{ingest_port}",
            **matcher_overrides,
        )
        await self.start("ingest", grpc_port=ingest_port, matcher_addr=self.addr("matcher"))

    async def stop(self) -> None:
        for name in reversed(list(self.running)):
            await self.running.pop(name).stop()


async def next_message(call, seconds: float = 10.0):
    """The next message of a server stream, failing if none arrives in time or the stream ends."""
    message = await asyncio.wait_for(call.read(), seconds)
    if message is aio.EOF:
        raise AssertionError("stream ended")
    return message


# Where the tests' reads are made (make_read) and their cameras stand (register_cameras).
TERMINAL_SUBSCRIPTION = N.Subscription(
    unit_id="ALPHA-1",
    force="Test Police",
    circle=N.Circle(center=T.GeoPoint(latitude=51.5072, longitude=-0.1276), radius_km=50),
)


def subscribe(ch, role: Role, wait_for_ready: bool | None = None, **request):
    """A Subscribe stream as `role` (a terminal subscribes as a unit around the test reads)."""
    if role == Role.TERMINAL and "subscription" not in request:
        request["subscription"] = TERMINAL_SUBSCRIPTION
    return client_subscribe(ch, N.SubscribeRequest(**request), wait_for_ready=wait_for_ready)


async def next_alert(call, seconds: float = 10.0) -> T.Alert:
    """The next alert of a Subscribe stream (skipping its opening message and heartbeats)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        message = await next_message(call, max(0.01, deadline - asyncio.get_running_loop().time()))
        if message.WhichOneof("event") == "alert":
            return message.alert


async def eventually(check: Callable[[], X | Awaitable[X]], seconds: float = 10.0, interval: float = 0.05) -> X:
    """Poll `check` (plain or async) until it returns a truthy value (the event happened) or the
    time is up. For state with no event to wait on: a table's rows, a counter in another task."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {seconds} s")
        await asyncio.sleep(interval)


def arrow_stream(batch: pa.RecordBatch, options: pa.ipc.IpcWriteOptions | None = None) -> bytes:
    """`batch` as an Arrow IPC stream: what ImportEntriesRequest.entry_columns holds."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema, options=options) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def free_base_port() -> int:
    """A base port for `anpr up --base-port` whose every port (cli.suite.launcher.up_ports) is free now."""
    while True:
        base = free_port()
        if base < 65000 and all(port_free(p) for p in up_ports(base).values()):
            return base
