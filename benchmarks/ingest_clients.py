"""The ingest benchmark's side of its client processes (benchmarks/ingest_load.py): start them, share
a run's streams or unary calls among them, start a run on all at one wall-clock time, and collect
their tallies, failing early when a client or the server under test dies."""

from __future__ import annotations

import contextlib
import math
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import BenchError, CpuMeter, log_tail
from benchmarks.ingest_load import client_main
from benchmarks.ingest_reads import CAMERAS


class Clients:
    """`args.clients` client processes; `check_server(when)` raises when the server under test died."""

    def __init__(self, args, ctx, tmp: Path, run_id: str, check_server: Callable[[str], None]):
        self.args, self.ctx, self.tmp, self.run_id = args, ctx, tmp, run_id
        self.check_server = check_server
        self.procs: list[tuple[object, object]] = []  # (process, pipe)

    def start(self) -> None:
        for i in range(self.args.clients):
            parent, child = self.ctx.Pipe()
            p = self.ctx.Process(
                target=client_main, args=(child, i, str(self.log(i))), name=f"bench-client-{i}", daemon=True
            )
            p.start()
            self.procs.append((p, parent))

    def ready(self, within_s: float = 60.0) -> None:
        """Until every client has said it is ready (it has started and set itself up)."""
        deadline = time.monotonic() + within_s
        for i in range(len(self.procs)):
            self._reply(i, deadline, f"was not ready within {within_s:.0f} s")

    def log(self, i: int) -> Path:
        return self.tmp / f"client-{i}.log"

    def died(self, i: int, proc) -> BenchError:
        return BenchError(
            f"client process {i} died (exit code {proc.exitcode}); tail of its log:\n{log_tail(self.log(i))}"
        )

    def alive(self) -> list:
        return [p for p, _ in self.procs if p.is_alive()]

    def close(self) -> None:
        procs, self.procs = self.procs, []
        for _, conn in procs:
            with contextlib.suppress(Exception):
                conn.send(("exit", None))
        for p, _ in procs:
            p.join(3)  # a client in the middle of a run does not read "exit": it is killed
            if p.is_alive():
                p.kill()
                p.join()

    # -- one message to every client -----------------------------------------------------------------

    def ask(self, messages: list[tuple[str, object]], timeout: float) -> list[dict]:
        """Send each client its message and collect every reply within `timeout` seconds."""
        for (_, conn), msg in zip(self.procs, messages, strict=True):
            conn.send(msg)
        deadline = time.monotonic() + timeout
        return [self._reply(i, deadline, f"did not answer within {timeout:.0f} s") for i in range(len(self.procs))]

    def _reply(self, i: int, deadline: float, late: str) -> dict:
        proc, conn = self.procs[i]
        while not conn.poll(0.5):
            if not proc.is_alive():
                raise self.died(i, proc)
            self.check_server("while the client was running")
            if time.monotonic() > deadline:
                raise BenchError(f"client process {i} {late}")
        try:
            status, reply = conn.recv()
        except EOFError:
            raise self.died(i, proc) from None
        if status != "ok":
            raise BenchError(f"client process {i} failed:\n{reply}")
        return reply

    def _split(self, n: int) -> list[list[int]]:
        k = len(self.procs)
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
        """Every client generates its share of a run's reads ("stream": batches for its streams;
        "unary": requests); the longest generation, in seconds."""
        a = self.args
        shares = self._split((streams or a.streams) if kind == "stream" else a.unary_concurrency)
        spec = {
            "kind": kind,
            "target": target,
            "token": token,
            "cyclic": cyclic,
            "cameras": CAMERAS,
            "n_reads": max(1, math.ceil(n_reads / max(1, sum(map(bool, shares))))),
            "batch": a.batch,
            "depth": depth or a.depth,
            "connections": a.connections,
        }
        msgs = [
            (
                "prepare",
                spec
                | {
                    "streams": share,
                    "concurrency": len(share),
                    "seed": zlib.crc32(f"{tag}-{i}".encode()),
                    "prefix": f"bench-{self.run_id}-{tag}-c{i}",
                },
            )
            for i, share in enumerate(shares)
        ]
        return max(r["gen_s"] for r in self.ask(msgs, timeout=120))

    def run_window(self, warm: float, seconds: float, cpu: CpuMeter, on_window=None) -> tuple[list[dict], dict]:
        """Run the prepared load (`warm` seconds, then the measured `seconds`); the clients' results
        and the cores each group used in the measured window."""
        t0_wall = time.time() + 0.3
        go = {"t0_wall": t0_wall, "warm": warm, "seconds": seconds, "drain_s": 15.0}
        for _, conn in self.procs:
            conn.send(("run", go))
        time.sleep(max(0.0, t0_wall + warm - time.time()))
        if on_window:
            on_window()
        snap0, c0 = cpu.snapshot(), time.monotonic()
        time.sleep(max(0.0, t0_wall + warm + seconds - time.time()))
        snap1, c1 = cpu.snapshot(), time.monotonic()
        # the requests were already sent: collect the replies, each within a minute
        replies = [self._reply(i, time.monotonic() + 60, "did not finish its run") for i in range(len(self.procs))]
        return replies, CpuMeter.cores(snap0, snap1, c1 - c0)
