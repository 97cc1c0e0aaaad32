"""What the importing matcher's index holds once an import has committed, on a real matcher and
PostgreSQL: a first import whose every row went straight into the table is added to the index from
the columns matcher already holds (not read back), and the index is then exactly what a full reload
reads: every live entry's row id with its VRM, the changes committed before the import included. An
import that took another path is read back, with the same result."""

from __future__ import annotations

import logging

import pytest

from anpr.v1 import matcher_pb2
from anpr.v1 import types_pb2 as T
from services.matcher import store
from tests.services.test_import_columns import columns, listed, running_matcher
from tests.support import make_entry

FROM_MEMORY = "index took an import's entries"


@pytest.fixture
async def matcher(database_url, tokens):
    async with running_matcher(database_url, tokens) as running:
        yield running


async def as_reloaded(conn) -> list[tuple[int, str]]:
    """Every live entry as a full reload reads it: (row id, normalised VRM)."""
    _, ids, vrms = await store.live_entries(conn)
    return sorted(zip(ids.tolist(), (v.decode() for v in vrms), strict=True))


async def upsert(stub, entry: T.VoiEntry) -> None:
    await stub.UpsertEntry(matcher_pb2.UpsertEntryRequest(entry=entry))


async def test_a_first_import_is_added_to_the_index_from_memory_as_a_reload_would_read_it(matcher, caplog):
    stub, conn, component = matcher
    await upsert(stub, make_entry("LOC1", "local", entry_id="l-1"))
    await upsert(stub, make_entry("LOC2", "local", entry_id="l-2"))
    await stub.DeleteEntry(matcher_pb2.DeleteEntryRequest(entry_id="l-2"))
    # a change another replica committed whose notice has not come yet: applied before the import's
    await conn.execute(
        "INSERT INTO entries (entry_id, hotlist_id, vrm_normalised, firearms, data) VALUES ('l-9', 'local', 'LOC9', false, '')"
    )
    entries = listed(120)
    messages = [
        matcher_pb2.ImportEntriesRequest(hotlist_id="pnc", entry_columns=columns(entries[:50])),
        matcher_pb2.ImportEntriesRequest(entry_columns=columns(entries[50:100])),
        matcher_pb2.ImportEntriesRequest(entry_columns=columns(entries[100:]), complete=True),
    ]
    with caplog.at_level(logging.INFO, logger="services.matcher.server"):
        resp = await stub.ImportEntries(iter(messages))
    assert resp.imported == 120
    assert FROM_MEMORY in caplog.messages

    index = component.live.index
    assert sorted(index.iter_entries()) == await as_reloaded(conn)
    assert len(index) == 122  # the list's 120, l-1 and l-9
    assert component.live.version == await conn.fetchval("SELECT version FROM hotlists WHERE hotlist_id = 'pnc'")
    # a read of an imported VRM finds the rows of the entries with it, by their ids
    found = {m.entry_id for m in index.match("AB17CDE", max_differences=0)}
    assert {r["entry_id"] for r in await conn.fetch("SELECT entry_id FROM entries WHERE id = ANY($1)", found)} == {
        e.entry_id for e in entries if e.vrm == "AB17CDE"
    }

    # changes after the import are applied on top, as usual
    await upsert(stub, make_entry("LOC3", "local", entry_id="l-3"))
    assert sorted(component.live.index.iter_entries()) == await as_reloaded(conn)


@pytest.mark.parametrize("path", ["messages among the columns", "a list with entries"])
async def test_an_import_that_took_another_path_is_read_back_with_the_same_result(matcher, caplog, path):
    stub, conn, component = matcher
    entries = listed(60)
    if path == "a list with entries":
        await upsert(stub, make_entry("OLD1", "pnc", entry_id="old-1"))
        first = matcher_pb2.ImportEntriesRequest(hotlist_id="pnc", entry_columns=columns(entries))
    else:
        first = matcher_pb2.ImportEntriesRequest(hotlist_id="pnc", entry_columns=columns(entries[:50]))
        first.entries.extend(entries[50:])
    first.complete = True
    with caplog.at_level(logging.INFO, logger="services.matcher.server"):
        await stub.ImportEntries(iter([first]))
    assert FROM_MEMORY not in caplog.messages
    assert sorted(component.live.index.iter_entries()) == await as_reloaded(conn)
    assert len(component.live.index) == 60


async def test_a_list_made_by_its_import_is_known_with_its_entries_taken_from_memory(matcher, caplog):
    stub, conn, component = matcher
    new = T.Hotlist(name="PNC extract", source=T.HOTLIST_SOURCE_PNC_NATIONAL)
    with caplog.at_level(logging.INFO, logger="services.matcher.server"):
        resp = await stub.ImportEntries(
            iter(
                [
                    matcher_pb2.ImportEntriesRequest(new_hotlist=new, entry_columns=columns(listed(40))),
                    matcher_pb2.ImportEntriesRequest(entry_columns=columns(listed(40, "f")[20:]), complete=True),
                ]
            )
        )
    assert FROM_MEMORY in caplog.messages
    assert component.live.hotlists[resp.hotlist_id].name == "PNC extract"  # matched hits name their list
    assert sorted(component.live.index.iter_entries()) == await as_reloaded(conn)
    assert len(component.live.index) == 60
