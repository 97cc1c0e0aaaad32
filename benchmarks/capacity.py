#!/usr/bin/env python3
"""The national capacity model (docs/capacity.md), worked out from a chain benchmark's figures.

    .venv/bin/python benchmarks/chain_bench.py --ladder 200,2000,5000 --phases ladder,cost,idle > run.txt
    .venv/bin/python benchmarks/capacity.py run.txt                     # the national figures
    .venv/bin/python benchmarks/capacity.py run.txt --peak 3000 --shape 10 --entries 5e6

Run the benchmark on the hardware the service will run on, then this: it reads the figures of the
run's last line (its `name=value` pairs) and prints, for the peak rate, what each service needs
(CPU per read, cores at peak and at the planned utilisation, replicas, memory), what the PostgreSQL
primary needs (cores, WAL per second and per day, storage over the retention period) and the
database connections the replicas open against `max_connections`.

Which figure stands for which service's cost per read:

  ingest     the cost phase's figure for the cameras' call shape (--shape: 1 read a `SubmitRead`,
             10 or 100 a `StreamReads` batch): its cost is the camera's call.
  matcher, notify, firearms
             the figure at the ladder's highest step (batches of 100 at the highest rate measured):
             they are called by the relays, whose batches grow with the load whatever the cameras'
             call shape, so at a national peak their cost per read is at most that step's.
  PostgreSQL both: the cost phase's figure for the call shape (its commits follow ingest's flushes)
             and the highest step's, as a range.

The figures are CPU-seconds per 1,000 reads of each process group (`cpu_s_per_1000_reads_*`), WAL
kB per 1,000 reads and bytes on disk per stored read (`bytes_per_read`, from the idle phase). A
figure missing from the run stops this with the phase to add. Nothing here is measured: it is the
arithmetic of docs/capacity.md, done the same way every time.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass, fields
from pathlib import Path

from benchmarks.common import figures_of

SERVICES = ("ingest", "matcher", "notify", "firearms")
SHAPES = (1, 10, 100)
SHAPE_NAMES = {1: "single reads (SubmitRead)", 10: "10-read batches", 100: "100-read batches"}
# The matcher's index: 36 bytes an entry, 95 more for the dropped-character keys, 4 for the
# presence filter (docs/matching.md); a full reload builds the new index beside the old.
INDEX_BYTES_PER_ENTRY = 36 + 95 + 4
RELOAD_FACTOR = 2
PROCESS_GIB = 0.5  # a service process besides its data (measured RSS 0.25-0.35 GiB, rounded up)
MIN_REPLICAS = {"ingest": 2, "matcher": 3, "notify": 3, "firearms": 2}  # docs/capacity.md
_LADDER = re.compile(r"^cpu_s_per_1000_reads_at_(\d+)_total$")


class MissingFigures(Exception):
    """The run lacks figures this needs (the message names the phase to add)."""


def read_figures(text: str) -> dict[str, float]:
    """The figures of a chain benchmark's output (its last line)."""
    figures = figures_of(text)
    if not figures:
        raise MissingFigures("no line of name=value figures: is this the output of benchmarks/chain_bench.py?")
    return figures


@dataclass(frozen=True)
class Plan:
    peak: float  # reads/s
    average: float  # reads/s
    entries: float
    shape: int
    utilisation: float
    cores_per_replica: float
    pool: int
    retention_days: int
    max_connections: int


@dataclass(frozen=True)
class Need:
    name: str
    ms_per_read: float  # CPU
    cores_peak: float
    cores_planned: float
    replicas: int
    cores_average: float
    memory_gib: float


def _figure(figures: dict[str, float], name: str, phase: str) -> float:
    value = figures.get(name)
    if value is None or math.isnan(value):
        raise MissingFigures(f"the run has no {name}: run chain_bench.py with the {phase} phase (--phases ...,{phase})")
    return value


def highest_step(figures: dict[str, float]) -> int:
    steps = [int(m.group(1)) for name in figures if (m := _LADDER.match(name)) and not math.isnan(figures[name])]
    if not steps:
        raise MissingFigures(
            "the run has no ladder figures: run chain_bench.py with the ladder phase (--phases ladder,...)"
        )
    return max(steps)


def per_read_ms(figures: dict[str, float], plan: Plan) -> tuple[dict[str, float], tuple[float, float], int]:
    """CPU ms per read of each service, PostgreSQL's (low, high) and the ladder step used."""
    step = highest_step(figures)
    at_step = {g: _figure(figures, f"cpu_s_per_1000_reads_at_{step}_{g}", "ladder") for g in (*SERVICES, "postgres")}
    ms = {"ingest": _figure(figures, f"cpu_s_per_1000_reads_{plan.shape}_ingest", "cost")}
    ms.update({g: at_step[g] for g in SERVICES[1:]})
    pg_shape = _figure(figures, f"cpu_s_per_1000_reads_{plan.shape}_postgres", "cost")
    return ms, (min(pg_shape, at_step["postgres"]), max(pg_shape, at_step["postgres"])), step


def needs(figures: dict[str, float], plan: Plan) -> tuple[list[Need], dict[str, float], int]:
    ms, (pg_low, pg_high), step = per_read_ms(figures, plan)
    out = []
    for name in SERVICES:
        peak = plan.peak * ms[name] / 1000
        planned = peak / plan.utilisation
        replicas = max(MIN_REPLICAS[name], math.ceil(planned / plan.cores_per_replica - 1e-9))
        memory = PROCESS_GIB
        if name == "matcher":
            memory += plan.entries * INDEX_BYTES_PER_ENTRY * RELOAD_FACTOR / 2**30
        out.append(Need(name, ms[name], peak, planned, replicas, plan.average * ms[name] / 1000, memory))
    wal_kb = _figure(figures, f"wal_kb_per_1000_reads_{plan.shape}", "cost")
    bytes_per_read = _figure(figures, "bytes_per_read", "idle")
    day = plan.average * 86400
    pg = {
        "ms_low": pg_low,
        "ms_high": pg_high,
        "cores_low": plan.peak * pg_low / 1000,
        "cores_high": plan.peak * pg_high / 1000,
        "wal_mb_s_peak": plan.peak * wal_kb / 1000 / 1024,
        "wal_gb_day": day * wal_kb / 1000 / 1024**2,
        "storage_gb_day": day * bytes_per_read / 1e9,
        "storage_tb_retention": day * bytes_per_read * plan.retention_days / 1e12,
        "connections": sum(n.replicas for n in out) * (plan.pool + 2),
    }
    return out, pg, step


def report(figures: dict[str, float], plan: Plan) -> str:
    services, pg, step = needs(figures, plan)
    lines = [
        f"Capacity for a peak of {plan.peak:,.0f} reads/s (average {plan.average:,.0f}), {plan.entries:,.0f} entries,"
        f" cameras sending {SHAPE_NAMES[plan.shape]}; planned at {plan.utilisation:.0%} of {plan.cores_per_replica:g}"
        f" core(s) a replica. ingest's cost from the cost phase, the others' from the ladder's {step:,} reads/s step.",
        "",
        f"  {'service':<10}{'CPU ms/read':>12}{'cores at peak':>15}{'planned':>9}{'replicas':>10}"
        f"{'cores at average':>18}{'memory/replica':>16}",
    ]
    for n in services:
        lines.append(
            f"  {n.name:<10}{n.ms_per_read:>12.3f}{n.cores_peak:>15.1f}{n.cores_planned:>9.1f}{n.replicas:>10}"
            f"{n.cores_average:>18.2f}{n.memory_gib:>13.1f} GiB"
        )
    lines += [
        "",
        f"  PostgreSQL primary: {pg['ms_low']:.3f}-{pg['ms_high']:.3f} ms of CPU a read, {pg['cores_low']:.1f}-"
        f"{pg['cores_high']:.1f} cores at peak; WAL {pg['wal_mb_s_peak']:.1f} MB/s at peak, {pg['wal_gb_day']:.0f} GB a"
        f" day at the average; reads on disk {pg['storage_gb_day']:.1f} GB a day, {pg['storage_tb_retention']:.1f} TB over"
        f" {plan.retention_days} days (table and indexes, before images and copies)",
        f"  connections: {pg['connections']} (replicas x (pool {plan.pool} + LISTEN + migration)) against"
        f" max_connections {plan.max_connections}"
        + (
            ""
            if pg["connections"] <= plan.max_connections
            else ": raise it, lower ANPR_DB_POOL_SIZE or pool with PgBouncer"
        ),
    ]
    summary = {f"{n.name}_replicas": n.replicas for n in services}
    summary.update({f"{n.name}_cores_peak": round(n.cores_peak, 2) for n in services})
    summary.update(
        pg_cores_peak_high=round(pg["cores_high"], 2),
        wal_mb_s_peak=round(pg["wal_mb_s_peak"], 2),
        storage_tb_retention=round(pg["storage_tb_retention"], 2),
        connections=pg["connections"],
    )
    lines += ["", " ".join(f"{k}={v}" for k, v in summary.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("run", help="a chain_bench.py output (or - for standard input)")
    ap.add_argument("--peak", type=float, default=12000, help="reads a second at peak (default 12,000)")
    ap.add_argument("--average", type=float, default=640, help="reads a second on average (default 640: 55 M a day)")
    ap.add_argument("--entries", type=float, default=45e6, help="VOI entries (default 45 million)")
    ap.add_argument("--shape", type=int, choices=SHAPES, default=1, help="reads per camera call (default 1)")
    ap.add_argument("--utilisation", type=float, default=0.6, help="planned utilisation at peak (default 0.6)")
    ap.add_argument("--cores-per-replica", type=float, default=1.0, help="cores a replica gets (default 1)")
    ap.add_argument("--pool", type=int, default=10, help="ANPR_DB_POOL_SIZE (default 10)")
    ap.add_argument("--retention-days", type=int, default=365, help="ANPR_READ_RETENTION_DAYS (default 365)")
    ap.add_argument("--max-connections", type=int, default=400, help="the primary's max_connections (default 400)")
    args = ap.parse_args(argv)
    problems = [
        f"--{name.replace('_', '-')}: must be positive"
        for name in ("peak", "average", "entries", "cores_per_replica", "pool", "retention_days", "max_connections")
        if not getattr(args, name) > 0
    ]
    if not 0 < args.utilisation <= 1:
        problems.append("--utilisation: must be above 0 and at most 1")
    if problems:
        ap.error("; ".join(problems))
    try:
        text = sys.stdin.read() if args.run == "-" else Path(args.run).read_text()
    except OSError as exc:
        ap.error(f"run: cannot read {args.run} ({exc.strerror})")
    plan = Plan(**{f.name: getattr(args, f.name) for f in fields(Plan)})
    try:
        print(report(read_figures(text), plan))
    except MissingFigures as exc:
        print(f"capacity.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
