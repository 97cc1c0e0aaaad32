"""Matcher's bulk load of the live entries (store.live_entries): every live entry once, each id
with its own VRM, deleted ones left out, across batches; against a real PostgreSQL as matcher's login."""

from __future__ import annotations

import pytest

from anpr.runtime import pg
from services.matcher import store


@pytest.fixture
async def conn(database_url):
    conn = await pg.connect(database_url.service_url("matcher"), "matcher")
    try:
        await conn.execute("INSERT INTO hotlists (hotlist_id, name, source, match_policy) VALUES ('L1', 'L', 1, 1)")
        yield conn
    finally:
        await conn.close()


@pytest.mark.parametrize("batch", [1, 3, 1_000_000])
async def test_every_live_entry_with_its_own_vrm(conn, batch):
    vrms = ["A1", "AB12CDE", "ZZ99ZZZ", "1234567890", "X", "Q7", "AB12CDF"]
    for i, vrm in enumerate(vrms):
        await conn.execute(
            "INSERT INTO entries (entry_id, hotlist_id, vrm_normalised, firearms, data, deleted)"
            " VALUES ($1, 'L1', $2, false, '\\x00', $3)",
            f"e{i}",
            vrm,
            i == 2,  # a tombstone: not loaded
        )
    expected = dict(await conn.fetch("SELECT id, vrm_normalised FROM entries WHERE NOT deleted"))
    version, ids, loaded = await store.live_entries(conn, batch=batch)
    assert version == await conn.fetchval("SELECT max(version) FROM entries")
    assert ids.dtype.kind == "i" and loaded.dtype == "S10"
    assert {int(i): v.decode() for i, v in zip(ids, loaded, strict=True)} == expected
    assert len(ids) == len(expected) == 6


async def test_no_entries(conn):
    version, ids, loaded = await store.live_entries(conn)
    assert (len(ids), len(loaded)) == (0, 0) and version > 0  # the list's own version
