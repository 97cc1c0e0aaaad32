"""ImportEntries with the entries as columns (`entry_columns`, Apache Arrow) on a real matcher and
PostgreSQL: stored exactly as the same entries sent as messages, a list replaced the same way (a
first import straight into the table, the next by way of a staging table), a repeated id or a bad
row refused naming it with nothing kept, and an import that stalls abandoned so that it lets go of
the hotlist writers' lock."""

from __future__ import annotations

import asyncio
import contextlib
import datetime

import grpc
import pyarrow as pa
import pytest

from anpr.runtime import pg
from anpr.runtime.auth import Role
from anpr.v1 import matcher_pb2, matcher_pb2_grpc
from anpr.v1 import types_pb2 as T
from tests.support import InProcessSuite, arrow_stream, channel, make_entry

NOWHERE = "127.0.0.1:9"
TEXT = ("entry_id", "vrm", "reason", "information", "force", "area", "pnc_id", "cad_information",
        "operational_instructions", "source_reference")  # fmt: skip


@contextlib.asynccontextmanager
async def running_matcher(database_url, tokens, **settings):
    """A matcher alone (its relays' targets nowhere) with the lists "pnc" and "local": its stub as
    hotlist administrator, a connection as its login, and its component (what its index holds)."""
    suite = InProcessSuite(database_url, tokens)
    await suite.start("matcher", notify_addr=NOWHERE, firearms_addr=NOWHERE, ingest_addr=NOWHERE, **settings)
    conn = await pg.connect(database_url.service_url("matcher"), "matcher")
    try:
        async with channel(suite.addr("matcher"), tokens[Role.HOTLIST_ADMIN]) as ch:
            stub = matcher_pb2_grpc.MatcherServiceStub(ch)
            for hotlist_id in ("pnc", "local"):
                await stub.UpsertHotlist(
                    matcher_pb2.UpsertHotlistRequest(
                        hotlist=T.Hotlist(hotlist_id=hotlist_id, name=hotlist_id, source=T.HOTLIST_SOURCE_PNC_NATIONAL)
                    )
                )
            yield stub, conn, suite.running["matcher"]._component
    finally:
        await conn.close()
        await suite.stop()


@pytest.fixture
async def matcher(database_url, tokens):
    async with running_matcher(database_url, tokens, import_idle_s=1.0) as (stub, conn, _):
        yield stub, conn


def columns(entries: list[T.VoiEntry]) -> bytes:
    """The entries as entry_columns: an Arrow IPC stream of one record batch."""
    data = {c: [getattr(e, c) for e in entries] for c in TEXT}
    for parent, names in (
        ("vehicle", ("make", "model", "colour")),
        ("grading", ("source_evaluation", "intelligence_assessment", "handling_code")),
    ):
        for c in names:
            data[c] = [getattr(getattr(e, parent), c) for e in entries]
    batch = pa.RecordBatch.from_pydict(
        data
        | {
            "action": pa.array([e.action for e in entries], pa.int32()),
            "protective_marking": pa.array([e.protective_marking for e in entries], pa.int32()),
            "warning_markers": pa.array([list(e.warning_markers) for e in entries], pa.list_(pa.int32())),
            "weed_at": pa.array(
                [
                    e.weed_at.ToDatetime(tzinfo=datetime.timezone.utc) if e.HasField("weed_at") else None
                    for e in entries
                ],
                pa.timestamp("us", "UTC"),
            ),
        }
    )
    return arrow_stream(batch)


def listed(n: int, prefix: str = "e", hotlist_id: str = "pnc") -> list[T.VoiEntry]:
    out = []
    for i in range(n):
        entry = make_entry(f"AB{i % 90 + 10}CDE", hotlist_id, entry_id=f"{prefix}-{i}")
        if i % 3 == 0:
            entry.weed_at.FromJsonString("2027-06-30T00:00:00Z")
        if i % 5 == 0:
            entry.warning_markers.append(T.WARNING_MARKER_FIREARMS)
        out.append(entry)
    return out


async def stored(conn, hotlist_id: str = "pnc") -> dict[str, bytes]:
    rows = await conn.fetch("SELECT entry_id, data FROM entries WHERE hotlist_id = $1 AND NOT deleted", hotlist_id)
    return {r["entry_id"]: r["data"] for r in rows}


async def test_entries_sent_as_columns_are_stored_as_the_same_entries_sent_as_messages(matcher):
    stub, conn = matcher
    entries = listed(30)
    resp = await stub.ImportEntries(
        iter(
            [
                matcher_pb2.ImportEntriesRequest(hotlist_id="pnc", entry_columns=columns(entries[:20])),
                matcher_pb2.ImportEntriesRequest(
                    entry_columns=columns(entries[20:25]), entries=entries[25:], complete=True
                ),
            ]
        )
    )
    assert resp.imported == 30
    assert await stored(conn) == {e.entry_id: e.SerializeToString() for e in entries}
    firearms = await conn.fetch("SELECT entry_id FROM entries WHERE firearms ORDER BY entry_id")
    assert sorted(r["entry_id"] for r in firearms) == sorted(
        e.entry_id for e in entries if T.WARNING_MARKER_FIREARMS in e.warning_markers
    )
    lists = {h.hotlist_id: h.entry_count for h in (await stub.ListHotlists(matcher_pb2.ListHotlistsRequest())).hotlists}
    assert lists["pnc"] == 30

    # the next extract: one entry changed, one gone, one new, the rest unchanged (they keep their version)
    versions = {r["entry_id"]: r["version"] for r in await conn.fetch("SELECT entry_id, version FROM entries")}
    again = [*listed(30)[1:], make_entry("NEW1", "pnc", entry_id="e-new")]
    again[0].reason = "Seen with a different vehicle"
    await stub.ImportEntries(
        iter([matcher_pb2.ImportEntriesRequest(hotlist_id="pnc", entry_columns=columns(again), complete=True)])
    )
    assert await stored(conn) == {e.entry_id: e.SerializeToString() for e in again}
    now = {
        r["entry_id"]: r["version"] for r in await conn.fetch("SELECT entry_id, version FROM entries WHERE NOT deleted")
    }
    assert [e for e in now if e in versions and now[e] != versions[e]] == ["e-1"]


async def test_ids_stored_before_on_another_list_or_deleted_are_moved_and_brought_back(matcher):
    stub, conn = matcher
    await stub.ImportEntries(
        iter(
            [matcher_pb2.ImportEntriesRequest(hotlist_id="local", entries=listed(4, hotlist_id="local"), complete=True)]
        )
    )
    await conn.execute("UPDATE entries SET deleted = true WHERE entry_id = 'e-3'")
    entries = listed(6)  # e-0..e-2 move here, e-3 comes back, e-4 and e-5 are new
    await stub.ImportEntries(
        iter([matcher_pb2.ImportEntriesRequest(hotlist_id="pnc", entry_columns=columns(entries), complete=True)])
    )
    assert await stored(conn) == {e.entry_id: e.SerializeToString() for e in entries}
    assert await stored(conn, "local") == {}


@pytest.mark.parametrize("second", ["columns", "entries"])
async def test_an_id_repeated_in_another_message_refuses_the_import(matcher, second):
    stub, conn = matcher
    entries = listed(10)
    again = [entries[4]]
    requests = [
        matcher_pb2.ImportEntriesRequest(hotlist_id="pnc", entry_columns=columns(entries)),
        matcher_pb2.ImportEntriesRequest(
            complete=True, **({"entry_columns": columns(again)} if second == "columns" else {"entries": again})
        ),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ImportEntries(iter(requests))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "invalid request: entries: entry_id repeated in the import"
    assert await stored(conn) == {}


async def test_bad_rows_are_named_by_their_place_in_the_import_and_nothing_is_kept(matcher):
    stub, conn = matcher
    entries = listed(8)
    entries[2].vrm = "AB*12"
    entries[6].reason = "   "
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ImportEntries(
            iter(
                [
                    matcher_pb2.ImportEntriesRequest(hotlist_id="pnc", entry_columns=columns(entries[:4])),
                    matcher_pb2.ImportEntriesRequest(entry_columns=columns(entries[4:]), complete=True),
                ]
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "entries[2].vrm" in err.value.details() and "entries[6].reason" in err.value.details()
    assert await stored(conn) == {}


async def test_only_a_stream_the_client_says_is_complete_is_imported(matcher):
    """A cancelled call or a dropped connection looks to the server like a stream that ended: without
    `complete` on the last message nothing is imported (else a list would be replaced by part of an
    extract), and nothing may follow the message that completes it."""
    stub, conn = matcher
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ImportEntries(
            iter([matcher_pb2.ImportEntriesRequest(hotlist_id="pnc", entry_columns=columns(listed(5)))])
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("invalid request: complete: required on the last message")
    assert await stored(conn) == {}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ImportEntries(
            iter(
                [
                    matcher_pb2.ImportEntriesRequest(hotlist_id="pnc", entries=listed(2), complete=True),
                    matcher_pb2.ImportEntriesRequest(entries=listed(3, prefix="more")),
                ]
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "complete: no message may follow" in err.value.details()
    assert await stored(conn) == {}


async def test_a_call_cancelled_mid_import_imports_nothing(matcher):
    stub, conn = matcher
    sent = asyncio.Event()

    async def requests():
        yield matcher_pb2.ImportEntriesRequest(hotlist_id="pnc", entry_columns=columns(listed(50)))
        sent.set()
        await asyncio.Event().wait()  # the client gives up before completing

    call = stub.ImportEntries(requests())
    await asyncio.wait_for(sent.wait(), 10)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    # matcher rolls the import back; an upsert then takes the lock, so the import is over by then
    await asyncio.wait_for(
        stub.UpsertEntry(matcher_pb2.UpsertEntryRequest(entry=make_entry("XY99ZZZ", "pnc", entry_id="after"))), 10
    )
    assert set(await stored(conn)) == {"after"}


async def test_an_import_that_stalls_is_abandoned_and_lets_go_of_the_lock(matcher):
    stub, conn = matcher
    stalled = asyncio.Event()

    async def requests():
        yield matcher_pb2.ImportEntriesRequest(hotlist_id="pnc", entry_columns=columns(listed(5)))
        await stalled.wait()  # the client stops sending, but keeps the call open

    call = stub.ImportEntries(requests())
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await asyncio.wait_for(call, 30)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "no message for 1 s" in err.value.details()
    # the writers' lock is free again: another change goes through at once
    upsert = stub.UpsertEntry(matcher_pb2.UpsertEntryRequest(entry=make_entry("XY99ZZZ", "pnc", entry_id="after")))
    await asyncio.wait_for(upsert, 10)
    assert set(await stored(conn)) == {"after"}
    stalled.set()
