#!/usr/bin/env python3
"""One identity tries to starve the others (issue 16): a well-behaved control room's alert delivery,
alone and beside an abuser that opens thousands of streams and never reads them.

    .venv/bin/python benchmarks/abuse_bench.py               # the limits as shipped (about a minute)
    .venv/bin/python benchmarks/abuse_bench.py --no-limits   # no limit per identity, no unread-stream end: as before

Set-up: embedded PostgreSQL (or a fresh database on the server of ANPR_DATABASE_URL) and one notify
process (`anpr serve notify`, its default settings; --no-limits sets ANPR_MAX_STREAMS_PER_IDENTITY=0,
ANPR_STREAM_WRITE_TIMEOUT_S=3600 and no limit on subscription changes). --backlog alerts are stored
first (what a replay from the start reads).

The control room: one identity, one Subscribe stream, read as fast as it comes. Alerts are published
as matcher publishes them (PublishAlerts, one hit per call, paced at --rate a second), each read
where the abuser's terminals are; latency is the time from the publish call to the alert's arrival
on the control room's stream (one clock: the same process).

Phases: "alone": --alerts alerts with nobody else connected. "abused": a child process opens, with ONE
terminal identity, --terminals streams whose circle holds every alert, and with ONE control-room
identity --replays streams replaying the log from the start, all on --channels connections, and
reads none of them after its first message; once the server has answered every open, --alerts more
alerts. Then how each of the abuser's opened streams ended (closed by the server with
RESOURCE_EXHAUSTED, or still open) after --linger seconds more. Figures are printed, never asserted;
the last line is space-separated name=value pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from anpr.runtime.auth import Caller, Role
from anpr.v1 import notify_pb2, notify_pb2_grpc
from anpr.v1 import types_pb2 as T
from benchmarks import chain_suite as cs
from benchmarks.abuse_streams import abuser_main
from benchmarks.common import add_options, pct
from cli.client import channel, subscribe
from cli.suite.launcher import Launcher, Tokens, free_port

PLACE = (51.45, -0.97)  # Reading: where every alert is read, inside every abuser terminal's circle
FORCE = cs.FORCE
IDENTITIES = {
    "room": Caller(Role.CONTROL_ROOM, "bench-room", force=FORCE, covert=True),
    "abuser": Caller(Role.TERMINAL, "bench-abuser", force=FORCE, unit="ABUSE-1"),
    "replayer": Caller(Role.CONTROL_ROOM, "bench-replayer", force=FORCE),
}
NO_LIMITS = {
    "ANPR_MAX_STREAMS_PER_IDENTITY": "0",
    "ANPR_STREAM_WRITE_TIMEOUT_S": "3600",
    "ANPR_SUBSCRIPTION_CHANGES_PER_S": "1000000",
    "ANPR_SUBSCRIPTION_CHANGE_BURST": "1000000",
}
OPTIONS = {
    "--terminals": (int, 1000, "the abuser's terminal streams, one identity (default 1000)"),
    "--replays": (int, 300, "the abuser's control-room streams replaying from the start, one identity (default 300)"),
    "--channels": (int, 10, "the abuser's connections (default 10)"),
    "--alerts": (int, 300, "alerts measured in each phase (default 300)"),
    "--rate": (float, 50.0, "alerts published a second (default 50)"),
    "--backlog": (int, 2000, "alerts stored before the phases, for the replays (default 2000)"),
    "--linger": (
        float,
        35.0,
        "seconds after the abused phase before asking how the abuser's streams ended (default 35: past the 30 s ANPR_STREAM_WRITE_TIMEOUT_S)",
    ),
}


def hit(read_id: str) -> T.TracedHit:
    lat, lon = PLACE
    where = T.GeoPoint(latitude=lat, longitude=lon)
    entry = T.VoiEntry(entry_id="abuse-entry", hotlist_id="abuse", vrm="AB12CDE", force=FORCE, reason="Benchmark")
    read = T.Read(read_id=read_id, vrm="AB12CDE", camera_id="CAM-ABUSE", location=where)
    hotlist = T.Hotlist(hotlist_id="abuse", name="Abuse benchmark", source=T.HOTLIST_SOURCE_LOCAL_FORCE)
    return T.TracedHit(
        hit=T.Hit(hit_id=str(uuid.uuid4()), read=read, entry=entry, hotlist=hotlist, force=FORCE, location=where)
    )


class Room:
    """The well-behaved control room: one stream, read as it comes; arrival time per read id."""

    def __init__(self, launcher: Launcher):
        self.launcher = launcher
        self.arrived: dict[str, float] = {}
        self.changed = asyncio.Event()  # set at each arrival
        self.opened = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def follow(self) -> None:
        async with channel(self.launcher.addr("notify"), self.launcher.tokens.named("room")) as ch:
            async for message in subscribe(ch, notify_pb2.SubscribeRequest()):
                if message.WhichOneof("event") == "opened":
                    self.opened.set()
                elif message.WhichOneof("event") == "alert":
                    self.arrived[message.alert.hit.read.read_id] = time.monotonic()
                    self.changed.set()

    async def start(self) -> None:
        self.task = asyncio.create_task(self.follow())
        await asyncio.wait_for(self.opened.wait(), 30)


async def publish(launcher: Launcher, n: int, rate: float, phase: str) -> dict[str, float]:
    """`n` alerts, one PublishAlerts call each, paced at `rate` a second: send time per read id."""
    sent: dict[str, float] = {}
    async with channel(launcher.addr("notify"), launcher.tokens[Role.SERVICE]) as ch:
        stub = notify_pb2_grpc.NotifyServiceStub(ch)
        start = time.monotonic()
        for i in range(n):
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            read_id = f"{phase}-{i}"
            sent[read_id] = time.monotonic()
            await stub.PublishAlerts(notify_pb2.PublishAlertsRequest(hits=[hit(read_id)]))
    return sent


async def backlog(launcher: Launcher, n: int) -> None:
    async with channel(launcher.addr("notify"), launcher.tokens[Role.SERVICE]) as ch:
        stub = notify_pb2_grpc.NotifyServiceStub(ch)
        for start in range(0, n, 500):
            hits = [hit(f"backlog-{i}") for i in range(start, min(n, start + 500))]
            await stub.PublishAlerts(notify_pb2.PublishAlertsRequest(hits=hits))


async def latencies(room: Room, sent: dict[str, float], within_s: float = 60.0) -> list[float]:
    """Milliseconds from publish to arrival of each alert sent (waiting for the last ones)."""
    try:
        async with asyncio.timeout(within_s):
            while any(r not in room.arrived for r in sent):
                room.changed.clear()
                await room.changed.wait()
    except TimeoutError:
        missing = sum(r not in room.arrived for r in sent)
        raise cs.BenchError(
            f"the control room got {len(sent) - missing} of {len(sent)} alerts in {within_s:.0f} s"
        ) from None
    return [(room.arrived[r] - t) * 1000 for r, t in sent.items()]


class AbuseBench:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="anpr-abuse-"))
        self.db = cs.Database(self.tmp, os.environ.get("ANPR_DATABASE_URL") or None)
        self.launcher: Launcher | None = None
        self.abuser: cs.Child | None = None
        self.fig: dict[str, float] = {}

    async def start(self) -> None:
        await self.db.start()
        tokens = Tokens.create(self.tmp / "issuer.json", prefix="bench", identities=IDENTITIES)
        env = {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "ANPR_SHUTDOWN_GRACE_S": "3"}
        self.launcher = Launcher(
            self.db.logins,  # notify logs in as itself (never the administrator)
            tokens,
            self.tmp / "logs",
            ports={"notify": free_port()},
            env=env | (NO_LIMITS if self.args.no_limits else {}),
        )
        self.launcher.start("notify")
        await self.launcher.wait_serving("notify")
        await backlog(self.launcher, self.args.backlog)

    def start_abuser(self) -> None:
        a, tokens = self.args, self.launcher.tokens
        spec = {
            "notify": self.launcher.addr("notify"),
            "terminal_token": tokens.named("abuser"),
            "room_token": tokens.named("replayer"),
            "terminals": a.terminals,
            "replays": a.replays,
            "channels": a.channels,
            "place": PLACE,
            "radius_km": 10.0,
        }
        ctx = multiprocessing.get_context("spawn")
        self.abuser = cs.Child(ctx, abuser_main, spec, self.tmp / "abuser.log", "abuser")

    def figures(self, name: str, lat: list[float]) -> None:
        self.fig |= {f"{name}_p50_ms": pct(lat, 0.5), f"{name}_p99_ms": pct(lat, 0.99), f"{name}_max_ms": max(lat)}
        print(
            f"{name}: control room delivery p50 {pct(lat, 0.5):.0f} ms, p99 {pct(lat, 0.99):.0f} ms, max {max(lat):.0f} ms",
            flush=True,
        )

    async def run(self) -> None:
        a = self.args
        await self.start()
        room = Room(self.launcher)
        await room.start()
        self.figures("alone", await latencies(room, await publish(self.launcher, a.alerts, a.rate, "alone")))
        self.start_abuser()
        await self.abuser.ready(60)
        answered = await self.abuser.call("open", None, within_s=600)
        print(f"abuser's {a.terminals} + {a.replays} opens answered: {answered}", flush=True)
        self.figures("abused", await latencies(room, await publish(self.launcher, a.alerts, a.rate, "abused")))
        await asyncio.sleep(a.linger)  # the abuser still reads nothing: the case measured
        ended = await self.abuser.call("report", None, within_s=600)
        print(f"abuser's opened streams, {a.linger:g} s later: {ended}", flush=True)
        self.fig |= {
            "abuser_opened": answered.get("opened", 0),
            "abuser_refused": sum(n for k, n in answered.items() if k != "opened"),
            "abuser_closed": ended.get("RESOURCE_EXHAUSTED", 0),
            "abuser_still_open": ended.get("still open", 0),
        }
        room.task.cancel()

    async def close(self) -> None:
        if self.abuser is not None:
            self.abuser.close()
        if self.launcher is not None:
            await self.launcher.stop_all(20)
        await self.db.close()
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(ap, OPTIONS)
    ap.add_argument("--no-limits", action="store_true", help="no limit per identity, no end of unread streams")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, database)")
    args = ap.parse_args()

    async def go() -> None:
        bench = AbuseBench(args)
        try:
            await bench.run()
        finally:
            await bench.close()
        print(" ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in bench.fig.items()))

    return cs.run("abuse_bench", go)


if __name__ == "__main__":
    raise SystemExit(main())
