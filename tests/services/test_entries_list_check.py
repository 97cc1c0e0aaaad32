"""Every VOI entry names a list that exists (matcher migration 0007): the rule the per-row foreign
key kept, now checked once per statement over the rows it wrote, so that a million-entry import
does not look its list up a million times. Against a real PostgreSQL, as matcher's own login."""

from __future__ import annotations

import asyncpg
import pytest

from anpr.runtime import pg


@pytest.fixture
async def conn(database_url):
    conn = await pg.connect(database_url.service_url("matcher"), "matcher")
    try:
        await conn.execute(
            "INSERT INTO hotlists (hotlist_id, name, source, match_policy) VALUES ('L1', 'List one', 1, 1)"
        )
        yield conn
    finally:
        await conn.close()


INSERT = (
    "INSERT INTO entries (entry_id, hotlist_id, vrm_normalised, firearms, data)"
    " SELECT 'e' || i, $1, 'AB12CDE', false, '\\x00' FROM generate_series(1, $2) i"
)


async def test_entries_of_a_list_that_exists_are_written(conn):
    await conn.execute(INSERT, "L1", 3)
    assert await conn.fetchval("SELECT count(*) FROM entries WHERE hotlist_id = 'L1'") == 3


async def test_an_insert_naming_no_list_writes_nothing(conn):
    with pytest.raises(asyncpg.ForeignKeyViolationError, match=r"entries\.hotlist_id: no list"):
        await conn.execute(INSERT, "nowhere", 2)
    assert await conn.fetchval("SELECT count(*) FROM entries") == 0


async def test_an_upsert_moving_entries_to_no_list_is_refused(conn):
    await conn.execute(INSERT, "L1", 2)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await conn.execute("UPDATE entries SET hotlist_id = 'nowhere' WHERE entry_id = 'e1'")
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await conn.execute(
            "INSERT INTO entries (entry_id, hotlist_id, vrm_normalised, firearms, data)"
            " VALUES ('e2', 'L1', 'AB12CDE', false, '\\x01')"
            " ON CONFLICT (entry_id) DO UPDATE SET hotlist_id = 'nowhere'"
        )
    assert await conn.fetchval("SELECT count(*) FROM entries WHERE hotlist_id = 'L1'") == 2


async def test_a_list_keeps_its_entries(database_url, conn):
    """The owner may delete or rename a list only once it has no entries (the services may not at all)."""
    await conn.execute(INSERT, "L1", 1)
    owner = await pg.connect(database_url.owner_url, "matcher")
    try:
        with pytest.raises(asyncpg.ForeignKeyViolationError, match="has entries"):
            await owner.execute("DELETE FROM hotlists WHERE hotlist_id = 'L1'")
        with pytest.raises(asyncpg.ForeignKeyViolationError, match="has entries"):
            await owner.execute("UPDATE hotlists SET hotlist_id = 'L2' WHERE hotlist_id = 'L1'")
        await owner.execute("UPDATE hotlists SET name = 'Renamed' WHERE hotlist_id = 'L1'")  # not its id: fine
        await owner.execute(
            "INSERT INTO hotlists (hotlist_id, name, source, match_policy) VALUES ('L3', 'Empty', 1, 1)"
        )
        await owner.execute("DELETE FROM hotlists WHERE hotlist_id = 'L3'")
    finally:
        await owner.close()
