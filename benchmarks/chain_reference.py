"""The chain benchmark's reference: a PostgreSQL-only design on the same database server. Reads are
COPYed in batches into `bench_ref.reads`, whose row trigger looks the VRM up in `bench_ref.hotlist`
(the benchmark's entries, primary key on the normalised VRM) and `pg_notify`s a listener on a hit.
"""

from __future__ import annotations

import asyncpg

from anpr.vrm import normalise_vrm
from benchmarks.chain_load import FIREARMS_EVERY, REF_CHANNEL, entry_vrm

SCHEMA_SQL = f"""
DROP SCHEMA IF EXISTS bench_ref CASCADE;
CREATE SCHEMA bench_ref;
CREATE TABLE bench_ref.hotlist (
    vrm      text PRIMARY KEY,
    entry_id text NOT NULL,
    firearms boolean NOT NULL
);
CREATE TABLE bench_ref.reads (
    read_id        text PRIMARY KEY,
    vrm            text NOT NULL,
    vrm_normalised text NOT NULL,
    confidence     real,
    camera_id      text NOT NULL,
    captured_at    timestamptz NOT NULL,
    latitude       double precision,
    longitude      double precision,
    direction      integer,
    lane           integer
);
CREATE INDEX reads_vrm ON bench_ref.reads (vrm_normalised, captured_at);
CREATE FUNCTION bench_ref.match_read() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM bench_ref.hotlist h WHERE h.vrm = NEW.vrm_normalised) THEN
        PERFORM pg_notify('{REF_CHANNEL}', NEW.read_id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER match_read AFTER INSERT ON bench_ref.reads FOR EACH ROW EXECUTE FUNCTION bench_ref.match_read();
"""


async def create(database_url: str, entries: int, chunk: int = 100_000) -> None:
    """The reference's tables, trigger and hotlist (the same entries as the chain's)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(SCHEMA_SQL)
        for start in range(0, entries, chunk):
            rows = [
                (normalise_vrm(entry_vrm(i)), f"bench-{i}", i % FIREARMS_EVERY == 0)
                for i in range(start, min(entries, start + chunk))
            ]
            await conn.copy_records_to_table(
                "hotlist", schema_name="bench_ref", records=rows, columns=("vrm", "entry_id", "firearms")
            )
        await conn.execute("ANALYZE bench_ref.hotlist")
    finally:
        await conn.close()
