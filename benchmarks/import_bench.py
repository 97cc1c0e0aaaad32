"""The hotlist import end to end: `anpr hotlist import FILE` of a PNC-like extract into a running suite.

    .venv/bin/python benchmarks/import_bench.py                    # 1,000,000 entries
    .venv/bin/python benchmarks/import_bench.py --entries 100000

Makes a CSV extract of --entries rows with all twenty columns filled as a PNC extract would (about
190 bytes a row, 1% firearms-marked), starts PostgreSQL and the four services as in production
(cli/suite/launcher.py), and times the command a hotlist administrator runs, from its start until it
exits, into a list that exists (as every extract after the first): the file checked (every row, as
the command always does) and sent to matcher's ImportEntries as columns as it is read, written to the
list as it arrives, and the new entries taken into matcher's index (the call answers once the new
list matches). Prints the seconds, entries/s and the CPU each part used; the last line is
`entries_per_s=<n>`.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: the repository on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anpr.runtime.auth import Role
from anpr.v1 import matcher_pb2, matcher_pb2_grpc
from anpr.v1 import types_pb2 as T
from benchmarks import chain_suite as cs
from benchmarks.common import BenchError, CpuMeter, add_options, current_format_vrm
from cli.client import channel
from cli.hotlist_csv import COLUMNS
from cli.suite.launcher import ROOT

OPTIONS = {
    "--entries": (int, 1_000_000, "rows of the extract (default 1,000,000)"),
    "--seed": (int, 1, "random seed of the extract"),
}


def write_extract(path: Path, n: int, seed: int) -> None:
    """A PNC-like extract: every column filled, unique entry ids, current-format VRMs."""
    rng = random.Random(seed)
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        for i in range(n):
            firearms = i % 100 == 0
            vrm = current_format_vrm(rng)
            out.writerow(
                [
                    f"pnc:{i}",
                    vrm,
                    "Ford",
                    "Focus",
                    "Blue",
                    "DO_NOT_STOP_REPORT_SIGHTING" if firearms else "STOP_VEHICLE",
                    "FIREARMS;VIOLENT" if firearms else "",
                    "Wanted in connection with a burglary",
                    "B",
                    "2",
                    "1",
                    "Occupants may try to flee",
                    "Thames Valley Police",
                    "North",
                    "2027-06-30",
                    f"{i % 100:02d}/{i:06d}K",
                    "OFFICIAL_SENSITIVE",
                    "",
                    "",
                    f"IR-{i}",
                ]
            )


async def run(args, tmp: Path) -> None:
    extract = tmp / "extract.csv"
    t0 = time.perf_counter()
    write_extract(extract, args.entries, args.seed)
    print(
        f"extract: {args.entries:,} rows, {extract.stat().st_size / 1e6:.0f} MB, made in {time.perf_counter() - t0:.1f} s"
    )
    db = cs.Database(tmp, os.environ.get("ANPR_DATABASE_URL"))
    await db.start()
    launcher = cs.launch(db.logins, tmp, workers=1, replicas=1)  # each service logs in as itself
    try:
        await launcher.start_all()
        async with channel(launcher.addr("matcher"), launcher.tokens[Role.HOTLIST_ADMIN]) as ch:
            # the list exists, as for every extract after the first: the command sends as it reads
            await matcher_pb2_grpc.MatcherServiceStub(ch).UpsertHotlist(
                matcher_pb2.UpsertHotlistRequest(
                    hotlist=T.Hotlist(name="PNC extract", source=T.HOTLIST_SOURCE_PNC_NATIONAL)
                )
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANPR_")}
        env |= {"ANPR_TOKEN": launcher.tokens[Role.HOTLIST_ADMIN], "ANPR_DATA_DIR": str(tmp / "no-suite")}
        command = [sys.executable, "-m", "cli", "hotlist", "import", str(extract)]
        command += ["--list", "PNC extract", "--source", "pnc", "--quiet", "--addr", launcher.addr("matcher")]
        meter = CpuMeter({"matcher": lambda: cs.service_procs(launcher, "matcher"), "postgres": db.procs})
        seconds = await _timed(command, env, meter, f"import: {args.entries:,} entries")
        if args.again:  # the daily case: the same extract again, every entry unchanged
            again = await _timed(command, env, meter, "again, unchanged")
            print(f"again_entries_per_s={args.entries / again:.0f}")
        print(f"entries_per_s={args.entries / seconds:.0f}")
    finally:
        await launcher.stop_all(20)
        await db.close()


async def _timed(command: list[str], env: dict, meter: CpuMeter, what: str) -> float:
    """Run the import command once: its seconds, with what it printed and the cores each part used."""
    before, children = meter.snapshot(), resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(*command, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise BenchError(f"anpr hotlist import exited {proc.returncode}: {out.decode()[-2000:]}")
    cores = CpuMeter.cores(before, meter.snapshot(), seconds)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cores["the command"] = (after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime) / seconds
    print(out.decode().strip())
    print(f"{what} in {seconds:.1f} s end to end")
    print("cores used: " + ", ".join(f"{k} {v:.2f}" for k, v in cores.items()))
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(parser, OPTIONS)
    parser.add_argument("--again", action="store_true", help="import the same extract a second time (the daily case)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="anpr-import-bench-") as d:
        try:
            asyncio.run(run(args, Path(d)))
        except BenchError as exc:
            print(f"import_bench: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
