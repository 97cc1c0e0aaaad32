"""The long fuzz run: every RPC of the four services (as OS processes on an embedded PostgreSQL) and
the hotlist CSV import, at least 10,000 cases, then a listed read must still alert.

    .venv/bin/python benchmarks/fuzz.py                 # about 460 requests per RPC + 600 CSV files
    .venv/bin/python benchmarks/fuzz.py --per-rpc 50 --csv 100

Reports crashes (a service process exited), hangs, UNKNOWN/INTERNAL/UNAVAILABLE answers, answers
other than INVALID_ARGUMENT to requests that break a limit, bad reads of a batch not rejected,
leaky status messages, plates in the services' logs, and CSV files the import chokes on. The strategies
and the judge are benchmarks/fuzzing.py (the tests run a bounded sample of the same). The last line is
name=value pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from anpr.runtime import pg
from anpr.runtime.auth import Role
from benchmarks.fuzzing import VRMS, Findings, alerting_works, every_rpc, fuzz_csv, fuzz_rpcs, register_cameras
from cli.suite.database import provision
from cli.suite.launcher import ROOT, Launcher, Tokens
from services import NAMES

# The services as the fuzz run wants them: a short shutdown grace, no telemetry export.
ENV = {"ANPR_SHUTDOWN_GRACE_S": "2", "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}


def cli_runner(suite: Launcher, every: int):
    """`anpr hotlist import` against the running matcher for one CSV case in `every`."""
    count = {"n": 0}

    def run(path: Path) -> tuple[int, str] | None:
        count["n"] += 1
        if count["n"] % every:
            return None
        env = dict(os.environ, ANPR_TOKEN=suite.tokens[Role.HOTLIST_ADMIN])
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "cli",
                "hotlist",
                "import",
                str(path),
                "--list",
                f"fuzz-{count['n']}",
                "--source",
                "local",
                "--quiet",
                "--addr",
                suite.addr("matcher"),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return proc.returncode, proc.stdout + proc.stderr

    return run


def plates_in_logs(suite: Launcher) -> int:
    logs = "".join(suite.log(name) for name in NAMES)
    return sum(logs.count(v) for v in VRMS if len(v) >= 5)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-rpc", type=int, default=460, help="requests per RPC (24 RPCs)")
    parser.add_argument("--csv", type=int, default=600, help="CSV extracts")
    parser.add_argument("--cli-every", type=int, default=30, help="run the import command for 1 CSV in N")
    return parser.parse_args(argv)


async def main(argv=None) -> int:
    """The four services as `anpr serve` processes (cli/suite/launcher.py) on an embedded PostgreSQL."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="anpr-fuzz-") as d:
        server = pg.start_embedded(Path(d) / "pg", cleanup="delete")
        logins = await provision(server.get_uri(), Path(d) / "secrets")
        suite = Launcher(logins, Tokens.create(Path(d) / "issuer.json"), Path(d), env=ENV)
        try:
            await suite.start_all()
            await register_cameras(suite)
            return await run(suite, args)
        finally:
            await suite.stop_all()
            server.cleanup()


async def run(suite: Launcher, args) -> int:
    findings = Findings()
    started = time.monotonic()
    rpcs = every_rpc()
    for i, rpc in enumerate(rpcs, 1):
        before = findings.calls
        await asyncio.to_thread(fuzz_rpcs, suite, asyncio.get_running_loop(), args.per_rpc, findings, [rpc])
        print(f"[{i}/{len(rpcs)}] {rpc.method.name}: {findings.calls - before} requests", flush=True)
    rpc_calls = findings.calls
    await asyncio.to_thread(fuzz_csv, args.csv, findings, cli_runner(suite, args.cli_every))
    crashed = [n for n, p in suite.procs.items() if p.poll() is not None]
    alerting = not crashed and await alerting_works(suite)
    elapsed = time.monotonic() - started
    for problem in findings.problems:
        print("FINDING", problem)
    print("answers:", dict(findings.codes.most_common()))
    hangs = sum("hang" in p for p in findings.problems)
    internal = findings.codes["INTERNAL"] + findings.codes["UNKNOWN"]
    not_invalid = sum("bad input answered" in p or "was answered" in p for p in findings.problems)
    print(
        f"cases={findings.calls} rpc_requests={rpc_calls} csv_files={findings.calls - rpc_calls} "
        f"crashes={len(crashed)} hangs={hangs} unknown_or_internal={internal} "
        f"unavailable={findings.codes['UNAVAILABLE']} bad_input_not_invalid_argument={not_invalid} "
        f"findings={len(findings.problems)} client_write_after_end={findings.codes['CLIENT_WRITE_AFTER_END']} "
        f"plates_in_logs={plates_in_logs(suite)} alerting_after={'yes' if alerting else 'no'} "
        f"seconds={elapsed:.0f}"
    )
    return 0 if not findings.problems and alerting and not crashed else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
