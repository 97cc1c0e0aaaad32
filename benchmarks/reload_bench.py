"""Matcher's full reload of its index: what a replica does at start, and after a large change such
as a hotlist import, before it matches against the new entries.

    .venv/bin/python benchmarks/reload_bench.py                    # 1,000,000 entries
    .venv/bin/python benchmarks/reload_bench.py --entries 100000 --repeat 3

Writes --entries entries of one list with COPY (as an import's first message does) into PostgreSQL
(embedded, or a fresh database on the server of ANPR_DATABASE_URL), migrated as `anpr up` migrates
it, then times, in matcher's own code and as its login: the live entries read in one snapshot
(`store.live_entries` with a pool of two connections, as `refresh` calls it) and the index with its
dropped-character keys built (`LiveIndex.load`). The first reload reads rows nobody has read since
they were written (PostgreSQL sets their hint bits), as after an import; later ones read them as at
a restart. The last line is `reload_s=<first> read_s=<first> build_s=<first>`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: the repository on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anpr.runtime import pg
from benchmarks import chain_suite as cs
from benchmarks.common import add_options, current_format_vrm
from services.matcher import store
from services.matcher.index import LookalikeClasses
from services.matcher.live import LiveIndex

OPTIONS = {
    "--entries": (int, 1_000_000, "entries of the list (default 1,000,000)"),
    "--repeat": (int, 2, "reloads timed (default 2: the first after the write, then as at a restart)"),
}


async def write_entries(url: str, n: int) -> None:
    conn = await pg.connect(url, "matcher")
    try:
        await conn.execute("INSERT INTO hotlists (hotlist_id, name, source, match_policy) VALUES ('L', 'L', 1, 1)")
        rng = random.Random(1)
        for start in range(0, n, 100_000):
            rows = [
                (f"pnc:{i}", "L", current_format_vrm(rng, ""), False, None, b"\x00" * 190)
                for i in range(start, min(n, start + 100_000))
            ]  # fmt: skip
            await conn.copy_records_to_table("entries", records=rows, columns=store.COPY_COLUMNS)
    finally:
        await conn.close()


async def run(args, tmp: Path) -> None:
    db = cs.Database(tmp, os.environ.get("ANPR_DATABASE_URL"))
    await db.start()
    try:
        url = db.logins.service_url("matcher")
        started = time.perf_counter()
        await write_entries(url, args.entries)
        print(f"{args.entries:,} entries written in {time.perf_counter() - started:.1f} s")
        pool = await pg.create_pool(url, "matcher", max_size=2)
        firsts = None
        try:
            for k in range(args.repeat):
                live = LiveIndex(LookalikeClasses(), True, LookalikeClasses())
                started = time.perf_counter()
                async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
                    bulk = await store.live_entries(conn, pool=pool)
                read = time.perf_counter()
                await live.load(*bulk)
                built = time.perf_counter()
                figures = (built - started, read - started, built - read)
                firsts = firsts or figures
                what = "after the write" if k == 0 else "again, as at a restart"
                print(
                    f"reload {k + 1} ({what}): {figures[0]:.2f} s, entries read {figures[1]:.2f} s,"
                    f" index and keys built {figures[2]:.2f} s ({len(live):,} entries)"
                )
        finally:
            await pool.close()
        print("reload_s={:.3f} read_s={:.3f} build_s={:.3f}".format(*firsts))
    finally:
        await db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(parser, OPTIONS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="anpr-reload-bench-") as tmp:
        asyncio.run(run(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
