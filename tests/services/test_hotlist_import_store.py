"""What one import does to the stored list (store.HotlistImport), against a real PostgreSQL as
matcher's login: new entries added, stored ones changed only where they differ (a deleted one comes
back, one of another list moves here), the list's others removed, with the counts, the added ids and
a first version from which every entry added or changed is found, and the changed entries watched
anew (deleted until now, or a new VRM): historical checks rely on both."""

from __future__ import annotations

import pytest

from anpr.runtime import pg
from services.matcher import store


@pytest.fixture
async def conn(database_url):
    conn = await pg.connect(database_url.service_url("matcher"), "matcher")
    try:
        for hotlist_id in ("L1", "L2"):
            await conn.execute(
                "INSERT INTO hotlists (hotlist_id, name, source, match_policy) VALUES ($1, $1, 1, 1)", hotlist_id
            )
        yield conn
    finally:
        await conn.close()


def record(entry_id: str, hotlist_id: str, data: bytes, vrm: str = "AB12CDE") -> tuple:
    return (entry_id, hotlist_id, vrm, False, None, data)


async def import_list(conn, hotlist_id: str, records: list[tuple]) -> store.ImportResult:
    async with conn.transaction():
        job = store.HotlistImport(conn, hotlist_id, max_added_ids=10)
        await job.begin()
        await job.add(records[:2])
        await job.add(records[2:])
        return await job.finish()


async def stored(conn) -> dict[str, tuple]:
    rows = await conn.fetch("SELECT entry_id, hotlist_id, data, deleted, version FROM entries")
    return {r["entry_id"]: (r["hotlist_id"], r["data"], r["deleted"], r["version"]) for r in rows}


async def test_an_import_adds_changes_and_removes(conn):
    first = await import_list(
        conn, "L1", [record(e, "L1", b"v1") for e in ("same", "edited", "gone", "revived", "corrected")]
    )
    assert (first.added, first.changed, first.removed) == (5, 0, 0)
    assert sorted(first.added_ids) == ["corrected", "edited", "gone", "revived", "same"]
    await import_list(conn, "L2", [record("moved", "L2", b"v1")])
    await conn.execute("UPDATE entries SET deleted = true WHERE entry_id = 'revived'")
    before = await stored(conn)

    second = await import_list(
        conn,
        "L1",
        [
            record("same", "L1", b"v1"),  # unchanged: keeps its version
            record("edited", "L1", b"v2"),
            record("revived", "L1", b"v1"),  # deleted, named again: back
            record("moved", "L1", b"v1"),  # on L2 until now
            record("new", "L1", b"v1"),
            record("corrected", "L1", b"v2", vrm="AB12CDF"),  # a new VRM: watched anew
        ],
    )
    after = await stored(conn)
    assert (second.added, second.changed, second.removed) == (1, 4, 1)
    assert second.added_ids == ["new"]
    # historical checks for the added, the one back and the one with a new VRM (not for an edit or a move)
    assert second.rewatched == 2 and sorted(second.rewatched_ids) == ["corrected", "revived"]
    assert after["same"] == before["same"]
    assert after["edited"][1] == b"v2" and not after["revived"][2] and after["moved"][0] == "L1"
    assert after["gone"][2] and after["gone"][3] > before["gone"][3]  # removed: a tombstone, a new version
    touched = {e for e, (_, _, deleted, version) in after.items() if version >= second.first_version and not deleted}
    assert touched == {"new", "edited", "revived", "moved", "corrected"}


async def test_the_same_extract_again_changes_nothing(conn):
    records = [record(f"e{i}", "L1", b"v1") for i in range(5)]
    await import_list(conn, "L1", records)
    before = await stored(conn)
    again = await import_list(conn, "L1", records)
    assert (again.added, again.changed, again.removed, again.first_version, again.rewatched) == (0, 0, 0, 0, 0)
    assert await stored(conn) == before
