"""The chain benchmark's set-up: the database, the four services as OS processes (cli/suite/launcher.py),
the seed (cameras, hotlist), the child processes driven over pipes, and the chain's backlog."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import psutil

from anpr.runtime import pg
from anpr.runtime.auth import Caller, Role
from anpr.runtime.dbroles import Logins
from anpr.v1 import firearms_pb2, firearms_pb2_grpc, ingest_pb2, ingest_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from anpr.v1 import types_pb2 as T
from benchmarks import common
from benchmarks.chain_load import FIREARMS_EVERY, entry_vrm, generator_main
from benchmarks.common import BenchError, add_options, camera_ids, camera_site, family, log_tail, until
from cli.client import channel
from cli.suite.database import provision
from cli.suite.launcher import Launcher, Tokens
from services import NAMES

HOTLIST = T.Hotlist(
    hotlist_id="bench",
    name="Benchmark list",
    source=T.HOTLIST_SOURCE_PNC_NATIONAL,
    priority=1,
    match_policy=T.MATCH_POLICY_LOOKALIKE,
)


def run(name: str, bench_main) -> int:
    """A benchmark's process: run `bench_main()` to the end; SIGTERM stops it like Ctrl-C (the
    services and PostgreSQL are stopped on the way out). Exit 1 on a BenchError, 130 when stopped."""

    def interrupt(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        asyncio.run(bench_main())
    except BenchError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


# The options of both chain-suite benchmarks, beside their own.
SUITE_OPTIONS = {
    "--workers": (int, 1, "ANPR_WORKERS of every service (default 1)"),
    "--streams": (int, 2, "StreamReads calls per connection (default 2)"),
    "--hit-share": (float, 0.02, "share of reads naming a listed plate (default 0.02)"),
    "--import-chunk": (int, 5000, "entries per ImportEntries message (default 5000, the most allowed)"),
}


def parser(doc: str, options: dict[str, tuple[type, object, str]]) -> argparse.ArgumentParser:
    """A benchmark's parser: its own options, the suite's, and --keep."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(ap, options | SUITE_OPTIONS)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, database)")
    return ap


class Bench:
    """What a chain-suite benchmark holds: its arguments, a temporary directory, the database,
    the launched services and its child processes (`children()`), and the figures of its last
    line. `close()` stops them all."""

    def __init__(self, args, prefix: str):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix=prefix))
        self.db = Database(self.tmp, os.environ.get("ANPR_DATABASE_URL") or None)
        self.launcher: Launcher | None = None
        self.gens: list[Child] = []
        self.fig: dict[str, float] = {}

    def say(self, text: str) -> None:
        print(text, flush=True)

    def children(self) -> list[Child]:
        return list(self.gens)

    def start_generators(self, ctx, url: str, **spec) -> None:
        """--gens load generator processes (chain_load.generator_main) sending to every ingest process;
        `spec` adds to what they are told or changes it (tfc_share, seed, sites, ref_batch, ...)."""
        a = self.args
        common_spec = {
            "gens": a.gens,
            "targets": [self.launcher.addr(n) for n in self.launcher.names_of("ingest")],
            "token": self.launcher.tokens[Role.CAMERA],
            "connections": a.connections,
            "streams_per_connection": a.streams,
            "batch": a.batch,
            "hits_per_batch": max(1, round(a.batch * a.hit_share)),
            "entries": a.entries,
            "cameras": a.cameras,
            "database_url": url,
        }
        for i in range(a.gens):
            log, name = self.tmp / f"gen-{i}.log", f"gen-{i}"
            self.gens.append(Child(ctx, generator_main, common_spec | spec | {"index": i}, log, name))

    async def close(self) -> None:
        for child in self.children():
            child.close()
        if self.launcher is not None:
            await self.launcher.stop_all(20)
        await self.db.close()
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


class Database:
    """Embedded PostgreSQL in `tmp`, or a fresh database on the server of ANPR_DATABASE_URL (dropped at close)."""

    def __init__(self, tmp: Path, server_url: str | None):
        self.tmp, self.server_url = tmp, server_url
        self.embedded = None
        self.url = ""  # the administrator's (the benchmark's own reads and the reference)
        self.logins: Logins | None = None  # the services'
        self._name = ""

    async def start(self) -> str:
        if self.server_url:
            self._name = f"anpr_bench_{uuid.uuid4().hex[:10]}"
            admin = await asyncpg.connect(self.server_url)
            try:
                await admin.execute(f'CREATE DATABASE "{self._name}"')
            finally:
                await admin.close()
            self.url = urlunsplit(urlsplit(self.server_url)._replace(path=f"/{self._name}"))
        else:
            self.embedded = pg.start_embedded(self.tmp, cleanup="stop")
            self.url = self.embedded.get_uri()
        # the owner and the services' login roles, the migrations run as the owner (as anpr up)
        self.logins = await provision(self.url, self.tmp / "secrets")
        return self.url

    def procs(self) -> list[psutil.Process]:
        with contextlib.suppress(Exception):
            return family(self.embedded.get_pid()) if self.embedded else []
        return []

    async def close(self) -> None:
        if self._name:
            admin = await asyncpg.connect(self.server_url)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)')
            finally:
                await admin.close()
        if self.embedded is not None:
            self.embedded.cleanup()
            self.embedded = None


ACK_DEADLINE_S = 10
FORCE = "Benchmark Police"  # of every camera, commander and shift (and of the terminals of notify_bench)


def launch(
    logins: Logins,
    tmp: Path,
    workers: int,
    replicas: int,
    identities: Mapping[str, Caller] | None = None,
    traces: bool = False,
) -> Launcher:
    """The four services (and `replicas` processes each of ingest and matcher), with every hit
    alerted (deduplication off) and every firearms hit its own activation; tokens for every role and
    for the named `identities`. `traces`: each service writes its spans to its log (chain_stages)."""
    tokens = Tokens.create(tmp / "issuer.json", prefix="bench", identities=identities)
    launcher = Launcher(
        logins,
        tokens,
        tmp / "logs",
        env={
            "ANPR_WORKERS": str(workers),
            "ANPR_DEDUP_WINDOW_S": "0",
            "ANPR_ACTIVATION_ATTACH_WINDOW_S": "0",
            # the observer acknowledges every activation but in the escalation phase, whose activations
            # all escalate after this (long enough for acknowledgements to beat it at saturation)
            "ANPR_ACK_DEADLINE_S": str(ACK_DEADLINE_S),
            "ANPR_CAMERA_RATE_PER_S": "1000000",
            "ANPR_CAMERA_BURST": "1000000",
            "ANPR_SHUTDOWN_GRACE_S": "3",
            "OTEL_TRACES_EXPORTER": "console" if traces else "none",
            "OTEL_BSP_SCHEDULE_DELAY": "1000",
            "OTEL_METRICS_EXPORTER": "none",
            "ANPR_DATA_DIR": str(tmp),
        },
    )
    for k in range(2, replicas + 1):
        launcher.add_replica("ingest", f"ingest-{k}")
        launcher.add_replica("matcher", f"matcher-{k}")
    return launcher


def service_procs(launcher: Launcher, service: str) -> list[psutil.Process]:
    return [p for n in launcher.names_of(service) if n in launcher.procs for p in family(launcher.procs[n].pid)]


def cpu_groups(launcher: Launcher, db: Database, children: dict[str, list]) -> dict[str, object]:
    groups = {name: (lambda s=name: service_procs(launcher, s)) for name in NAMES}
    groups["postgres"] = db.procs
    for name, kids in children.items():
        groups[name] = lambda k=kids: [p for c in k for p in family(c.proc.pid)]
    groups["benchmark"] = lambda: [psutil.Process()]
    return groups


async def register_cameras(launcher: Launcher, n: int, sites: list[tuple[float, float]] | None = None) -> None:
    """n cameras, camera i at sites[i] (default: common.camera_site(i))."""
    where = {cam: (*(sites[i] if sites else camera_site(i)), 0.0) for i, cam in enumerate(camera_ids(n))}
    token = launcher.tokens[Role.CAMERA_ADMIN]
    await common.register_cameras(launcher.addr("ingest"), token, where, force=FORCE, name="Benchmark camera")


async def set_duty_rota(launcher: Launcher, tfc_subject: str, supervisor_subject: str) -> None:
    """The TFC token's subject on duty for the cameras' force for a day (the activations reach the
    duty commander's own console), its supervisor at the end of the chain."""
    now = time.time()
    async with channel(launcher.addr("firearms"), launcher.tokens[Role.TFC_SUPERVISOR]) as ch:
        stub = firearms_pb2_grpc.FirearmsServiceStub(ch)
        for subject in (tfc_subject, supervisor_subject):
            await stub.UpsertCommander(
                firearms_pb2.UpsertCommanderRequest(
                    commander=T.Commander(
                        subject=subject, name=subject, force=FORCE, supervisor=subject == supervisor_subject
                    )
                )
            )
        shift = T.Shift(force=FORCE, primary=tfc_subject, supervisor=supervisor_subject)
        shift.starts_at.FromSeconds(int(now) - 60)
        shift.ends_at.FromSeconds(int(now) + 86400)
        await stub.AddShifts(firearms_pb2.AddShiftsRequest(shifts=[shift]))


def entry(i: int) -> T.VoiEntry:
    firearms = i % FIREARMS_EVERY == 0
    return T.VoiEntry(
        entry_id=f"bench-{i}",
        vrm=entry_vrm(i),
        reason="Benchmark entry",
        action=T.ACTION_DO_NOT_STOP_REPORT_SIGHTING if firearms else T.ACTION_STOP_VEHICLE,
        warning_markers=[T.WARNING_MARKER_FIREARMS] if firearms else [],
    )


async def import_hotlist(launcher: Launcher, entries: int, chunk: int) -> float:
    """UpsertHotlist, then ImportEntries in messages of `chunk` entries; seconds taken."""
    t0 = time.perf_counter()

    async def requests():
        for start in range(0, entries, chunk):
            yield matcher_pb2.ImportEntriesRequest(
                hotlist_id=HOTLIST.hotlist_id if start == 0 else "",
                entries=[entry(i) for i in range(start, min(entries, start + chunk))],
            )
        yield matcher_pb2.ImportEntriesRequest(complete=True)

    async with channel(launcher.addr("matcher"), launcher.tokens[Role.HOTLIST_ADMIN]) as ch:
        stub = matcher_pb2_grpc.MatcherServiceStub(ch)
        await stub.UpsertHotlist(matcher_pb2.UpsertHotlistRequest(hotlist=HOTLIST))
        resp = await stub.ImportEntries(requests(), timeout=1800)
    if resp.imported != entries:
        raise BenchError(f"ImportEntries imported {resp.imported} of {entries} entries")
    return time.perf_counter() - t0


def probe_read(i: int, read_id: str) -> T.Read:
    read = T.Read(
        read_id=read_id,
        vrm=entry_vrm(i),
        confidence=90,
        camera_id=camera_ids(1)[0],
        location=T.GeoPoint(latitude=camera_site(0)[0], longitude=camera_site(0)[1]),
        direction=T.DIRECTION_TOWARDS,
    )
    read.captured_at.GetCurrentTime()
    read.captured_at.seconds -= 1
    return read


async def wait_indexed(launcher: Launcher, entries: int, within_s: float = 600.0) -> float:
    """Until every matcher process matches the first and the last entry (its index holds the list):
    MatchReads on each, as ingest would call it. Seconds waited."""
    t0 = time.monotonic()
    for name in launcher.names_of("matcher"):
        if not await _indexed(launcher, name, entries, within_s - (time.monotonic() - t0)):
            raise BenchError(f"{name} did not match the imported entries within {within_s:.0f} s")
    return time.monotonic() - t0


async def _indexed(launcher: Launcher, name: str, entries: int, within_s: float) -> bool:
    async with channel(launcher.addr(name), launcher.tokens[Role.SERVICE]) as ch:
        stub = matcher_pb2_grpc.MatcherServiceStub(ch)

        async def both_match() -> bool:
            t = int(time.time() * 1e6)
            reads = [matcher_pb2.MatchRead(read=probe_read(i, f"probe.0.0.0.{t}.{i}")) for i in (0, entries - 1)]
            return (await stub.MatchReads(matcher_pb2.MatchReadsRequest(reads=reads), timeout=30)).hits >= 2

        return await until(both_match, within_s, every_s=0.5)


async def submit_probe(launcher: Launcher, entries: int) -> int:
    """Two listed reads through ingest (the first entry is firearms-marked); how many were stored."""
    t = int(time.time() * 1e6)
    reads = [probe_read(i, f"e2e.0.0.0.{t}.{k}") for k, i in enumerate((0, entries // 2))]
    async with channel(launcher.addr("ingest"), launcher.tokens[Role.CAMERA]) as ch:
        resp = await ingest_pb2_grpc.IngestServiceStub(ch).SubmitReads(
            iter([ingest_pb2.SubmitReadsRequest(reads=reads)]), timeout=30
        )
    return sum(r.status == ingest_pb2.READ_STATUS_STORED for r in resp.results)


class Child:
    """A benchmark child process (chain_load.generator_main / chain_observer.observer_main) driven over a pipe."""

    def __init__(self, ctx, target, spec: dict, log_path: Path, name: str):
        self.conn, child = ctx.Pipe()
        self.log_path, self.name = log_path, name
        self.proc = ctx.Process(target=target, args=(child, spec, str(log_path)), name=name, daemon=True)
        self.proc.start()

    async def _recv(self, within_s: float):
        deadline = time.monotonic() + within_s
        while not await asyncio.to_thread(self.conn.poll, 0.2):
            if not self.proc.is_alive():
                raise BenchError(f"{self.name} exited ({self.proc.exitcode}); its log:\n{log_tail(self.log_path)}")
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name} did not answer within {within_s:.0f} s")
        status, value = self.conn.recv()
        if status != "ok":
            raise BenchError(f"{self.name}: {value}")
        return value

    async def ready(self, within_s: float = 60.0) -> None:
        await self._recv(within_s)

    async def call(self, op: str, arg, within_s: float = 600.0):
        self.conn.send((op, arg))
        return await self._recv(within_s)

    def close(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(("exit", None))
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()


async def backlog(url: str) -> float:
    """Reads stored but not yet accepted by matcher: the records queued in ingest's outbox for topic
    'match' (sum of `records` where the outbox batches them, else its rows); NaN if unreadable."""
    conn = await asyncpg.connect(url)
    try:
        for sql in (
            "SELECT coalesce(sum(records), 0) FROM ingest.outbox WHERE topic = 'match'",
            "SELECT count(*) FROM ingest.outbox WHERE topic = 'match'",
        ):
            with contextlib.suppress(asyncpg.UndefinedColumnError):
                return float(await conn.fetchval(sql))
        return float("nan")
    except asyncpg.PostgresError:
        return float("nan")
    finally:
        await conn.close()
