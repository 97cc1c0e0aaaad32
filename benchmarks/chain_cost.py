"""The chain benchmark's cost phases: CPU-seconds per 1,000 reads of every service and of PostgreSQL
(with PostgreSQL's WAL bytes and commits) for each call shape a camera may use, and what the chain
costs when nothing is sent. The capacity model (docs/capacity.md) is built from these figures."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from services import NAMES

# (label, reads per call): single reads are SubmitRead calls, the others StreamReads batches.
SHAPES = (
    ("SubmitRead, 1 read a call", 1),
    ("StreamReads, 10-read batches", 10),
    ("StreamReads, 100-read batches", 100),
)
SERVER_GROUPS = (*NAMES, "postgres")


async def pg_counters(url: str) -> dict[str, float]:
    """PostgreSQL's WAL position (bytes) and commits so far, across its databases (NaN if unreadable)."""
    nan = float("nan")
    with contextlib.suppress(OSError, asyncpg.PostgresError):
        conn = await asyncpg.connect(url)
        try:
            row = await conn.fetchrow(
                "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn AS wal,"
                " (SELECT sum(xact_commit) FROM pg_stat_database) AS commits"
            )
            return {"wal": float(row["wal"]), "commits": float(row["commits"])}
        finally:
            await conn.close()
    return {"wal": nan, "commits": nan}


def pg_rates(before: dict, after: dict, seconds: float) -> dict[str, float]:
    """WAL bytes per second and commits per second between two counter readings."""
    return {k: (after[k] - before[k]) / seconds for k in ("wal", "commits")}


def per_thousand(cpu: dict[str, float], reads_per_s: float) -> dict[str, float]:
    """CPU-seconds per 1,000 reads of each server group (cores / reads per second x 1,000), and their total."""
    out = {g: cpu.get(g, 0.0) / reads_per_s * 1000 if reads_per_s else float("nan") for g in SERVER_GROUPS}
    out["total"] = sum(out.values())
    return out


def say_per_thousand(bench, label: str, cpu: dict[str, float], reads_per_s: float, pg: dict[str, float]) -> None:
    """A ladder step's CPU-seconds per 1,000 reads per service and PostgreSQL, WAL and commits (figures
    `cpu_s_per_1000_reads_<label>_<group>`, `wal_kb_per_1000_reads_<label>`, `commits_per_s_<label>`)."""
    each = per_thousand(cpu, reads_per_s)
    wal_kb = pg["wal"] / reads_per_s * 1000 / 1024 if reads_per_s else float("nan")
    bench.say(
        "  per 1,000 reads (CPU-seconds): "
        + ", ".join(f"{g} {v:.3f}" for g, v in each.items())
        + f"; WAL {wal_kb:,.0f} kB; {pg['commits']:,.0f} commits/s"
    )
    for g, v in each.items():
        bench.fig[f"cpu_s_per_1000_reads_{label}_{g}"] = v
    bench.fig[f"wal_kb_per_1000_reads_{label}"] = wal_kb
    bench.fig[f"commits_per_s_{label}"] = pg["commits"]


async def cost(bench) -> None:
    """Each call shape paced at --cost-rate for --step-seconds: CPU-seconds per 1,000 reads per
    service and for PostgreSQL, the chain's cores, WAL kB per 1,000 reads and commits per second."""
    a = bench.args
    rate = a.cost_rate
    bench.say(
        f"\ncost per 1,000 reads: each call shape paced at {rate:,} reads/s, {a.step_warmup:.0f} s warm-up + "
        f"{a.step_seconds:.0f} s (CPU-seconds; the chain's cores = services + postgres)"
    )
    bench.say(
        f"  {'call shape':<32}" + "".join(f"{g:>9}" for g in (*SERVER_GROUPS, "total")) + "   cores  WAL kB  commits/s"
    )
    for label, size in SHAPES:
        _, r = await bench.run("chain", f"cost{size}", a.step_warmup, a.step_seconds, rate, batch=size)
        achieved = r["stored_in_window"] / a.step_seconds
        each = per_thousand(r["cpu"], achieved)
        cores = sum(r["cpu"].get(g, 0.0) for g in SERVER_GROUPS)
        wal_kb = r["pg"]["wal"] / achieved if achieved else float("nan")  # bytes/s / reads/s x 1000 / 1024
        bench.say(
            f"  {label:<32}"
            + "".join(f"{each[g]:>9.3f}" for g in (*SERVER_GROUPS, "total"))
            + f"  {cores:>6.2f}  {wal_kb * 1000 / 1024:>6.0f}  {r['pg']['commits']:>9.0f}"
            + ("" if achieved >= 0.9 * rate else f"   (got {achieved:,.0f} reads/s)")
        )
        for g, v in each.items():
            bench.fig[f"cpu_s_per_1000_reads_{size}_{g}"] = v
        bench.fig.update(
            {
                f"cores_at_{rate}_{size}": cores,
                f"wal_kb_per_1000_reads_{size}": wal_kb * 1000 / 1024,
                f"commits_per_s_{size}": r["pg"]["commits"],
            }
        )
        await bench.wait_backlog_empty(30)


STORAGE = """
    SELECT (SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i
             WHERE i.inhparent = 'ingest.reads'::regclass) AS reads_bytes,
           (SELECT count(*) FROM ingest.reads) AS reads,
           pg_total_relation_size('notify.alerts') AS alerts_bytes,
           (SELECT count(*) FROM notify.alerts) AS alerts,
           pg_total_relation_size('matcher.hits') AS hits_bytes,
           (SELECT count(*) FROM matcher.hits) AS hits"""


async def storage(bench) -> None:
    """Bytes on disk per stored read (table and indexes), per alert and per hit: what retention costs."""
    conn = await asyncpg.connect(bench.db.url)
    try:
        r = await conn.fetchrow(STORAGE)
    finally:
        await conn.close()
    per = {k: float(r[f"{k}s_bytes"]) / r[f"{k}s"] if r[f"{k}s"] else float("nan") for k in ("read", "alert", "hit")}
    bench.say(
        f"\nstorage: {r['reads']:,} reads at {per['read']:,.0f} bytes each (table and indexes), {r['alerts']:,} "
        f"alerts at {per['alert']:,.0f}, {r['hits']:,} hits at {per['hit']:,.0f}"
    )
    bench.fig.update(bytes_per_read=per["read"], bytes_per_alert=per["alert"], bytes_per_hit=per["hit"])


async def idle(bench, seconds: float = 10.0) -> None:
    """Nothing sent for `seconds`: the cores each service and PostgreSQL use on their own."""
    await asyncio.sleep(2.0)  # the last phase's stragglers
    snap0 = bench.cpu.snapshot()
    await asyncio.sleep(seconds)
    cpu = bench.cpu.cores(snap0, bench.cpu.snapshot(), seconds)
    total = sum(cpu.get(g, 0.0) for g in SERVER_GROUPS)
    bench.say(
        f"\nidle ({seconds:.0f} s, nothing sent): "
        + ", ".join(f"{g} {cpu.get(g, 0.0):.3f}" for g in SERVER_GROUPS)
        + f"; the chain {total:.3f} cores"
    )
    bench.fig["idle_cores"] = total
    await storage(bench)
