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
