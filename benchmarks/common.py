"""What the benchmark scripts share: their options, error, percentiles and CPU meter; their child
processes' set-up, pipe and tally; polling for a state; and their cameras."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import grpc
import psutil

from anpr.v1 import ingest_pb2, ingest_pb2_grpc
from anpr.v1 import types_pb2 as T
from cli.client import channel

MAX_MESSAGE_BYTES = 8 * 1024 * 1024  # the services' largest message (docs/cameras.md: "Limits")
MESSAGE_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]
CHANNEL_OPTIONS = [*MESSAGE_OPTIONS, ("grpc.use_local_subchannel_pool", 1)]  # a connection per channel

# Age identifiers of current UK marks (AB12 CDE): September 2001 (51) to September 2025 (75).
AGES = [f"{y:02d}" for y in (*range(2, 26), *range(51, 76))]


LETTERS = "ABCDEFGHJKLMNOPRSTUVWXYZ"


def current_format_vrm(rng, separator: str = " ") -> str:
    """A random GB current-format registration (two letters, an age identifier, three letters)."""
    return f"{rng.choice(LETTERS)}{rng.choice(LETTERS)}{rng.randint(10, 75)}{separator}" + "".join(
        rng.choice(LETTERS) for _ in range(3)
    )


def camera_ids(n: int) -> list[str]:
    return [f"BENCH-CAM-{i:03d}" for i in range(n)]


def camera_site(i: int) -> tuple[float, float]:
    """Latitude and longitude of benchmark camera i (spread over southern England)."""
    return 50.8 + (i * 0.0137) % 1.6, -2.6 + (i * 0.0291) % 2.6


class BenchError(Exception):
    """A benchmark cannot go on (a process died, a set-up step failed): the message says why."""


def add_options(parser: argparse.ArgumentParser, options: Mapping[str, tuple[type, object, str]]) -> None:
    """Options that take a value: name -> (type, default, help)."""
    for name, (kind, default, text) in options.items():
        parser.add_argument(name, type=kind, default=default, help=text)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def pct(values: list[float], q: float) -> float:
    """The q-quantile of values in any order (NaN for none)."""
    return percentile(sorted(values), q)


def figures_of(output: str) -> dict[str, float]:
    """A benchmark's figures: the name=value pairs of the last line of `output` made of them (every
    benchmark ends so), as numbers ("nan" too); a value that is not a number is left out. Empty if
    no line is."""
    for line in reversed(output.strip().splitlines()):
        words = line.split()
        if words and all("=" in w for w in words):
            figures = {}
            for name, value in (w.split("=", 1) for w in words):
                with contextlib.suppress(ValueError):
                    figures[name] = float(value)
            return figures
    return {}


def die_with_parent() -> None:
    """Linux: get SIGTERM if the benchmark process dies, so nothing outlives it."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def child_setup(log_path: str) -> None:
    """In a benchmark's child process: ignore Ctrl-C (the benchmark's to handle), die with the
    parent, and send stdout/stderr (gRPC core logs, tracebacks) to the child's log."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


async def serve_pipe(conn, answer: Callable[[str, object], Awaitable[object]]) -> None:
    """A child process's end of its pipe: ("ok", None) once ready, then every (op, arg) received is
    answered ("ok", await answer(op, arg)), or ("error", its traceback), until ("exit", ...)."""
    loop = asyncio.get_running_loop()
    conn.send(("ok", None))
    while True:
        op, arg = await loop.run_in_executor(None, conn.recv)
        if op == "exit":
            return
        try:
            conn.send(("ok", await answer(op, arg)))
        except Exception:
            conn.send(("error", traceback.format_exc(limit=8)))


class Tally:
    """What one load generator saw in one run: answers by status, errors by code (and the first
    one's text), and the latency of each acknowledgement inside the measured window [w0, w1)."""

    def __init__(self, w0: float, w1: float):
        self.w0, self.w1 = w0, w1
        self.statuses: Counter = Counter()
        self.errors: Counter = Counter()
        self.ack_ms: list[float] = []
        self.first_error = ""

    def error(self, code: str, detail: str = "") -> None:
        self.errors[code] += 1
        if not self.first_error:
            self.first_error = f"{code}: {detail}"[:300]


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    " + ln for ln in text[-lines:]) or "    (empty log)"


class CpuMeter:
    """CPU seconds used by each group of processes between two snapshots."""

    def __init__(self, groups: dict[str, object]):
        self.groups = groups  # name -> callable returning the processes of the group

    def snapshot(self) -> dict[str, dict[int, float]]:
        t = psutil.cpu_times()
        busy = sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)
        snap = {"_machine": {0: busy}}
        for name, procs in self.groups.items():
            per_pid = {}
            for p in procs():
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    per_pid[p.pid] = t.user + t.system
            snap[name] = per_pid
        return snap

    @staticmethod
    def cores(a: dict, b: dict, wall: float) -> dict[str, float]:
        out = {}
        for name in b:
            used = sum(v - a.get(name, {}).get(pid, 0.0) for pid, v in b[name].items())
            out[name] = used / wall if wall > 0 else float("nan")
        machine = out.pop("_machine")
        out["other processes"] = max(0.0, machine - sum(out.values()))
        return out


def family(pid: int | None) -> list[psutil.Process]:
    """A process and all its descendants (a service's ANPR_WORKERS, PostgreSQL's backends)."""
    try:
        p = psutil.Process(pid)
        return [p, *p.children(recursive=True)]
    except (psutil.Error, TypeError, ValueError):
        return []


async def until(check: Callable[[], Awaitable[bool]], within_s: float, every_s: float = 0.2) -> bool:
    """Poll `check` (state with no event to wait on: a table's count, another process's tally)
    until it is true (True) or `within_s` seconds have passed (False)."""
    deadline = time.monotonic() + within_s
    while not await check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(every_s)
    return True


async def register_cameras(
    addr: str, token: str, sites: Mapping[str, tuple[float, float, float]], force: str, name: str
) -> None:
    """UpsertCamera for each camera id at its (latitude, longitude, heading), enabled, of `force`,
    named "<name> <i>"; `token` is a camera administrator's."""
    async with channel(addr, token) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        for i, (camera_id, (lat, lon, heading)) in enumerate(sites.items()):
            camera = T.Camera(
                camera_id=camera_id,
                name=f"{name} {i}",
                location=T.GeoPoint(latitude=lat, longitude=lon),
                direction=T.DIRECTION_TOWARDS,
                heading_degrees=heading,
                force=force,
                enabled=True,
            )
            await upsert_camera(stub, camera)


async def upsert_camera(stub, camera: T.Camera, within_s: float = 60.0) -> None:
    """UpsertCamera, asked again while the process answering is still starting (UNAVAILABLE): with
    ANPR_WORKERS, the worker whose health said SERVING need not be the one this connection reached."""

    async def stored() -> bool:
        try:
            await stub.UpsertCamera(ingest_pb2.UpsertCameraRequest(camera=camera), timeout=10)
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            return False
        return True

    if not await until(stored, within_s):
        raise BenchError(f"UpsertCamera was UNAVAILABLE for {within_s:.0f} s")
