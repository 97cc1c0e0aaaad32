"""The ingest benchmark's baselines, on the same machine with the same reads: raw COPY into a table
like ingest.reads (the store's limit), and a do-nothing IngestService driven by the same client
processes as ingest (the transport's limit)."""

from __future__ import annotations

import asyncio
import time
import zlib
from datetime import datetime, timedelta, timezone

import asyncpg

from benchmarks.common import BenchError, CpuMeter
from benchmarks.ingest_reads import CAMERAS, COPY_COLUMNS, ReadGen
from benchmarks.ingest_report import Report, merge, say
from benchmarks.ingest_rig import Rig


def gen_rows(run_id: str, n: int, tag: str) -> list[tuple]:
    gen = ReadGen(zlib.crc32(f"copy-{tag}".encode()), CAMERAS)
    captured = datetime.now(timezone.utc) - timedelta(milliseconds=500)
    ncam, row, prefix = len(CAMERAS), gen.row, f"bench-{run_id}-copy{tag}-"
    return [row(f"{prefix}{i}", i % ncam, captured) for i in range(n)]


async def copy_rows(conns, rows: list[tuple], chunk: int, seconds: float) -> tuple[int, float, bool]:
    """COPY chunks of `rows` from every connection for `seconds`: the rows copied, the window (shorter
    if the rows ran out first) and whether they did."""
    perf = time.perf_counter
    w0 = perf()
    w1 = w0 + seconds
    chunks = iter(range(0, len(rows), chunk))
    columns = list(COPY_COLUMNS)
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


async def create_table(admin, out: Report) -> None:
    """bench.reads_copy: LIKE makes a plain table even when ingest.reads is partitioned; INCLUDING ALL
    keeps the primary key, indexes, defaults and constraints (the same work per row as the store)."""
    await admin.execute("DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench")
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
        out.notes.append("ingest.reads is partitioned; the COPY target is a plain table")
    missing = [c for c in COPY_COLUMNS if c not in have]
    if missing:
        raise BenchError(f"ingest.reads has no column(s) {missing}: update COPY_COLUMNS")


async def probe_rate(conns, rig: Rig) -> float:
    """Rows/s over a warm-up on a pool of its own, to size the measured window's pool."""
    a = rig.args
    probe = gen_rows(rig.run_id, min(150_000, max(a.copy_chunk * 20, 40_000)), "probe")
    n, window, _ = await copy_rows(conns, probe, a.copy_chunk, a.warmup)
    return n / window


async def measure_copy(rig: Rig, cpu: CpuMeter) -> dict:
    """The warm-up, then the measured window on fresh rows generated up front."""
    a = rig.args
    conns = [await asyncpg.connect(rig.db_url) for _ in range(a.copy_connections)]
    try:
        rate = await probe_rate(conns, rig)
        want = min(int(rate * a.seconds * 1.3) + a.copy_chunk * 4, a.copy_max_rows)
        t = time.perf_counter()
        rows = gen_rows(rig.run_id, want, "main")
        gen_s = time.perf_counter() - t
        snap0, c0 = cpu.snapshot(), time.monotonic()
        n, window, exhausted = await copy_rows(conns, rows, a.copy_chunk, a.seconds)
        snap1, c1 = cpu.snapshot(), time.monotonic()
    finally:
        for c in conns:
            await c.close()
    return {
        "n": n,
        "window": window,
        "exhausted": exhausted,
        "gen_s": gen_s,
        "cores": CpuMeter.cores(snap0, snap1, c1 - c0),
    }


async def copy_baseline(rig: Rig, out: Report, cpu: CpuMeter) -> None:
    admin = await asyncpg.connect(rig.db_url)
    try:
        await create_table(admin, out)
        m = await measure_copy(rig, cpu)
        size = await admin.fetchval("SELECT pg_total_relation_size('bench.reads_copy')")
        # leave no dirty pages or WAL debt from this phase to the ingest phases
        await admin.execute("DROP SCHEMA bench CASCADE")
        await admin.execute("CHECKPOINT")
    finally:
        await admin.close()
    rate = m["n"] / m["window"]
    out.fig["copy_rows_per_s"] = rate
    note = f" (row pool ran out: window {m['window']:.1f} s)" if m["exhausted"] else ""
    say(
        f"  COPY: {rate:,.0f} rows/s ({m['n']:,} rows in {m['window']:.1f} s; rows generated up front in "
        f"{m['gen_s']:.1f} s; table+indexes {size / 2**20:.0f} MiB){note}"
    )
    say(f"    {out.cpu(m['cores'])}  (client = orchestrator here)")


def phase_copy(rig: Rig, out: Report, cpu: CpuMeter) -> None:
    a = rig.args
    say(
        f"\n[1/4] raw COPY: asyncpg copy_records_to_table, {a.copy_connections} connection(s) x "
        f"{a.copy_chunk}-row chunks into bench.reads_copy (LIKE ingest.reads INCLUDING ALL)"
    )
    asyncio.run(copy_baseline(rig, out, cpu))


def phase_echo(rig: Rig, out: Report, cpu: CpuMeter) -> None:
    a, clients = rig.args, rig.clients
    say(
        f"\n[2/4] raw gRPC echo: do-nothing IngestService in {a.ingest_workers} process(es) on one port; "
        f"{a.clients} client process(es)"
    )
    pool_reads = max(a.streams * a.batch * 8, 60_000)
    gen = clients.prepare("stream", rig.echo_addr, "echo", pool_reads, True, "echo-stream")
    replies, cores = clients.run_window(a.warmup, a.seconds, cpu)
    m = merge(replies)
    out.figures(m, "echo_stream_p50_ms", "echo_stream_p99_ms", rate="echo_stream_per_s")
    out.run(
        f"StreamReads, {a.streams} streams x {a.depth} in flight x {a.batch} reads "
        f"(pool of {pool_reads:,} reads reused, generated in {gen:.1f} s)",
        m,
        cores,
    )

    pool_reads = max(a.unary_concurrency * 200, 20_000)
    clients.prepare("unary", rig.echo_addr, "echo", pool_reads, True, "echo-unary")
    replies, cores = clients.run_window(a.warmup, a.seconds, cpu)
    m = merge(replies)
    out.figures(m, "echo_unary_p50_ms", "echo_unary_p99_ms", rate="echo_unary_per_s")
    out.run(f"SubmitRead, concurrency {a.unary_concurrency}", m, cores)
    clients.prepare("unary", rig.echo_addr, "echo", 1, True, "free")  # drop the pools
    clients.ask([("close", rig.echo_addr)] * len(clients.procs), timeout=30)
    rig.stop_echo()
