"""Hotlist administration on a real matcher (alone: nothing is delivered downstream here): what an
administrator is told when a list name is taken or an import repeats an entry."""

from __future__ import annotations

import grpc
import pytest

from anpr.runtime.auth import Role
from anpr.v1 import matcher_pb2, matcher_pb2_grpc
from anpr.v1 import types_pb2 as T
from tests.support import InProcessSuite, channel, make_entry

NOWHERE = "127.0.0.1:9"


@pytest.fixture
async def admin(database_url, tokens):
    suite = InProcessSuite(database_url, tokens)
    await suite.start(
        "matcher",
        notify_addr=NOWHERE,
        firearms_addr=NOWHERE,
        ingest_addr=NOWHERE,
    )
    try:
        async with channel(suite.addr("matcher"), tokens[Role.HOTLIST_ADMIN]) as ch:
            stub = matcher_pb2_grpc.MatcherServiceStub(ch)
            await stub.UpsertHotlist(
                matcher_pb2.UpsertHotlistRequest(
                    hotlist=T.Hotlist(hotlist_id="pnc", name="PNC extract", source=T.HOTLIST_SOURCE_PNC_NATIONAL)
                )
            )
            yield stub
    finally:
        await suite.stop()


async def test_a_second_list_of_the_same_name_already_exists(admin):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await admin.UpsertHotlist(
            matcher_pb2.UpsertHotlistRequest(
                hotlist=T.Hotlist(hotlist_id="other", name="PNC extract", source=T.HOTLIST_SOURCE_LOCAL_FORCE)
            )
        )
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert err.value.details() == "hotlist.name: a list with this name exists"
    listed = await admin.ListHotlists(matcher_pb2.ListHotlistsRequest())
    assert [h.hotlist_id for h in listed.hotlists] == ["pnc"]


async def test_an_import_that_repeats_an_entry_id_is_refused_naming_the_repeat(admin):
    entries = [make_entry("AB12CDE", "pnc", entry_id="same"), make_entry("XY34ZZZ", "pnc", entry_id="same")]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await admin.ImportEntries(
            iter([matcher_pb2.ImportEntriesRequest(hotlist_id="pnc", entries=entries, complete=True)])
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "invalid request: entries: entry_id repeated in the import"
    listed = await admin.ListHotlists(matcher_pb2.ListHotlistsRequest())
    assert [h.entry_count for h in listed.hotlists] == [0]


async def test_an_entry_for_a_list_that_does_not_exist_is_not_found(admin):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await admin.UpsertEntry(matcher_pb2.UpsertEntryRequest(entry=make_entry("AB12CDE", "nowhere")))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "entry.hotlist_id: no such hotlist"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await admin.ImportEntries(iter([matcher_pb2.ImportEntriesRequest(hotlist_id="nowhere")]))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "hotlist_id: no such hotlist"


NEW = T.Hotlist(name="Local ANPR list", source=T.HOTLIST_SOURCE_LOCAL_FORCE, priority=3)


async def test_an_import_makes_its_new_list_with_the_entries(admin):
    """new_hotlist: the list is made in the import's transaction, named in the answer, and holds
    the entries (the import sends a new list's entries as it reads them)."""
    entries = [make_entry("AB12CDE", ""), make_entry("XY34ZZZ", "")]
    done = await admin.ImportEntries(
        iter([matcher_pb2.ImportEntriesRequest(new_hotlist=NEW, entries=entries, complete=True)])
    )
    listed = {h.name: h for h in (await admin.ListHotlists(matcher_pb2.ListHotlistsRequest())).hotlists}
    made = listed["Local ANPR list"]
    assert (done.imported, done.hotlist_id) == (2, made.hotlist_id) and made.hotlist_id
    assert (made.entry_count, made.source, made.priority) == (2, T.HOTLIST_SOURCE_LOCAL_FORCE, 3)
    got = await admin.GetEntry(matcher_pb2.GetEntryRequest(entry_id=entries[0].entry_id, reason="test"))
    assert got.entry.hotlist_id == made.hotlist_id


async def test_an_import_that_is_refused_or_abandoned_leaves_no_new_list(admin):
    bad = make_entry("AB12*CD", "")
    refused = [
        [matcher_pb2.ImportEntriesRequest(new_hotlist=NEW, entries=[bad], complete=True)],  # a bad entry
        [matcher_pb2.ImportEntriesRequest(new_hotlist=NEW, entries=[make_entry("AB12CDE", "")])],  # no `complete`
    ]
    for messages in refused:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await admin.ImportEntries(iter(messages))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    listed = await admin.ListHotlists(matcher_pb2.ListHotlistsRequest())
    assert [h.hotlist_id for h in listed.hotlists] == ["pnc"]


@pytest.mark.parametrize(
    ("first", "code", "details"),
    [
        (
            matcher_pb2.ImportEntriesRequest(hotlist_id="pnc", new_hotlist=NEW),
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid request: new_hotlist: give hotlist_id (a list that exists) or new_hotlist, not both",
        ),
        (
            matcher_pb2.ImportEntriesRequest(new_hotlist=T.Hotlist(name="No source")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid request: new_hotlist.source: required",
        ),
        (
            matcher_pb2.ImportEntriesRequest(new_hotlist=T.Hotlist(name="PNC extract", source=NEW.source)),
            grpc.StatusCode.ALREADY_EXISTS,
            "new_hotlist.name: a list with this name exists",
        ),
        (
            matcher_pb2.ImportEntriesRequest(new_hotlist=T.Hotlist(hotlist_id="pnc", name="Other", source=NEW.source)),
            grpc.StatusCode.ALREADY_EXISTS,
            "new_hotlist.hotlist_id: a list with this id exists",
        ),
    ],
)
async def test_a_new_list_that_cannot_be_made_refuses_the_import(admin, first, code, details):
    first.entries.append(make_entry("AB12CDE", ""))
    first.complete = True
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await admin.ImportEntries(iter([first]))
    assert (err.value.code(), err.value.details()) == (code, details)
    listed = await admin.ListHotlists(matcher_pb2.ListHotlistsRequest())
    assert [(h.hotlist_id, h.name, h.entry_count) for h in listed.hotlists] == [("pnc", "PNC extract", 0)]
