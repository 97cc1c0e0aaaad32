"""The ingest benchmark's servers and samplers: the embedded PostgreSQL, `anpr serve ingest` (through
the suite's launcher, cli/suite/launcher.py), the echo server processes, the client processes
(benchmarks/ingest_clients.py), ingest's RSS sampler and py-spy. `close()` stops them all."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import asyncpg
import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from anpr.runtime import pg
from anpr.runtime.auth import Role
from benchmarks import common
from benchmarks.common import BenchError, CpuMeter, camera_site, family, log_tail
from benchmarks.ingest_clients import Clients
from benchmarks.ingest_load import echo_server_main
from benchmarks.ingest_reads import CAMERAS, camera_heading
from benchmarks.ingest_report import say
from cli.suite.database import provision
from cli.suite.launcher import Launcher, Tokens, free_port


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


class Rig:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="anpr-ingest-bench-"))
        self.ctx = multiprocessing.get_context("spawn")
        self.pg = None
        self.db_url = ""
        self.ingest: subprocess.Popen | None = None
        self.launcher: Launcher | None = None
        self.ingest_log = self.tmp / "ingest.log"
        self.ingest_addr = ""
        self.echo: list = []  # (process, pipe) per echo worker
        self.echo_addr = ""
        self.rss: RssSampler | None = None
        self.profilers: list[subprocess.Popen] = []
        self.tokens: dict[str, str] = {}
        self.run_id = f"{os.getpid():x}{int(time.time()) % 100000:x}"
        self.clients = Clients(args, self.ctx, self.tmp, self.run_id, self.check_ingest_alive)

    # -- PostgreSQL and ingest -----------------------------------------------------------------------

    def start_postgres(self) -> None:
        t = time.perf_counter()
        self.pg = pg.start_embedded(self.tmp, cleanup="stop")
        self.db_url = self.pg.get_uri()  # the administrator's; ingest gets its own login (provision)
        self.logins = asyncio.run(provision(self.db_url, self.tmp / "secrets", ("ingest",)))
        say(f"embedded PostgreSQL ready in {time.perf_counter() - t:.1f} s ({self.tmp / 'pgdata'})")

    def postgres_procs(self) -> list[psutil.Process]:
        try:
            return family(self.pg.get_pid())
        except AttributeError:
            return []

    def start_ingest(self) -> None:
        """`anpr serve ingest` through the suite's launcher (cli/suite/launcher.py)."""
        tokens = Tokens.create(self.tmp / "issuer.json", prefix="bench")
        self.tokens = {
            "camera": tokens[Role.CAMERA],
            "camera_admin": tokens[Role.CAMERA_ADMIN],
            "service": tokens[Role.SERVICE],
        }
        self.launcher = Launcher(
            self.logins,
            tokens,
            self.tmp,
            ports={"ingest": free_port()},
            env={
                "ANPR_MATCHER_ADDR": f"127.0.0.1:{free_port()}",  # nothing listens: matching is not measured
                "ANPR_CAMERA_RATE_PER_S": "1000000",
                # every camera stream here holds the one camera token: in the field each camera (or
                # gateway) is an identity of its own, so lift the per-identity cap on open streams
                "ANPR_MAX_STREAMS_PER_IDENTITY": "0",
                "ANPR_SHUTDOWN_GRACE_S": "3",
                "ANPR_WORKERS": str(self.args.ingest_workers),
                "ANPR_DATA_DIR": str(self.tmp),
                "OTEL_TRACES_EXPORTER": "none",
            },
        )
        self.ingest_addr = self.launcher.addr("ingest")
        self.ingest = self.launcher.start("ingest")

    def wait_ingest_serving(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.ingest_addr) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            while not self._serving(stub):
                self.check_ingest_alive("before SERVING")
                if time.monotonic() > deadline:
                    raise BenchError(
                        f"the ingest service was not SERVING after {timeout:.0f} s; tail of its "
                        f"log:\n{log_tail(self.ingest_log)}"
                    )
                time.sleep(0.2)

    @staticmethod
    def _serving(stub) -> bool:
        try:
            resp = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.RpcError:
            return False
        return resp.status == health_pb2.HealthCheckResponse.SERVING

    def check_ingest_alive(self, when: str) -> None:
        if self.ingest is not None and self.ingest.poll() is not None:
            raise BenchError(
                f"the ingest service exited (code {self.ingest.returncode}) {when}; tail of its "
                f"log ({self.ingest_log}):\n{log_tail(self.ingest_log)}"
            )

    def register_cameras(self) -> None:
        sites = {cam: (*camera_site(i), camera_heading(i)) for i, cam in enumerate(CAMERAS)}
        register = common.register_cameras(
            self.ingest_addr, self.tokens["camera_admin"], sites, force="Bench Police", name="Bench camera"
        )
        try:
            asyncio.run(register)
        except grpc.aio.AioRpcError as exc:
            raise BenchError(f"UpsertCamera failed: {exc.code().name}: {exc.details()}") from None
        say(f"registered {len(CAMERAS)} cameras with UpsertCamera")

    def outbox_backlog(self) -> str:
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

    # -- the echo servers ----------------------------------------------------------------------------

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
            port = self._echo_port(proc, parent)
        self.echo_addr = f"127.0.0.1:{port}"

    def _echo_port(self, proc, conn, within_s: float = 30.0) -> int:
        deadline = time.monotonic() + within_s
        while not conn.poll(0.2):
            if not proc.is_alive():
                raise BenchError(
                    f"the echo server exited with code {proc.exitcode}; tail of its log:\n"
                    f"{log_tail(self.tmp / 'echo.log')}"
                )
            if time.monotonic() > deadline:
                raise BenchError(f"the echo server did not start within {within_s:.0f} s")
        return conn.recv()

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

    # -- measuring -------------------------------------------------------------------------------------

    def cpu_meter(self) -> CpuMeter:
        me = psutil.Process()
        groups = {
            "ingest": lambda: family(self.ingest.pid) if self.ingest and self.ingest.poll() is None else [],
            "postgres": self.postgres_procs,
            "echo-server": lambda: [psutil.Process(p.pid) for p, _ in self.echo if p.is_alive()],
            "client": lambda: [psutil.Process(p.pid) for p in self.clients.alive()],
            "orchestrator": lambda: [me],
        }
        return CpuMeter(groups)

    def profile(self, name: str, seconds: float) -> None:
        """With --profile: py-spy records ingest (and its workers) for the measured window."""
        a = self.args
        if not a.profile:
            return
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(exe).exists():
            say("  (--profile: py-spy not found; pip install py-spy)")
            return
        out_dir = Path(a.profile)
        out_dir.mkdir(parents=True, exist_ok=True)
        ext = {"flamegraph": "svg", "speedscope": "json", "raw": "txt"}[a.profile_format]
        out = out_dir / f"ingest-{name}.{ext}"
        command = [exe, "record", "--pid", str(self.ingest.pid), "--duration", str(max(1, round(seconds)))]
        command += ["--rate", "100", "--nonblocking", "--subprocesses", "--format", a.profile_format]
        command += ["--output", str(out)]
        self.profilers.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        say(f"  py-spy recording the measured window to {out}")

    def reap_profilers(self) -> None:
        for prof in self.profilers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                prof.wait(15)
        self.profilers = [p for p in self.profilers if p.poll() is None]

    # -- the end ---------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop everything this run started; every step runs even if an earlier one fails."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for step in (
            self._close_profilers,
            self.clients.close,
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

    def _close_ingest(self) -> None:
        self.ingest = None
        if self.launcher is not None:
            self.launcher.terminate(grace=15)

    def _close_postgres(self) -> None:
        server, self.pg = self.pg, None
        if server is not None:
            server.cleanup()
