"""Matcher's bulk load of the live entries (store.live_entries): every live entry once, each id
with its own VRM, deleted ones left out, across batches, read on one connection or in halves on two
(in one snapshot); against a real PostgreSQL as matcher's login."""

from __future__ import annotations

import asyncpg
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


@pytest.fixture
async def pool(database_url):
    pool = await pg.create_pool(database_url.service_url("matcher"), "matcher", max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def _insert(conn, vrms, first=0):
    for i, vrm in enumerate(vrms, first):
        await conn.execute(
            "INSERT INTO entries (entry_id, hotlist_id, vrm_normalised, firearms, data, deleted)"
            " VALUES ($1, 'L1', $2, false, '\\x00', $3)",
            f"e{i}",
            vrm,
            i == 2,  # a tombstone: not loaded
        )


VRMS = ["A1", "AB12CDE", "ZZ99ZZZ", "1234567890", "X", "Q7", "AB12CDF"]


@pytest.mark.parametrize("halves", [False, True])
@pytest.mark.parametrize("batch", [1, 3, 1_000_000])
async def test_every_live_entry_with_its_own_vrm(conn, pool, batch, halves):
    await _insert(conn, VRMS)
    expected = dict(await conn.fetch("SELECT id, vrm_normalised FROM entries WHERE NOT deleted"))
    version, ids, loaded = await store.live_entries(conn, batch=batch, pool=pool if halves else None, split_at=0)
    assert version == await conn.fetchval("SELECT max(version) FROM entries")
    assert ids.dtype.kind == "i" and loaded.dtype == "S10"
    assert {int(i): v.decode() for i, v in zip(ids, loaded, strict=True)} == expected
    assert len(ids) == len(expected) == 6


async def test_no_entries(conn):
    version, ids, loaded = await store.live_entries(conn)
    assert (len(ids), len(loaded)) == (0, 0) and version > 0  # the list's own version


async def test_both_halves_read_one_snapshot(conn, pool, database_url):
    """Entries changed while a refresh reads are read as they were: the second connection reads in
    the first one's snapshot (exported to it), not in a later one of its own."""
    await _insert(conn, VRMS)
    expected = dict(await conn.fetch("SELECT id, vrm_normalised FROM entries WHERE NOT deleted"))
    top, below = sorted(expected)[-1], sorted(expected)[-2]  # both in the upper half
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        before = await conn.fetchval("SELECT max(version) FROM entries")  # the snapshot taken
        writer = await pg.connect(database_url.service_url("matcher"), "matcher")
        try:
            await writer.execute("UPDATE entries SET vrm_normalised = 'LATE1' WHERE id = $1", top)
            await writer.execute("UPDATE entries SET deleted = true WHERE id = $1", below)
        finally:
            await writer.close()
        version, ids, loaded = await store.live_entries(conn, pool=pool, split_at=0)
    assert version == before
    assert {int(i): v.decode() for i, v in zip(ids, loaded, strict=True)} == expected


async def test_without_a_connection_to_spare_it_reads_alone(conn, pool):
    await _insert(conn, VRMS)
    expected = dict(await conn.fetch("SELECT id, vrm_normalised FROM entries WHERE NOT deleted"))
    async with pool.acquire(), pool.acquire():  # both taken
        _, ids, loaded = await store.live_entries(conn, pool=pool, split_at=0)
    assert {int(i): v.decode() for i, v in zip(ids, loaded, strict=True)} == expected


async def test_a_half_that_fails_raises_its_own_error(conn, database_url):
    """Not an ExceptionGroup: a caller tells a lost connection (UNAVAILABLE) from a defect by it."""
    await _insert(conn, VRMS)
    elsewhere = await pg.create_pool(database_url.service_url("matcher"), "public", max_size=1)  # no entries there
    try:
        with pytest.raises(asyncpg.UndefinedTableError):
            await store.live_entries(conn, pool=elsewhere, split_at=0)
    finally:
        await elsewhere.close()
