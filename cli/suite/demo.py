"""`anpr up`: the whole suite on one machine, with a demo hotlist, camera feed, terminal and TFC console.

The four services run as separate processes, as in production. Their JSON logs go to
<data dir>/logs/<service>.log; this process prints what a terminal and a TFC console would show.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import signal
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import unquote, urlsplit

import fasteners
from google.protobuf import timestamp_pb2

from anpr.runtime import pg
from anpr.runtime.auth import Role
from anpr.runtime.dbroles import OWNER, with_login
from anpr.runtime.tls import ClientTls, kept_local_ca
from anpr.v1 import (
    firearms_pb2,
    firearms_pb2_grpc,
    ingest_pb2,
    ingest_pb2_grpc,
    matcher_pb2,
    matcher_pb2_grpc,
    notify_pb2,
    types_pb2,
)
from cli.client import SUITE_FILE, CommandError, SuiteFile, channel, data_dir, subscribe
from cli.ops import reaching_database
from cli.screens.patrol_terminal import format_alert
from cli.screens.tfc_console import Style, format_event
from cli.suite.database import provision
from cli.suite.issuer import IssuerError
from cli.suite.launcher import (
    DEFAULT_CLAIMS,
    SERVICE_PORT_OFFSET,
    Launcher,
    LaunchError,
    Tokens,
    check_settings,
    issuer_port,
    port_free,
    port_table,
    up_ports,
)
from services import NAMES

T = types_pb2

# A small demo hotlist. Plates are invented.
DEMO_HOTLIST = T.Hotlist(
    hotlist_id="demo-local",
    name="Demo force list",
    source=T.HOTLIST_SOURCE_LOCAL_FORCE,
    priority=10,
    match_policy=T.MATCH_POLICY_LOOKALIKE,
)
DEMO_ENTRIES = [
    T.VoiEntry(
        entry_id="demo-1",
        hotlist_id="demo-local",
        vrm="KX19 ZTB",
        vehicle=T.VehicleDescription(make="Ford", model="Focus", colour="Blue"),
        action=T.ACTION_STOP_VEHICLE,
        warning_markers=[T.WARNING_MARKER_DRUGS],
        reason="Vehicle used in supply of controlled drugs",
        pnc_id="24/118822K",
        force="Demo Police",
        area="North",
        source_reference="IR-2026-0412",
        information="Occupants may attempt to flee",
        grading=T.IntelligenceGrading(source_evaluation="B", intelligence_assessment="2", handling_code="1"),
        protective_marking=T.PROTECTIVE_MARKING_OFFICIAL_SENSITIVE,
    ),
    T.VoiEntry(
        entry_id="demo-2",
        hotlist_id="demo-local",
        vrm="LR68 HGW",
        vehicle=T.VehicleDescription(make="BMW", model="X5", colour="Black"),
        action=T.ACTION_DO_NOT_STOP_REPORT_SIGHTING,
        warning_markers=[T.WARNING_MARKER_FIREARMS, T.WARNING_MARKER_VIOLENT],
        reason="Linked to a firearms discharge",
        pnc_id="25/004417Q",
        force="Demo Police",
        area="Central",
        source_reference="IR-2026-0977",
        operational_instructions="Do not approach. Inform control room.",
        grading=T.IntelligenceGrading(source_evaluation="A", intelligence_assessment="2", handling_code="3"),
        protective_marking=T.PROTECTIVE_MARKING_OFFICIAL_SENSITIVE,
    ),
    T.VoiEntry(
        entry_id="demo-3",
        hotlist_id="demo-local",
        vrm="YD21 MPO",
        vehicle=T.VehicleDescription(make="Vauxhall", model="Corsa", colour="White"),
        action=T.ACTION_STOP_AND_SEARCH,
        warning_markers=[T.WARNING_MARKER_NO_INSURANCE],
        reason="No insurance record (MID)",
        pnc_id="26/330051A",
        force="Demo Police",
        area="South",
        source_reference="MID-2026-11-23",
    ),
]
CAMERAS = [("CAM-M4-J12", 51.4619, -0.9737), ("CAM-A34-N", 51.7520, -1.2577), ("CAM-CITY-07", 51.5155, -0.0922)]
LETTERS = "ABCDEFGHJKLMNOPRSTUVWXY"


# Who the demo's callers are (their tokens' subjects): the rota below names the TFC and supervisor.
DEMO_SUBJECTS = {
    Role.SERVICE: "anpr-services",
    Role.CAMERA: "demo-camera-feed",
    Role.TERMINAL: "demo-terminal-ALPHA-1",
    Role.CONTROL_ROOM: "demo-control-room",
    Role.TFC: "demo-tfc-insp-1",
    Role.HOTLIST_ADMIN: "demo-admin",
    Role.CAMERA_ADMIN: "demo-camera-admin",
    Role.TFC_SUPERVISOR: "demo-tfc-supt-1",
}


# What the demo's tokens claim (docs/scope.md): the terminal is unit ALPHA-1 of Demo Police, the TFC
# and the superintendent are of Demo Police, the control room and the administrators see every force.
DEMO_FORCE = "Demo Police"
DEMO_CLAIMS = {
    **DEFAULT_CLAIMS,
    Role.TERMINAL: {"force": DEMO_FORCE, "unit": "ALPHA-1"},
    Role.TFC: {"force": DEMO_FORCE},
    Role.TFC_SUPERVISOR: {"force": DEMO_FORCE, "covert": True},
}


def ts(dt: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(dt)
    return out


def random_vrm(rng: random.Random) -> str:
    return (
        f"{rng.choice(LETTERS)}{rng.choice(LETTERS)}{rng.randint(10, 75):02d} "
        f"{''.join(rng.choice(LETTERS) for _ in range(3))}"
    )


class Suite:
    """The database and the four service processes (through the one launcher), with TLS everywhere
    and mutual TLS between the services, started and stopped together."""

    def __init__(self, data_dir: Path, base_port: int | None, database_url: str | None):
        self.data_dir = data_dir.resolve()
        self.base_port = base_port
        self.database_url = database_url
        self._embedded = None
        self._watchdog = None
        self.launcher: Launcher | None = None

    @property
    def tokens(self) -> Tokens:
        return self.launcher.tokens

    @property
    def client_tls(self) -> ClientTls | None:
        return self.launcher.client_tls

    def addr(self, name: str) -> str:
        return self.launcher.addr(name)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        check_settings(os.environ)  # a misspelt ANPR_* setting stops `anpr up` before anything starts
        _check_ports_free(self.base_port)  # so does a port another program (another `anpr up`) holds
        if not self.database_url:
            print(f"Starting embedded PostgreSQL in {self.data_dir / 'pgdata'} ...", flush=True)
            self._embedded = pg.start_embedded(self.data_dir, cleanup="stop")
            self._watchdog = pg.watch_embedded(self._embedded)  # stops it if this process is killed
            self.database_url = self._embedded.get_uri()
        # As the database's administrator: the owner and the services' login roles (passwords in
        # <data dir>/secrets), the migrations run as the owner; each service then logs in as itself.
        with reaching_database(self.database_url):
            logins = asyncio.run(provision(self.database_url, self.data_dir / "secrets"))
        print(f"Migrations applied as {OWNER}; each service logs in as its own role.", flush=True)
        # A local CA, kept across restarts of this data dir: TLS on every port, mutual TLS between the services.
        ca = kept_local_ca(self.data_dir / "tls")
        # The local identity issuer: its key kept in the data directory (tokens it issued stay valid
        # across restarts), its discovery document and JWKS on 127.0.0.1.
        try:
            tokens = Tokens.create(
                self.data_dir / "issuer.json",
                subjects=DEMO_SUBJECTS,
                claims=DEMO_CLAIMS,
                port=issuer_port(self.base_port),
            )
        except IssuerError as exc:
            raise LaunchError(str(exc)) from None
        tokens.write_env(self.data_dir / "demo-tokens.env", ca.ca_file)
        ports = port_table(self.base_port)
        self.launcher = Launcher(
            logins,
            tokens,
            self.data_dir / "logs",
            ports=ports,
            base_env=os.environ,
            tls=ca,
            service_ports={name: port + SERVICE_PORT_OFFSET for name, port in ports.items()},
            # The demo feed passes the same few plates often: a two-minute deduplication window
            # (production default: 600 s) keeps alerts coming without the same plate every few
            # seconds; five minutes to acknowledge an activation (production default: 60 s) leave
            # time to do it from `anpr tfc` before it escalates. The demo's unit takes in the three
            # demo cameras (production default radius: 50 km).
            env={
                "ANPR_DEDUP_WINDOW_S": os.environ.get("ANPR_DEDUP_WINDOW_S", "120"),
                "ANPR_ACK_DEADLINE_S": os.environ.get("ANPR_ACK_DEADLINE_S", "300"),
                "ANPR_TERMINAL_MAX_RADIUS_KM": os.environ.get("ANPR_TERMINAL_MAX_RADIUS_KM", "120"),
                # firearms' log key (log-signing-key.pem) and checkpoint file are kept here
                "ANPR_DATA_DIR": str(self.data_dir),
            },
        )
        for name in NAMES:
            self.launcher.start(name)
        self.suite_file_data = SuiteFile(
            addresses={name: self.addr(name) for name in NAMES},
            ca_file=str(ca.ca_file),
            tokens={str(role): tokens[role] for role in DEMO_SUBJECTS},
            database_url=self.database_url if self._embedded is not None else None,
            pid=os.getpid(),
        )
        with open(self.data_dir / "demo-tokens.env", "a") as env:  # beside the tokens, where to call
            env.writelines(f"DEMO_{name.upper()}_ADDR={self.addr(name)}\n" for name in NAMES)

    async def wait_serving(self, timeout: float = 90.0) -> None:  # noqa: ASYNC109 (see Launcher.wait_serving)
        for name in NAMES:
            await self.launcher.wait_serving(name, timeout)
        # Written only now: a client (or a script) that waits for the file to appear finds every
        # service answering, not a refused connection while they start.
        self.suite_file_data.write(self.data_dir)

    def stop(self, grace: float = 20.0) -> None:
        if self.launcher is not None:
            (self.data_dir / SUITE_FILE).unlink(missing_ok=True)
            self.launcher.terminate(grace=grace)
            self.launcher.tokens.close()
        if self._watchdog is not None:
            pg.unwatch(self._watchdog)
            self._watchdog = None
        if self._embedded is not None:
            self._embedded.cleanup()
            self._embedded = None


async def seed(suite: Suite) -> None:
    async with channel(suite.addr("ingest"), suite.tokens[Role.CAMERA_ADMIN], suite.client_tls) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        for cam, lat, lon in CAMERAS:
            await stub.UpsertCamera(
                ingest_pb2.UpsertCameraRequest(
                    camera=T.Camera(
                        camera_id=cam,
                        name=f"Demo {cam}",
                        location=T.GeoPoint(latitude=lat, longitude=lon),
                        direction=T.DIRECTION_TOWARDS,
                        force="Demo Police",
                        enabled=True,
                    )
                )
            )
    async with channel(suite.addr("matcher"), suite.tokens[Role.HOTLIST_ADMIN], suite.client_tls) as ch:
        stub = matcher_pb2_grpc.MatcherServiceStub(ch)
        await stub.UpsertHotlist(matcher_pb2.UpsertHotlistRequest(hotlist=DEMO_HOTLIST))
        for entry in DEMO_ENTRIES:
            await stub.UpsertEntry(matcher_pb2.UpsertEntryRequest(entry=entry))


async def camera_feed(suite: Suite, interval: float, out) -> None:
    rng = random.Random()
    # the listed plates as read, now and then through a look-alike character (Z read as 2, O as 0)
    listed = itertools.cycle([e.vrm for e in DEMO_ENTRIES] + ["KX19 2TB", "YD21 MP0"])
    patches = plate_patches()
    async with channel(suite.addr("ingest"), suite.tokens[Role.CAMERA], suite.client_tls) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        stored = 0
        for n in itertools.count(1):
            reads = []
            for i in range(5):
                cam, lat, lon = rng.choice(CAMERAS)
                vrm = next(listed) if i == 0 and n % 2 == 1 else random_vrm(rng)
                reads.append(
                    T.Read(
                        read_id=str(uuid.uuid4()),
                        vrm=vrm,
                        confidence=rng.uniform(80, 99),
                        camera_id=cam,
                        captured_at=ts(datetime.now(timezone.utc) - timedelta(milliseconds=rng.randint(50, 400))),
                        location=T.GeoPoint(latitude=lat, longitude=lon),
                        direction=T.DIRECTION_TOWARDS,
                        heading_degrees=rng.uniform(0, 359),
                        # the camera's close-up of a listed plate, as `p N` and the TFC's `patch` show
                        plate_image=patches.get(vrm, b""),
                    )
                )
            resp = await stub.SubmitReads(iter([ingest_pb2.SubmitReadsRequest(reads=reads)]), timeout=10)
            stored += sum(r.status == ingest_pb2.READ_STATUS_STORED for r in resp.results)
            if n % FEED_REPORT_EVERY == 0:  # now and then: the alerts are what to watch
                print(f"[camera feed] {stored} reads stored so far", file=out, flush=True)
            await asyncio.sleep(interval)


def plate_patches() -> dict[str, bytes]:
    """The demo feed's plate patches (JPEG), by the VRM as read ("KX19 ZTB" from demo_plates/KX19ZTB.jpg):
    one for each listed plate, and each look-alike reading of one, that the feed sends."""
    return {f"{p.stem[:4]} {p.stem[4:]}": p.read_bytes() for p in (Path(__file__).parent / "demo_plates").glob("*.jpg")}


FEED_REPORT_EVERY = 30  # camera batches between the feed's lines

# The demo's in-car unit: around Reading, with a radius that takes in the demo cameras.
DEMO_UNIT = notify_pb2.Subscription(
    unit_id="ALPHA-1",
    force="Demo Police",
    circle=notify_pb2.Circle(center=T.GeoPoint(latitude=51.4619, longitude=-0.9737), radius_km=120),
)


async def terminal(
    target: str,
    token: str,
    out,
    label: str = "terminal",
    subscription: notify_pb2.Subscription | None = None,
    opened: asyncio.Event | None = None,
    tls: ClientTls | None = None,
) -> None:
    async with channel(target, token, tls) as ch:
        async for resp in subscribe(ch, notify_pb2.SubscribeRequest(subscription=subscription or DEMO_UNIT)):
            if resp.WhichOneof("event") == "opened" and opened is not None:
                opened.set()
            elif resp.WhichOneof("event") == "alert":
                print(f"[{label}] " + format_alert(resp.alert), file=out, flush=True)


async def tfc_display(target: str, token: str, out, tls: ClientTls | None = None) -> None:
    """What the duty TFC's console shows (read-only here; `anpr tfc` is the interactive console)."""
    style = Style(out)
    async with channel(target, token, tls) as ch:
        stub = firearms_pb2_grpc.FirearmsServiceStub(ch)
        async for resp in stub.StreamActivations(firearms_pb2.StreamActivationsRequest()):
            print("[TFC console] " + format_event(resp.activation, resp.event, style), file=out, flush=True)


async def seed_rota(suite: Suite) -> None:
    """A demo duty rota: the demo TFC on duty for Demo Police for a day, the superintendent above."""
    now = datetime.now(timezone.utc)
    async with channel(suite.addr("firearms"), suite.tokens[Role.TFC_SUPERVISOR], suite.client_tls) as ch:
        stub = firearms_pb2_grpc.FirearmsServiceStub(ch)
        for subject, name in (("demo-tfc-insp-1", "Insp Demo"), ("demo-tfc-supt-1", "Supt Demo")):
            await stub.UpsertCommander(
                firearms_pb2.UpsertCommanderRequest(
                    commander=T.Commander(
                        subject=subject,
                        name=name,
                        force=DEMO_FORCE,
                        contact="demo radio",
                        supervisor=subject == "demo-tfc-supt-1",
                    )
                )
            )
        await stub.AddShifts(
            firearms_pb2.AddShiftsRequest(
                shifts=[
                    T.Shift(
                        force="Demo Police",
                        starts_at=ts(now - timedelta(minutes=1)),
                        ends_at=ts(now + timedelta(days=1)),
                        primary="demo-tfc-insp-1",
                        supervisor="demo-tfc-supt-1",
                    )
                ]
            )
        )


def _check_ports_free(base_port: int | None) -> None:
    """Refuse, before anything starts, when a port `anpr up` would listen on is held (by another
    `anpr up` in another data dir, most likely)."""
    held = [f"{port} ({name})" for name, port in up_ports(base_port).items() if not port_free(port)]
    if held:
        base = base_port or port_table()["ingest"]
        raise LaunchError(
            f"port(s) in use: {', '.join(held)}; another `anpr up` (of another data dir) or another program"
            f" holds them: give another --base-port (e.g. --base-port {base + 1000}: it uses base to base+3,"
            " base+9 and base+10 to base+13)"
        )


def _claim_data_dir(directory: Path) -> fasteners.InterProcessLock:
    """Hold the data dir for this `anpr up` (released when it exits, however it dies), refusing to
    start where another one runs; then remove the suite file of one that was killed (kill -9 gives
    it no time to), so that no client takes it for this one's while the services start (this one
    writes its own once they all serve)."""
    directory.mkdir(parents=True, exist_ok=True)
    lock = fasteners.InterProcessLock(str(directory / ".anpr-up.lock"))
    if not lock.acquire(blocking=False):
        running = SuiteFile.read(directory)
        who = f" (pid {running.pid})" if running is not None and running.pid else ""
        raise CommandError(
            f"anpr up already runs in {directory}{who}: use it (the other commands find it from there),"
            " stop it first, or give this one another --data-dir"
        )
    (directory / SUITE_FILE).unlink(missing_ok=True)
    return lock


async def run_demo(suite: Suite, duration: float | None, interval: float) -> None:
    out = sys.stdout
    await suite.wait_serving()
    print("All four services are SERVING:", ", ".join(f"{n} {suite.addr(n)}" for n in NAMES), flush=True)
    if suite.suite_file_data.database_url:  # (its logins' passwords: `anpr db-logins`, not the screen)
        shown = with_login(suite.database_url, unquote(urlsplit(suite.database_url).username or ""), None)
        print(f"Embedded PostgreSQL: {shown} (its logins and passwords: anpr db-logins)", flush=True)
    print(f"Service logs: {suite.data_dir / 'logs'}", flush=True)
    print(
        f"Addresses, CA and demo tokens: {suite.data_dir / SUITE_FILE} (and {suite.data_dir / 'demo-tokens.env'});"
        " the anpr commands find this suite from there, e.g. in another shell here: anpr camera list",
        flush=True,
    )
    print(
        "To act on what appears, in another shell here:\n"
        '  anpr terminal --force "Demo Police"   a control room: a N / r N CODE / s N / p N: accept, reject,'
        " mark seen alert N, save its plate patch\n"
        "  anpr tfc                              the duty TFC (demo-tfc-insp-1): ack ID, decide, close, patch;"
        " unacknowledged, an activation escalates after 5 minutes",
        flush=True,
    )
    print(f"Identity issuer: {suite.tokens.issuer.url} (more tokens: anpr token issue --help)", flush=True)
    print("Stop with Ctrl-C.", flush=True)
    await seed(suite)
    await seed_rota(suite)
    print(f"Demo hotlist loaded: {len(DEMO_ENTRIES)} entries (one with a firearms marker).", flush=True)
    opened = asyncio.Event()
    tasks = [
        asyncio.create_task(
            terminal(suite.addr("notify"), suite.tokens[Role.TERMINAL], out, opened=opened, tls=suite.client_tls)
        ),
        asyncio.create_task(tfc_display(suite.addr("firearms"), suite.tokens[Role.TFC], out, tls=suite.client_tls)),
    ]
    await asyncio.wait_for(opened.wait(), 30)  # the terminal's stream is live before the first read
    tasks.append(asyncio.create_task(camera_feed(suite, interval, out)))
    try:
        done, _ = await asyncio.wait(tasks, timeout=duration, return_when=asyncio.FIRST_EXCEPTION)
        for t in done:
            t.result()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def up(data_dir: Path, base_port: int | None, duration: float | None, interval: float) -> int:
    suite = Suite(data_dir, base_port, os.environ.get("ANPR_DATABASE_URL") or None)
    held = _claim_data_dir(suite.data_dir)  # noqa: F841 (held until this process exits)
    stop_requested = False

    def on_term(signum, frame):
        raise KeyboardInterrupt

    # Our own handlers: Python installs none for SIGINT when it starts with SIGINT ignored (`anpr up &`).
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        suite.start()
        asyncio.run(run_demo(suite, duration, interval))
    except LaunchError as exc:
        raise CommandError(str(exc)) from None
    except KeyboardInterrupt:
        stop_requested = True
    finally:
        print("\nStopping the suite ...", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            suite.stop()
        print("Stopped.", flush=True)
    return 0 if stop_requested or duration else 1


def command(args) -> int:
    """`anpr up`."""
    return up(data_dir(args.data_dir), args.base_port, args.duration, args.interval)
