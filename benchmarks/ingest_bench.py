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

The parts: ingest_reads.py (the reads and rows), ingest_load.py (the client and echo processes),
ingest_clients.py (driving the clients), ingest_rig.py (PostgreSQL, ingest, echo, samplers, close),
ingest_baselines.py (phases 1 and 2), ingest_runs.py (3 and 4), ingest_report.py (the output).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
import traceback

from benchmarks.common import BenchError, add_options, log_tail
from benchmarks.ingest_baselines import phase_copy, phase_echo
from benchmarks.ingest_report import Report, say, summarise
from benchmarks.ingest_rig import Rig
from benchmarks.ingest_runs import phase_ingest


def run(rig: Rig, out: Report) -> None:
    """Set up, then the phases in order: COPY, echo, ingest (with its RSS)."""
    a = rig.args
    say(
        f"anpr ingest benchmark: {os.cpu_count()} cores; {a.seconds:g} s measured per phase after a "
        f"{a.warmup:g} s warm-up; {a.clients} client process(es)"
    )
    say(
        "core sharing: PostgreSQL, the server under test (echo or ingest) and the client process(es) "
        "all run on these cores at once; see 'cores used' per phase"
    )
    rig.start_postgres()
    rig.start_ingest()
    rig.start_echo()
    rig.clients.start()
    rig.wait_ingest_serving()
    rig.clients.ready()
    say(f"ingest SERVING on {rig.ingest_addr} (log {rig.ingest_log}); echo server on {rig.echo_addr}")
    rig.register_cameras()
    cpu = rig.cpu_meter()
    phase_copy(rig, out, cpu)
    phase_echo(rig, out, cpu)
    phase_ingest(rig, out, cpu)
    say("  " + rig.outbox_backlog())
    out.note_other_processes()


OPTIONS = {
    "--seconds": (float, 8.0, "measured seconds per phase (default 8)"),
    "--warmup": (float, 2.0, "warm-up seconds per phase (default 2)"),
    "--streams": (int, 100, "concurrent camera streams (default 100)"),
    "--batch": (int, 50, "reads per batch (default 50)"),
    "--depth": (int, 2, "batches in flight per stream (default 2)"),
    "--unary-concurrency": (int, 64, "concurrent SubmitRead calls (default 64)"),
    "--idle-seconds": (
        float,
        3.0,
        "measured seconds of the unloaded-latency run (1 stream, 1 batch in flight); 0 skips it",
    ),
    "--clients": (int, 1, "client processes (default 1)"),
    "--connections": (int, 8, "TCP connections per client process, streams spread over them (default 8)"),
    "--ingest-workers": (int, 2, "ingest worker processes on one port, ANPR_WORKERS (default 2, one per core)"),
    "--copy-chunk": (int, 1000, "rows per COPY (default 1000)"),
    "--copy-connections": (int, 2, "concurrent COPY connections (default 2)"),
    "--copy-max-rows": (int, 1_500_000, "cap on pre-generated COPY rows"),
    "--max-pool-reads": (
        int,
        400_000,
        "cap on pre-generated reads per ingest run (the window ends early if they run out)",
    ),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_options(p, OPTIONS)
    p.add_argument("--profile", metavar="DIR", help="py-spy record the ingest process during each measured run")
    p.add_argument("--profile-format", default="flamegraph", choices=("flamegraph", "speedscope", "raw"))
    p.add_argument("--keep", action="store_true", help="keep the temp dir (PostgreSQL data, ingest log)")
    args = p.parse_args(argv)
    if min(args.streams, args.batch, args.depth, args.unary_concurrency, args.clients) < 1:
        p.error("--streams, --batch, --depth, --unary-concurrency and --clients must be positive")
    args.clients = min(args.clients, args.streams, args.unary_concurrency)
    return args


def on_signal(signum, frame):
    """Stop at the first Ctrl-C or SIGTERM; ignore the next ones so that the cleanup completes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    t0 = time.perf_counter()
    rig, out = Rig(args), Report()
    code = 0
    try:
        run(rig, out)
    except BenchError as exc:
        print(f"\nERROR: {exc}", file=sys.stderr, flush=True)
        code = 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr, flush=True)
        code = 130
    except Exception:
        traceback.print_exc()
        if rig.ingest is not None:
            print(f"tail of the ingest log:\n{log_tail(rig.ingest_log)}", file=sys.stderr)
        code = 1
    finally:
        with contextlib.suppress(KeyboardInterrupt):
            rig.close()
    if code:
        return code
    line = summarise(out.fig)
    print(f"\nnotes: {'; '.join(out.notes) or 'none'}; total {time.perf_counter() - t0:.0f} s", flush=True)
    print(" ".join(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
