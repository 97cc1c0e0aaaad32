#!/usr/bin/env python3
"""Ingest throughput and acknowledgement latency, beside the store's and the transport's limits.

    . .venv/bin/activate && python benchmarks/ingest_bench.py          # about 70 s on 2 cores

One run, one machine, the same rows and the same table shape, in this order:

1. copy         raw asyncpg `copy_records_to_table` into `bench.reads_copy`, a plain table made
                `LIKE ingest.reads INCLUDING ALL` (same columns, primary key, indexes) in the same
                embedded PostgreSQL: the store's limit.
2. echo         a do-nothing IngestService (grpc.aio, as many processes on one port as ingest has
                workers) that acknowledges every read as READ_STATUS_STORED; driven by the same client
                code as 3: the transport's limit.
3. ingest       `anpr serve ingest` with ANPR_WORKERS=--ingest-workers (default 2: one per core,
                SO_REUSEPORT) on the embedded PostgreSQL (ANPR_MATCHER_ADDR
                points at an unused port: matching is not measured; OTEL_TRACES_EXPORTER=none):
                StreamReads from N camera streams (default 100), each pipelining D batches (default 2)
                of B reads (default 50); then SubmitRead at concurrency C (default 64).
   Then, for the service time behind those figures, an unloaded run: 1 stream, 1 batch in flight.
4. ingest's peak RSS (psutil, supervisor and workers together) during the batched flood.

The load generator runs in its own process(es), apart from the servers, over --connections TCP
connections per client process (cameras each have their own; connections are what SO_REUSEPORT
spreads over the workers). Reads are generated up front
(valid UK VRMs, unique read ids, capture time now, 100 cameras registered with UpsertCamera, no
images); a phase that needs unique read ids first runs a warm-up that sizes the pool for the
measured window. Latency is per acknowledgement: from just before a batch (or unary call) is written
to its acknowledgement. Each phase prints the CPU that every process used during its measured
window, since on a small machine the servers, PostgreSQL and the client share the cores.

Figures are printed, never asserted. The last line is space-separated name=value pairs.
Options: --seconds, --warmup, --streams, --batch, --depth, --unary-concurrency, --clients,
--connections, --ingest-workers,
--idle-seconds, --copy-chunk, --copy-connections, --profile DIR (py-spy record the ingest process
during each measured run; --profile-format raw gives collapsed stacks), --keep (keep the temp dir).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zlib
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc
import psutil
from common import CpuMeter, child_setup, log_tail, percentile
from google.protobuf import timestamp_pb2
from grpc import aio

from anpr.v1 import ingest_pb2, ingest_pb2_grpc
from anpr.v1 import types_pb2 as T
from anpr.vrm import normalise_vrm
from cli.suite.launcher import free_port

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
GRPC_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]
STORED = ingest_pb2.READ_STATUS_STORED
STATUS_NAMES = {
    v.number: v.name.removeprefix("READ_STATUS_") for v in ingest_pb2.DESCRIPTOR.enum_types_by_name["ReadStatus"].values
}

# ---------------------------------------------------------------------------------------------------
# The reads (one generator for both the gRPC phases and the COPY rows)
# ---------------------------------------------------------------------------------------------------

LETTERS = "ABCDEFGHJKLMNOPRSTUVWXY"  # current UK format: no I, Q or Z
AGE_IDS = [f"{y:02d}" for y in (*range(2, 26), *range(51, 76))]
VEHICLES = [
    ("Ford", "Focus", "Blue"),
    ("Vauxhall", "Corsa", "White"),
    ("BMW", "3 Series", "Black"),
    ("Volkswagen", "Golf", "Silver"),
    ("Toyota", "Yaris", "Red"),
    ("Nissan", "Qashqai", "Grey"),
    ("", "", ""),
]
COPY_COLUMNS = (
    "read_id",
    "vrm",
    "vrm_normalised",
    "confidence",
    "camera_id",
    "source_id",
    "captured_at",
    "latitude",
    "longitude",
    "direction",
    "heading_degrees",
    "lane",
    "make",
    "model",
    "colour",
    "plate_country",
)


def camera_ids(n: int) -> list[str]:
    return [f"BENCH-CAM-{i:03d}" for i in range(n)]


def camera_site(i: int) -> tuple[float, float, float]:
    """Latitude, longitude and heading of bench camera i (spread over southern England)."""
    return 50.8 + (i * 0.0137) % 1.6, -2.6 + (i * 0.0291) % 2.6, float((i * 37) % 360)


def uk_vrm(rng: random.Random) -> str:
    c = rng.choice
    return f"{c(LETTERS)}{c(LETTERS)}{c(AGE_IDS)} {c(LETTERS)}{c(LETTERS)}{c(LETTERS)}"


class ReadGen:
    """Reads for the gRPC phases and the equivalent rows for COPY, from the same draws.

    VRMs come from a table of 65,536 random UK-style marks (so a vehicle passes several cameras,
    as on real roads) and one random word per read picks the rest: cheap enough to generate
    hundreds of thousands up front.
    """

    def __init__(self, seed: int, cams: list[str]):
        rng = self.rng = random.Random(seed)
        self.vrms = [uk_vrm(rng) for _ in range(1 << 16)]
        self.norms = [normalise_vrm(v) for v in self.vrms]
        self.confs = [round(70.0 + i * 29.5 / 255, 1) for i in range(256)]
        self.cams = cams
        self.sites = [camera_site(i) for i in range(len(cams))]

    def _draw(self):
        x = self.rng.getrandbits(32)
        return x & 0xFFFF, self.confs[(x >> 16) & 0xFF], 1 + (x >> 24) % 3, VEHICLES[(x >> 26) % len(VEHICLES)]

    def read(self, read_id: str, cam_index: int, captured: timestamp_pb2.Timestamp) -> T.Read:
        v, conf, lane, (make, model, colour) = self._draw()
        lat, lon, heading = self.sites[cam_index]
        return T.Read(
            read_id=read_id,
            vrm=self.vrms[v],
            confidence=conf,
            camera_id=self.cams[cam_index],
            source_id="lane-feed",
            captured_at=captured,
            location=T.GeoPoint(latitude=lat, longitude=lon),
            direction=T.DIRECTION_TOWARDS,
            heading_degrees=heading,
            lane=lane,
            vehicle=T.VehicleDescription(make=make, model=model, colour=colour),
            plate_country="GB",
        )

    def row(self, read_id: str, cam_index: int, captured: datetime) -> tuple:
        """The row ingest's store writes for such a read (see services/ingest/store.py), COPY_COLUMNS order."""
        v, conf, lane, (make, model, colour) = self._draw()
        lat, lon, heading = self.sites[cam_index]
        return (
            read_id,
            self.vrms[v],
            self.norms[v],
            conf,
            self.cams[cam_index],
            "lane-feed",
            captured,
            lat,
            lon,
            int(T.DIRECTION_TOWARDS),
            heading,
            lane,
            make,
            model,
            colour,
            "GB",
        )


def _captured_now() -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(datetime.now(timezone.utc) - timedelta(milliseconds=500))
    return out


# ---------------------------------------------------------------------------------------------------
# The do-nothing server (its own process)
# ---------------------------------------------------------------------------------------------------


class EchoIngest(ingest_pb2_grpc.IngestServiceServicer):
    """Acknowledges every read as stored, storing nothing: the transport's limit."""

    async def SubmitRead(self, request, context):
        return ingest_pb2.SubmitReadResponse(result=ingest_pb2.ReadResult(read_id=request.read.read_id, status=STORED))

    async def SubmitReads(self, request_iterator, context):
        results = []
        async for request in request_iterator:
            results.extend(ingest_pb2.ReadResult(read_id=r.read_id, status=STORED) for r in request.reads)
        return ingest_pb2.SubmitReadsResponse(results=results)

    async def StreamReads(self, request_iterator, context):
        async for request in request_iterator:
            yield ingest_pb2.StreamReadsResponse(
                batch_id=request.batch_id,
                results=[ingest_pb2.ReadResult(read_id=r.read_id, status=STORED) for r in request.reads],
            )


def echo_server_main(conn, log_path: str, port: int = 0) -> None:
    """One echo process; several share a port (SO_REUSEPORT, as ingest's workers do)."""
    child_setup(log_path)

    async def serve() -> None:
        server = aio.server(options=GRPC_OPTIONS)
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(EchoIngest(), server)
        port_ = server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        conn.send(port_)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        await server.stop(0)

    with contextlib.suppress(EOFError, KeyboardInterrupt):
        asyncio.run(serve())


# ---------------------------------------------------------------------------------------------------
# The load generator (its own process or processes)
# ---------------------------------------------------------------------------------------------------


class Tally:
    """Acknowledgements inside the measured window [w0, w1) (perf_counter of the client)."""

    def __init__(self, w0: float, w1: float):
        self.w0, self.w1 = w0, w1
        self.statuses: Counter = Counter()
        self.errors: Counter = Counter()
        self.lat_ms: list[float] = []
        self.last_ack = w0
        self.exhausted_at: float | None = None
        self.first_error = ""

    def ack(self, t_sent: float, t_ack: float, results) -> None:
        if self.w0 <= t_ack < self.w1:
            self.lat_ms.append((t_ack - t_sent) * 1000.0)
            st = self.statuses
            for r in results:
                st[r.status] += 1
            self.last_ack = t_ack

    def error(self, code: str, detail: str = "") -> None:
        self.errors[code] += 1
        if not self.first_error:
            self.first_error = f"{code}: {detail}"[:300]

    def exhausted(self) -> None:
        if self.exhausted_at is None:
            self.exhausted_at = time.perf_counter()

    def result(self) -> dict:
        end = self.w1
        if self.exhausted_at is not None and self.exhausted_at < self.w1:
            end = max(self.last_ack, self.w0 + 1e-3)  # the pool ran out: measure up to the last ack
        return {
            "window_s": end - self.w0,
            "statuses": {STATUS_NAMES.get(k, str(k)): v for k, v in self.statuses.items()},
            "errors": dict(self.errors),
            "first_error": self.first_error,
            "lat_ms": self.lat_ms,
            "exhausted": self.exhausted_at is not None and self.exhausted_at < self.w1,
        }


async def _one_stream(
    stub, md, batches: list, cyclic: bool, depth: int, w1: float, tally: Tally, drain_s: float
) -> None:
    perf = time.perf_counter
    call = stub.StreamReads(metadata=md)
    slots = asyncio.Semaphore(depth)
    sent: dict[str, float] = {}
    dead = False

    async def reader() -> None:
        nonlocal dead
        try:
            while True:
                resp = await call.read()
                if resp is aio.EOF:
                    return
                t = perf()
                t_sent = sent.pop(resp.batch_id, None)
                if t_sent is not None:
                    tally.ack(t_sent, t, resp.results)
                slots.release()
        except aio.AioRpcError as exc:
            tally.error(exc.code().name, exc.details() or "")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            tally.error(type(exc).__name__, str(exc))
        finally:
            dead = True
            for _ in range(depth):
                slots.release()

    read_task = asyncio.create_task(reader())
    batches_iter = itertools.cycle(batches) if cyclic else iter(batches)
    try:
        while True:
            await slots.acquire()
            if dead or perf() >= w1:
                break
            req = next(batches_iter, None)
            if req is None:
                tally.exhausted()
                break
            sent[req.batch_id] = perf()
            await call.write(req)
        if not dead:
            await call.done_writing()
        await asyncio.wait_for(asyncio.shield(read_task), drain_s)
    except aio.AioRpcError as exc:
        tally.error(exc.code().name, exc.details() or "")
    except (asyncio.InvalidStateError, TimeoutError):
        pass  # the call ended (error recorded by the reader) or did not drain in time
    finally:
        if not read_task.done():
            call.cancel()
            read_task.cancel()
        with contextlib.suppress(BaseException):
            await read_task


async def _unary(stubs, md, reqs: list, cyclic: bool, concurrency: int, w1: float, tally: Tally) -> None:
    perf = time.perf_counter
    reqs_iter = itertools.cycle(reqs) if cyclic else iter(reqs)

    async def worker(stub) -> None:
        while perf() < w1:
            req = next(reqs_iter, None)
            if req is None:
                tally.exhausted()
                return
            t0 = perf()
            try:
                resp = await stub.SubmitRead(req, metadata=md, timeout=30)
            except aio.AioRpcError as exc:
                code = exc.code()
                if code == grpc.StatusCode.INVALID_ARGUMENT:  # a rejected read: still an answer
                    t1 = perf()
                    tally.ack(t0, t1, (ingest_pb2.ReadResult(status=ingest_pb2.READ_STATUS_REJECTED),))
                tally.error(code.name, exc.details() or "")
                continue
            tally.ack(t0, perf(), (resp.result,))

    await asyncio.gather(*(worker(stubs[i % len(stubs)]) for i in range(concurrency)))


class ClientState:
    def __init__(self, index: int):
        self.index = index
        self.channels: dict[str, aio.Channel] = {}
        self.spec: dict | None = None
        self.pool = None

    async def stubs(self, target: str, connections: int) -> list[ingest_pb2_grpc.IngestServiceStub]:
        """Stubs on `connections` separate TCP connections (as many cameras have), so that a server
        with several worker processes on one port (SO_REUSEPORT) gets its share of each."""
        out = []
        for i in range(connections):
            key = f"{target}#{i}"
            ch = self.channels.get(key)
            if ch is None:
                ch = self.channels[key] = aio.insecure_channel(
                    target, options=[*GRPC_OPTIONS, ("grpc.use_local_subchannel_pool", 1)]
                )
                await asyncio.wait_for(ch.channel_ready(), 10)
            out.append(ingest_pb2_grpc.IngestServiceStub(ch))
        return out

    def prepare(self, spec: dict) -> dict:
        """Generate the reads of one run: per-stream batches, or unary requests."""
        t0 = time.perf_counter()
        self.spec = spec
        self.pool = None  # free the previous pool first
        cams = spec["cameras"]
        gen = ReadGen(spec["seed"], cams)
        captured = _captured_now()
        prefix = spec["prefix"]
        n = spec["n_reads"]
        if spec["kind"] == "stream":
            streams, batch = spec["streams"], spec["batch"]  # streams may be empty: this client sits out
            per_stream = max(spec["depth"] + 1, math.ceil(n / (max(1, len(streams)) * batch)))
            pool = []
            for s in streams:
                cam = s % len(cams)
                batches = []
                for b in range(per_stream):
                    reads = [gen.read(f"{prefix}-s{s}-{b}-{i}", cam, captured) for i in range(batch)]
                    batches.append(ingest_pb2.StreamReadsRequest(batch_id=f"{s}-{b}", reads=reads))
                pool.append(batches)
            made = per_stream * batch * len(streams)
        else:
            pool = [
                ingest_pb2.SubmitReadRequest(read=gen.read(f"{prefix}-u{i}", i % len(cams), captured)) for i in range(n)
            ]
            made = n
        self.pool = pool
        return {"reads": made, "gen_s": time.perf_counter() - t0}

    async def run(self, go: dict) -> dict:
        spec, perf = self.spec, time.perf_counter
        stubs = await self.stubs(spec["target"], spec["connections"])
        md = (("authorization", f"Bearer {spec['token']}"),)
        start = perf() + (go["t0_wall"] - time.time())
        w0 = start + go["warm"]
        w1 = w0 + go["seconds"]
        tally = Tally(w0, w1)
        await asyncio.sleep(max(0.0, start - perf()))
        cpu0 = time.process_time()
        if spec["kind"] == "stream":
            await asyncio.gather(
                *(
                    _one_stream(
                        stubs[i % len(stubs)], md, batches, spec["cyclic"], spec["depth"], w1, tally, go["drain_s"]
                    )
                    for i, batches in enumerate(self.pool)
                )
            )
        else:
            await _unary(stubs, md, self.pool, spec["cyclic"], spec["concurrency"], w1, tally)
        out = tally.result()
        out["client_cpu_s"] = time.process_time() - cpu0
        out["wall_s"] = perf() - start
        return out


def client_main(conn, index: int, log_path: str) -> None:
    child_setup(log_path)
    state = ClientState(index)

    async def loop() -> None:
        ev = asyncio.get_running_loop()
        while True:
            try:
                op, arg = await ev.run_in_executor(None, conn.recv)
            except EOFError:
                return
            if op == "exit":
                break
            try:
                if op == "prepare":
                    reply = state.prepare(arg)
                elif op == "run":
                    reply = await state.run(arg)
                elif op == "close":
                    ch = state.channels.pop(arg, None)
                    if ch is not None:
                        await ch.close()
                    reply = {}
                else:
                    raise ValueError(f"unknown op {op!r}")
                conn.send(("ok", reply))
            except Exception:
                conn.send(("error", traceback.format_exc(limit=6)))
        for ch in state.channels.values():
            await ch.close()

    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        asyncio.run(loop())


# ---------------------------------------------------------------------------------------------------
# The orchestrator
# ---------------------------------------------------------------------------------------------------


class BenchError(Exception):
    pass


class RssSampler(threading.Thread):
    """Peak RSS of a process and its children (ingest's workers), sampled every 50 ms; `mark()`
    starts a new named segment."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peaks: dict[str, int] = {}
        self.segment = "idle"
        self._stop = threading.Event()

    def mark(self, segment: str) -> None:
        self.segment = segment

    def run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                rss = sum(p.memory_info().rss for p in (self.proc, *self.proc.children(recursive=True)))
            except psutil.Error:
                return
            seg = self.segment
            if rss > self.peaks.get(seg, 0):
                self.peaks[seg] = rss

    def stop(self) -> None:
        self._stop.set()


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="anpr-ingest-bench-"))
        self.ctx = multiprocessing.get_context("spawn")
        self.pg = None
        self.db_url = ""
        self.ingest: subprocess.Popen | None = None
        self.launcher = None
        self.ingest_log = self.tmp / "ingest.log"
        self.ingest_addr = ""
        self.echo: list = []  # (process, pipe) per echo worker
        self.echo_addr = ""
        self.clients: list[tuple[object, object]] = []  # (process, pipe)
        self.rss: RssSampler | None = None
        self.profilers: list[subprocess.Popen] = []
        self.tokens: dict[str, str] = {}
        self.cams = camera_ids(100)
        self.run_id = f"{os.getpid():x}{int(time.time()) % 100000:x}"
        self.fig: dict[str, float] = {}
        self.notes: list[str] = []
        self.max_other = 0.0

    # -- output ------------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        print(text, flush=True)

    # -- processes -----------------------------------------------------------------------------------

    def start_postgres(self) -> None:
        from anpr.runtime import pg

        t = time.perf_counter()
        self.pg = pg.start_embedded(self.tmp, cleanup="stop")
        self.db_url = self.pg.get_uri()
        self.say(f"embedded PostgreSQL ready in {time.perf_counter() - t:.1f} s ({self.tmp / 'pgdata'})")

    def postgres_procs(self) -> list[psutil.Process]:
        try:
            pm = psutil.Process(self.pg.get_pid())
            return [pm, *pm.children(recursive=True)]
        except (psutil.Error, TypeError, AttributeError):
            return []

    def start_ingest(self) -> None:
        """`anpr serve ingest` through the suite's launcher (cli/suite/launcher.py)."""
        from anpr.runtime.auth import Role
        from cli.suite.launcher import Launcher, Tokens

        tokens = Tokens.create(self.tmp / "tokens.json", prefix="bench")
        self.tokens = {
            "camera": tokens[Role.CAMERA],
            "camera_admin": tokens[Role.CAMERA_ADMIN],
            "service": tokens[Role.SERVICE],
        }
        self.launcher = Launcher(
            self.db_url,
            tokens,
            self.tmp,
            ports={"ingest": free_port()},
            env={
                "ANPR_MATCHER_ADDR": f"127.0.0.1:{free_port()}",  # nothing listens: matching is not measured
                "ANPR_CAMERA_RATE_PER_S": "1000000",
                "ANPR_SHUTDOWN_GRACE_S": "3",
                "ANPR_WORKERS": str(self.args.ingest_workers),
                "ANPR_DATA_DIR": str(self.tmp),
                "OTEL_TRACES_EXPORTER": "none",
            },
        )
        self.ingest_addr = self.launcher.addr("ingest")
        self.ingest = self.launcher.start("ingest")

    def start_echo(self) -> None:
        """As many echo processes as ingest has workers, on one port: the transport's limit for the
        same number of processes."""
        port = 0
        for i in range(self.args.ingest_workers):
            parent, child = self.ctx.Pipe()
            proc = self.ctx.Process(
                target=echo_server_main,
                args=(child, str(self.tmp / "echo.log"), port),
                name=f"bench-echo-{i}",
                daemon=True,
            )
            proc.start()
            self.echo.append((proc, parent))
            deadline = time.monotonic() + 30
            while not parent.poll(0.2):
                if not proc.is_alive():
                    raise BenchError(
                        f"the echo server exited with code {proc.exitcode}; tail of its log:\n"
                        f"{log_tail(self.tmp / 'echo.log')}"
                    )
                if time.monotonic() > deadline:
                    raise BenchError("the echo server did not start within 30 s")
            port = parent.recv()
        self.echo_addr = f"127.0.0.1:{port}"

    def stop_echo(self) -> None:
        echo, self.echo = self.echo, []
        for proc, conn in echo:
            if proc.pid is not None:
                with contextlib.suppress(Exception):
                    conn.send("stop")
        for proc, _ in echo:
            if proc.pid is not None:
                proc.join(5)
                if proc.is_alive():
                    proc.kill()
                    proc.join()

    def start_clients(self) -> None:
        for i in range(self.args.clients):
            parent, child = self.ctx.Pipe()
            p = self.ctx.Process(
                target=client_main, args=(child, i, str(self.client_log(i))), name=f"bench-client-{i}", daemon=True
            )
            p.start()
            self.clients.append((p, parent))

    def client_log(self, i: int) -> Path:
        return self.tmp / f"client-{i}.log"

    def client_died(self, i: int, proc) -> BenchError:
        return BenchError(
            f"client process {i} died (exit code {proc.exitcode}); tail of its log:\n{log_tail(self.client_log(i))}"
        )

    def wait_ingest_serving(self, timeout: float = 90.0) -> None:
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.ingest_addr) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            while True:
                if self.ingest.poll() is not None:
                    raise BenchError(
                        f"the ingest service exited with code {self.ingest.returncode} before "
                        f"SERVING; tail of its log ({self.ingest_log}):\n{log_tail(self.ingest_log)}"
                    )
                try:
                    resp = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if resp.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    raise BenchError(
                        f"the ingest service was not SERVING after {timeout:.0f} s; tail of its "
                        f"log:\n{log_tail(self.ingest_log)}"
                    )
                time.sleep(0.2)

    def check_ingest_alive(self, when: str) -> None:
        if self.ingest is not None and self.ingest.poll() is not None:
            raise BenchError(
                f"the ingest service exited (code {self.ingest.returncode}) {when}; tail of its "
                f"log:\n{log_tail(self.ingest_log)}"
            )

    def register_cameras(self) -> None:
        md = (("authorization", f"Bearer {self.tokens['camera_admin']}"),)
        with grpc.insecure_channel(self.ingest_addr) as ch:
            stub = ingest_pb2_grpc.IngestServiceStub(ch)
            for i, cam in enumerate(self.cams):
                lat, lon, heading = camera_site(i)
                req = ingest_pb2.UpsertCameraRequest(
                    camera=T.Camera(
                        camera_id=cam,
                        name=f"Bench camera {i}",
                        location=T.GeoPoint(latitude=lat, longitude=lon),
                        direction=T.DIRECTION_TOWARDS,
                        heading_degrees=heading,
                        force="Bench Police",
                        enabled=True,
                    )
                )
                try:
                    stub.UpsertCamera(req, metadata=md, timeout=10)
                except grpc.RpcError as exc:
                    if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                        self.say("UpsertCamera: UNIMPLEMENTED; continuing without a camera registry")
                        self.notes.append("cameras not registered (UpsertCamera UNIMPLEMENTED)")
                        return
                    raise BenchError(f"UpsertCamera({cam}) failed: {exc.code().name}: {exc.details()}") from None
        self.say(f"registered {len(self.cams)} cameras with UpsertCamera")

    def close(self) -> None:
        """Stop everything this run started; every step runs even if an earlier one fails."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for step in (
            self._close_profilers,
            self._close_clients,
            self.stop_echo,
            self._close_ingest,
            self._close_postgres,
        ):
            try:
                step()
            except BaseException as exc:
                print(f"cleanup: {step.__name__}: {type(exc).__name__}: {exc}", file=sys.stderr)
        if self.args.keep:
            print(f"kept {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _close_profilers(self) -> None:
        profilers, self.profilers = self.profilers, []
        for prof in profilers:
            if prof.poll() is None:
                prof.send_signal(signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    prof.wait(10)
            if prof.poll() is None:
                prof.kill()
                prof.wait()
        if self.rss is not None:
            self.rss.stop()

    def _close_clients(self) -> None:
        clients, self.clients = self.clients, []
        for _, conn in clients:
            with contextlib.suppress(Exception):
                conn.send(("exit", None))
        for p, _ in clients:
            p.join(3)  # a client in the middle of a run does not read "exit": it is killed
            if p.is_alive():
                p.kill()
                p.join()

    def _close_ingest(self) -> None:
        self.ingest = None
        if self.launcher is not None:
            self.launcher.terminate(grace=15)

    def _close_postgres(self) -> None:
        server, self.pg = self.pg, None
        if server is not None:
            server.cleanup()

    # -- client orchestration ------------------------------------------------------------------------

    def _ask(self, messages: list[tuple[str, object]], timeout: float) -> list[dict]:
        for (_, conn), msg in zip(self.clients, messages, strict=True):
            conn.send(msg)
        replies = []
        deadline = time.monotonic() + timeout
        for i, (proc, conn) in enumerate(self.clients):
            while not conn.poll(0.5):
                if not proc.is_alive():
                    raise self.client_died(i, proc)
                self.check_ingest_alive("while the client was running")
                if time.monotonic() > deadline:
                    raise BenchError(f"client process {i} did not answer within {timeout:.0f} s")
            try:
                status, reply = conn.recv()
            except EOFError:
                raise self.client_died(i, proc) from None
            if status != "ok":
                raise BenchError(f"client process {i} failed:\n{reply}")
            replies.append(reply)
        return replies

    def _split(self, n: int) -> list[list[int]]:
        k = len(self.clients)
        return [list(range(i, n, k)) for i in range(k)]

    def prepare(
        self,
        kind: str,
        target: str,
        token: str,
        n_reads: int,
        cyclic: bool,
        tag: str,
        streams: int | None = None,
        depth: int | None = None,
    ) -> float:
        a = self.args
        streams = streams or a.streams
        shares = self._split(streams if kind == "stream" else a.unary_concurrency)
        msgs = []
        for i, share in enumerate(shares):
            msgs.append(
                (
                    "prepare",
                    {
                        "kind": kind,
                        "target": target,
                        "token": token,
                        "cyclic": cyclic,
                        "cameras": self.cams,
                        "n_reads": max(1, math.ceil(n_reads / max(1, sum(map(bool, shares))))),
                        "streams": share,
                        "batch": a.batch,
                        "depth": depth or a.depth,
                        "concurrency": len(share),
                        "connections": a.connections,
                        "seed": zlib.crc32(f"{tag}-{i}".encode()),
                        "prefix": f"bench-{self.run_id}-{tag}-c{i}",
                    },
                )
            )
        replies = self._ask(msgs, timeout=120)
        return max(r["gen_s"] for r in replies)

    def run_window(self, warm: float, seconds: float, cpu: CpuMeter, on_window=None) -> tuple[list[dict], dict]:
        """Run the prepared load; returns the clients' results and the cores each group used."""
        t0_wall = time.time() + 0.3
        go = {"t0_wall": t0_wall, "warm": warm, "seconds": seconds, "drain_s": 15.0}
        for _, conn in self.clients:
            conn.send(("run", go))
        time.sleep(max(0.0, t0_wall + warm - time.time()))
        if on_window:
            on_window()
        snap0, c0 = cpu.snapshot(), time.monotonic()
        time.sleep(max(0.0, t0_wall + warm + seconds - time.time()))
        snap1, c1 = cpu.snapshot(), time.monotonic()
        # the requests were already sent: collect the replies
        replies = []
        for i, (proc, conn) in enumerate(self.clients):
            deadline = time.monotonic() + 60
            while not conn.poll(0.5):
                if not proc.is_alive():
                    raise self.client_died(i, proc)
                self.check_ingest_alive("while the client was running")
                if time.monotonic() > deadline:
                    raise BenchError(f"client process {i} did not finish its run")
            status, reply = conn.recv()
            if status != "ok":
                raise BenchError(f"client process {i} failed:\n{reply}")
            replies.append(reply)
        return replies, CpuMeter.cores(snap0, snap1, c1 - c0)

    @staticmethod
    def merge(replies: list[dict]) -> dict:
        statuses: Counter = Counter()
        errors: Counter = Counter()
        lat: list[float] = []
        rate_stored = rate_acked = 0.0
        for r in replies:
            statuses.update(r["statuses"])
            errors.update(r["errors"])
            lat.extend(r["lat_ms"])
            n = sum(r["statuses"].values())
            rate_acked += n / r["window_s"]
            rate_stored += r["statuses"].get("STORED", 0) / r["window_s"]
        lat.sort()
        return {
            "stored_per_s": rate_stored,
            "acked_per_s": rate_acked,
            "statuses": dict(statuses),
            "errors": dict(errors),
            "acks": len(lat),
            "p50": percentile(lat, 0.50),
            "p99": percentile(lat, 0.99),
            "max": lat[-1] if lat else float("nan"),
            "window_s": min(r["window_s"] for r in replies),
            "exhausted": any(r["exhausted"] for r in replies),
            "first_error": next((r["first_error"] for r in replies if r["first_error"]), ""),
            "client_cpu_s": sum(r["client_cpu_s"] for r in replies),
        }

    def cpu_meter(self) -> CpuMeter:
        me = psutil.Process()
        groups = {
            "ingest": lambda: (
                [psutil.Process(self.ingest.pid), *psutil.Process(self.ingest.pid).children(recursive=True)]
                if self.ingest and self.ingest.poll() is None
                else []
            ),
            "postgres": self.postgres_procs,
            "echo-server": lambda: [psutil.Process(p.pid) for p, _ in self.echo if p.is_alive()],
            "client": lambda: [psutil.Process(p.pid) for p, _ in self.clients if p.is_alive()],
            "orchestrator": lambda: [me],
        }
        return CpuMeter(groups)

    def fmt_cpu(self, cores: dict[str, float]) -> str:
        cores = dict(cores)
        other = cores.pop("other processes", 0.0)
        self.max_other = max(self.max_other, other)
        parts = [f"{k} {v:.2f}" for k, v in cores.items() if v >= 0.005]
        warn = "  <- NOT this benchmark: figures depressed" if other >= 0.25 else ""
        return (
            f"cores used in the window (of {os.cpu_count()}): "
            + ", ".join(parts)
            + f" (benchmark total {sum(cores.values()):.2f}); other processes {other:.2f}{warn}"
        )

    def report(self, label: str, m: dict, cores: dict[str, float], unit: str = "reads/s") -> None:
        extra = ""
        others = {k: v for k, v in m["statuses"].items() if k != "STORED"}
        if others:
            extra += f"  NOT STORED: {others}"
        if m["errors"]:
            extra += f"  ERRORS: {m['errors']} (first: {m['first_error']})"
        if m["exhausted"]:
            extra += f"  (read pool ran out: window {m['window_s']:.1f} s)"
        self.say(
            f"  {label}: {m['stored_per_s']:,.0f} {unit} stored ({m['acked_per_s']:,.0f} acked); "
            f"ack latency p50 {m['p50']:.1f} ms, p99 {m['p99']:.1f} ms, max {m['max']:.1f} ms "
            f"over {m['acks']:,} acks{extra}"
        )
        self.say(f"    {self.fmt_cpu(cores)}")

    # -- phases ----------------------------------------------------------------------------------------

    async def _copy_rows(
        self, conns, rows: list[tuple], columns: list[str], chunk: int, warm: float, seconds: float
    ) -> tuple[int, float, bool]:
        """COPY chunks of `rows` from every connection until the window ends; rows copied in it."""
        perf = time.perf_counter
        w0 = perf() + warm
        w1 = w0 + seconds
        chunks = iter(range(0, len(rows), chunk))
        counted = 0
        last = w0
        exhausted = False

        async def worker(conn) -> None:
            nonlocal counted, last, exhausted
            while perf() < w1:
                start = next(chunks, None)
                if start is None:
                    exhausted = True
                    return
                part = rows[start : start + chunk]
                await conn.copy_records_to_table("reads_copy", schema_name="bench", records=part, columns=columns)
                t = perf()
                if w0 <= t < w1:
                    counted += len(part)
                    last = t

        await asyncio.gather(*(worker(c) for c in conns))
        window = (last - w0) if exhausted else seconds
        return counted, max(window, 1e-3), exhausted

    def gen_rows(self, n: int, tag: str) -> list[tuple]:
        gen = ReadGen(zlib.crc32(f"copy-{tag}".encode()), self.cams)
        captured = datetime.now(timezone.utc) - timedelta(milliseconds=500)
        ncam, row, prefix = len(self.cams), gen.row, f"bench-{self.run_id}-copy{tag}-"
        return [row(f"{prefix}{i}", i % ncam, captured) for i in range(n)]

    def phase_copy(self, cpu: CpuMeter) -> None:
        import asyncpg

        a = self.args
        self.say(
            f"\n[1/4] raw COPY: asyncpg copy_records_to_table, {a.copy_connections} connection(s) x "
            f"{a.copy_chunk}-row chunks into bench.reads_copy (LIKE ingest.reads INCLUDING ALL)"
        )

        async def go() -> None:
            admin = await asyncpg.connect(self.db_url)
            try:
                await admin.execute("DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench")
                # LIKE makes a plain table even when ingest.reads is partitioned; INCLUDING ALL keeps the
                # primary key, indexes, defaults and constraints (the same work per row as the store).
                await admin.execute("CREATE TABLE bench.reads_copy (LIKE ingest.reads INCLUDING ALL)")
                have = {
                    r["attname"]
                    for r in await admin.fetch(
                        "SELECT attname FROM pg_attribute WHERE attrelid = 'bench.reads_copy'::regclass"
                        " AND attnum > 0 AND NOT attisdropped"
                    )
                }
                kind = await admin.fetchval("SELECT relkind FROM pg_class WHERE oid = 'ingest.reads'::regclass")
                if kind in (b"p", "p"):
                    self.notes.append("ingest.reads is partitioned; the COPY target is a plain table")
                missing = [c for c in COPY_COLUMNS if c not in have]
                if missing:
                    raise BenchError(f"ingest.reads has no column(s) {missing}: update COPY_COLUMNS")
                conns = [await asyncpg.connect(self.db_url) for _ in range(a.copy_connections)]
                try:
                    probe = self.gen_rows(min(150_000, max(a.copy_chunk * 20, 40_000)), "probe")
                    n, window, _ = await self._copy_rows(conns, probe, list(COPY_COLUMNS), a.copy_chunk, 0.0, a.warmup)
                    rate = n / window
                    want = min(int(rate * a.seconds * 1.3) + a.copy_chunk * 4, a.copy_max_rows)
                    t = time.perf_counter()
                    rows = self.gen_rows(want, "main")
                    gen_s = time.perf_counter() - t
                    del probe
                    snap0, c0 = cpu.snapshot(), time.monotonic()
                    n, window, exhausted = await self._copy_rows(
                        conns, rows, list(COPY_COLUMNS), a.copy_chunk, 0.0, a.seconds
                    )
                    snap1, c1 = cpu.snapshot(), time.monotonic()
                    del rows
                finally:
                    for c in conns:
                        await c.close()
                size = await admin.fetchval("SELECT pg_total_relation_size('bench.reads_copy')")
                # leave no dirty pages or WAL debt from this phase to the ingest phases
                await admin.execute("DROP SCHEMA bench CASCADE")
                await admin.execute("CHECKPOINT")
            finally:
                await admin.close()
            rate = n / window
            self.fig["copy_rows_per_s"] = rate
            note = f" (row pool ran out: window {window:.1f} s)" if exhausted else ""
            self.say(
                f"  COPY: {rate:,.0f} rows/s ({n:,} rows in {window:.1f} s; rows generated up front in "
                f"{gen_s:.1f} s; table+indexes {size / 2**20:.0f} MiB){note}"
            )
            self.say(f"    {self.fmt_cpu(CpuMeter.cores(snap0, snap1, c1 - c0))}  (client = orchestrator here)")

        asyncio.run(go())

    def phase_echo(self, cpu: CpuMeter) -> None:
        a = self.args
        self.say(
            f"\n[2/4] raw gRPC echo: do-nothing IngestService in {a.ingest_workers} process(es) on one port; {a.clients} client "
            f"process(es)"
        )
        pool_reads = max(a.streams * a.batch * 8, 60_000)
        gen = self.prepare("stream", self.echo_addr, "echo", pool_reads, True, "echo-stream")
        replies, cores = self.run_window(a.warmup, a.seconds, cpu)
        m = self.merge(replies)
        self.fig["echo_stream_per_s"] = m["stored_per_s"]
        self.fig["echo_stream_p50_ms"], self.fig["echo_stream_p99_ms"] = m["p50"], m["p99"]
        self.report(
            f"StreamReads, {a.streams} streams x {a.depth} in flight x {a.batch} reads "
            f"(pool of {pool_reads:,} reads reused, generated in {gen:.1f} s)",
            m,
            cores,
        )

        pool_reads = max(a.unary_concurrency * 200, 20_000)
        gen = self.prepare("unary", self.echo_addr, "echo", pool_reads, True, "echo-unary")
        replies, cores = self.run_window(a.warmup, a.seconds, cpu)
        m = self.merge(replies)
        self.fig["echo_unary_per_s"] = m["stored_per_s"]
        self.fig["echo_unary_p50_ms"], self.fig["echo_unary_p99_ms"] = m["p50"], m["p99"]
        self.report(f"SubmitRead, concurrency {a.unary_concurrency}", m, cores)
        self.prepare("unary", self.echo_addr, "echo", 1, True, "free")  # drop the pools
        self._ask([("close", self.echo_addr)] * len(self.clients), timeout=30)
        self.stop_echo()

    def _profile(self, name: str, seconds: float) -> None:
        a = self.args
        if not a.profile:
            return
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(exe).exists():
            self.say("  (--profile: py-spy not found; pip install py-spy)")
            return
        out_dir = Path(a.profile)
        out_dir.mkdir(parents=True, exist_ok=True)
        ext = {"flamegraph": "svg", "speedscope": "json", "raw": "txt"}[a.profile_format]
        out = out_dir / f"ingest-{name}.{ext}"
        self.profilers.append(
            subprocess.Popen(
                [
                    exe,
                    "record",
                    "--pid",
                    str(self.ingest.pid),
                    "--duration",
                    str(max(1, round(seconds))),
                    "--rate",
                    "100",
                    "--nonblocking",
                    "--subprocesses",
                    "--format",
                    a.profile_format,
                    "--output",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        self.say(f"  py-spy recording the measured window to {out}")

    def _reap_profilers(self) -> None:
        for prof in self.profilers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                prof.wait(15)
        self.profilers = [p for p in self.profilers if p.poll() is None]

    def _unique_phase(
        self,
        kind: str,
        label: str,
        cpu: CpuMeter,
        probe_reads: int,
        rss_tag: str | None,
        streams: int | None = None,
        depth: int | None = None,
        seconds: float | None = None,
        warmup: float | None = None,
        tag: str | None = None,
    ):
        """Warm-up on its own read pool (which sizes the next), then the measured run on fresh reads."""
        a = self.args
        token = self.tokens["camera"]
        tag = tag or kind
        seconds = seconds or a.seconds
        shape = {"streams": streams, "depth": depth}
        if self.rss and rss_tag:
            self.rss.mark(f"{rss_tag}-warmup")
        self.prepare(kind, self.ingest_addr, token, probe_reads, False, f"{tag}-warm", **shape)
        replies, _ = self.run_window(0.0, warmup or a.warmup, cpu)
        self.check_ingest_alive(f"during the {label} warm-up")
        warm = self.merge(replies)
        if warm["acks"] == 0:
            raise BenchError(
                f"{label}: no acknowledgement in the warm-up; errors {warm['errors']} "
                f"(first: {warm['first_error']})\ntail of the ingest log:\n{log_tail(self.ingest_log)}"
            )
        main_warm = 0.5
        want = int(warm["acked_per_s"] * (seconds + main_warm) * 1.5) + (streams or a.streams) * a.batch * (
            (depth or a.depth) + 1
        )
        want = min(want, a.max_pool_reads)
        gen = self.prepare(kind, self.ingest_addr, token, want, False, tag, **shape)
        self._profile(tag, seconds)
        mark = (lambda: self.rss.mark(rss_tag)) if self.rss and rss_tag else None
        replies, cores = self.run_window(main_warm, seconds, cpu, on_window=mark)
        if self.rss and rss_tag:
            self.rss.mark(f"{rss_tag}-drain")
        self._reap_profilers()
        self.check_ingest_alive(f"during the {label} run")
        m = self.merge(replies)
        self.report(
            f"{label} (warm-up {warm['acked_per_s']:,.0f}/s; {want:,} fresh reads generated in {gen:.1f} s)", m, cores
        )
        self.prepare(kind, self.ingest_addr, token, 1, False, "free")
        return m

    def phase_ingest(self, cpu: CpuMeter) -> None:
        a = self.args
        self.say(f"\n[3/4] ingest service (pid {self.ingest.pid}); {a.clients} client process(es)")
        self.rss = RssSampler(self.ingest.pid)
        base_rss = self.rss.proc.memory_info().rss
        self.rss.start()
        m = self._unique_phase(
            "stream",
            f"StreamReads, {a.streams} camera streams x {a.depth} in flight x {a.batch} reads",
            cpu,
            max(40_000, a.streams * a.batch * 6),
            "batched",
        )
        self.fig["batched_per_s"] = m["stored_per_s"]
        self.fig["p50_ack_ms"], self.fig["p99_ack_ms"] = m["p50"], m["p99"]
        in_flight = a.streams * a.depth * a.batch
        if m["acked_per_s"] > 0:
            self.say(
                f"    closed loop at saturation: {in_flight:,} reads in flight / {m['acked_per_s']:,.0f} reads/s "
                f"= {1000 * in_flight / m['acked_per_s']:.0f} ms of queueing (Little's law), so these "
                "latencies measure the client's in-flight volume; see the unloaded latency below"
            )
        m = self._unique_phase("unary", f"SubmitRead, concurrency {a.unary_concurrency}", cpu, 15_000, "unary")
        self.fig["unary_per_s"] = m["stored_per_s"]
        self.fig["unary_p50_ms"], self.fig["unary_p99_ms"] = m["p50"], m["p99"]
        if a.idle_seconds > 0:
            m = self._unique_phase(
                "stream",
                f"unloaded: StreamReads, 1 stream x 1 in flight x {a.batch} reads",
                cpu,
                5_000,
                None,
                streams=1,
                depth=1,
                seconds=a.idle_seconds,
                warmup=1.0,
                tag="idle",
            )
            self.fig["idle_p50_ack_ms"], self.fig["idle_p99_ack_ms"] = m["p50"], m["p99"]
        self.rss.stop()
        peaks = self.rss.peaks
        mib = 2**20
        self.fig["ingest_peak_rss_mib"] = max(peaks.get("batched", 0), peaks.get("batched-drain", 0)) / mib
        self.say(
            f"\n[4/4] ingest RSS: {base_rss / mib:.0f} MiB before the flood; peak during batched warm-up "
            f"{peaks.get('batched-warmup', 0) / mib:.0f} MiB, measured run "
            f"{max(peaks.get('batched', 0), peaks.get('batched-drain', 0)) / mib:.0f} MiB, unary "
            f"{max(peaks.get('unary', 0), peaks.get('unary-drain', 0)) / mib:.0f} MiB "
            f"(the client keeps at most {a.streams * a.depth * a.batch:,} reads in flight)"
        )

    def outbox_backlog(self) -> str:
        import asyncpg

        async def go() -> str:
            conn = await asyncpg.connect(self.db_url)
            try:
                reads = await conn.fetchval("SELECT count(*) FROM ingest.reads")
                outbox = await conn.fetchval("SELECT count(*) FROM ingest.outbox")
                return f"ingest.reads {reads:,} rows, ingest.outbox {outbox:,} rows (undelivered: no matcher)"
            finally:
                await conn.close()

        try:
            return asyncio.run(go())
        except Exception as exc:
            return f"(could not count rows: {exc})"

    def run(self) -> None:
        a = self.args
        ncpu = os.cpu_count()
        self.say(
            f"anpr ingest benchmark: {ncpu} cores; {a.seconds:g} s measured per phase after a "
            f"{a.warmup:g} s warm-up; {a.clients} client process(es)"
        )
        self.say(
            "core sharing: PostgreSQL, the server under test (echo or ingest) and the client process(es) "
            "all run on these cores at once; see 'cores used' per phase"
        )
        self.start_postgres()
        self.start_ingest()
        self.start_echo()
        self.start_clients()
        self.wait_ingest_serving()
        self.say(f"ingest SERVING on {self.ingest_addr} (log {self.ingest_log}); echo server on {self.echo_addr}")
        self.register_cameras()
        cpu = self.cpu_meter()
        self.phase_copy(cpu)
        self.phase_echo(cpu)
        self.phase_ingest(cpu)
        self.say("  " + self.outbox_backlog())
        if self.max_other >= 0.25:
            self.notes.append(
                f"other processes used up to {self.max_other:.2f} cores during a measured window "
                "(figures depressed; rerun on a quiet machine)"
            )


def summarise(fig: dict[str, float]) -> list[str]:
    def ratio(a: str, b: str) -> float:
        return fig[a] / fig[b] if fig.get(b) else float("nan")

    fig["batched_over_copy"] = ratio("batched_per_s", "copy_rows_per_s")
    fig["unary_over_echo"] = ratio("unary_per_s", "echo_unary_per_s")
    fig["stream_over_echo"] = ratio("batched_per_s", "echo_stream_per_s")
    order = [
        "copy_rows_per_s",
        "echo_stream_per_s",
        "echo_unary_per_s",
        "batched_per_s",
        "unary_per_s",
        "batched_over_copy",
        "unary_over_echo",
        "stream_over_echo",
        "p50_ack_ms",
        "p99_ack_ms",
        "unary_p50_ms",
        "unary_p99_ms",
        "idle_p50_ack_ms",
        "idle_p99_ack_ms",
        "ingest_peak_rss_mib",
    ]
    out = []
    for k in order:
        v = fig.get(k, float("nan"))
        if k.endswith("_per_s"):
            out.append(f"{k}={v:.0f}" if v == v else f"{k}=nan")
        elif k.endswith(("_over_copy", "_over_echo")):
            out.append(f"{k}={v:.3f}")
        else:
            out.append(f"{k}={v:.1f}")
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seconds", type=float, default=8.0, help="measured seconds per phase (default 8)")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per phase (default 2)")
    p.add_argument("--streams", type=int, default=100, help="concurrent camera streams (default 100)")
    p.add_argument("--batch", type=int, default=50, help="reads per batch (default 50)")
    p.add_argument("--depth", type=int, default=2, help="batches in flight per stream (default 2)")
    p.add_argument("--unary-concurrency", type=int, default=64, help="concurrent SubmitRead calls (default 64)")
    p.add_argument(
        "--idle-seconds",
        type=float,
        default=3.0,
        help="measured seconds of the unloaded-latency run (1 stream, 1 batch in flight); 0 skips it",
    )
    p.add_argument("--clients", type=int, default=1, help="client processes (default 1)")
    p.add_argument(
        "--connections",
        type=int,
        default=8,
        help="TCP connections per client process, streams spread over them (default 8)",
    )
    p.add_argument(
        "--ingest-workers",
        type=int,
        default=2,
        help="ingest worker processes on one port, ANPR_WORKERS (default 2, one per core)",
    )
    p.add_argument("--copy-chunk", type=int, default=1000, help="rows per COPY (default 1000)")
    p.add_argument("--copy-connections", type=int, default=2, help="concurrent COPY connections (default 2)")
    p.add_argument("--copy-max-rows", type=int, default=1_500_000, help="cap on pre-generated COPY rows")
    p.add_argument(
        "--max-pool-reads",
        type=int,
        default=400_000,
        help="cap on pre-generated reads per ingest run (the window ends early if they run out)",
    )
    p.add_argument("--profile", metavar="DIR", help="py-spy record the ingest process during each measured run")
    p.add_argument("--profile-format", default="flamegraph", choices=("flamegraph", "speedscope", "raw"))
    p.add_argument("--keep", action="store_true", help="keep the temp dir (PostgreSQL data, ingest log)")
    args = p.parse_args(argv)
    if args.streams < 1 or args.batch < 1 or args.depth < 1 or args.unary_concurrency < 1 or args.clients < 1:
        p.error("--streams, --batch, --depth, --unary-concurrency and --clients must be positive")
    args.clients = min(args.clients, args.streams, args.unary_concurrency)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)

    def on_signal(signum, frame):
        # stop at the first Ctrl-C or SIGTERM; ignore the next ones so that the cleanup completes
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    t0 = time.perf_counter()
    bench = Bench(args)
    code = 0
    try:
        bench.run()
    except BenchError as exc:
        print(f"\nERROR: {exc}", file=sys.stderr, flush=True)
        code = 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr, flush=True)
        code = 130
    except Exception:
        traceback.print_exc()
        if bench.ingest is not None:
            print(f"tail of the ingest log:\n{log_tail(bench.ingest_log)}", file=sys.stderr)
        code = 1
    finally:
        with contextlib.suppress(KeyboardInterrupt):
            bench.close()
    if code:
        return code
    line = summarise(bench.fig)
    print(f"\nnotes: {'; '.join(bench.notes) or 'none'}; total {time.perf_counter() - t0:.0f} s", flush=True)
    print(" ".join(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
