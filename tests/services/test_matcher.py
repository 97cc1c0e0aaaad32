"""Matcher with the whole chain on real ports: look-alike hits, list policy, vehicle mismatch, weed
dates, deduplication, firearms sightings, historical hits, the audited entry read, list import."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncpg
import grpc
import pytest

from anpr.runtime import outbox
from anpr.runtime.auth import Role
from anpr.v1 import firearms_pb2, firearms_pb2_grpc, ingest_pb2, ingest_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from anpr.v1 import types_pb2 as T
from services.matcher import store
from tests.support import (
    InProcessSuite,
    channel,
    eventually,
    make_entry,
    make_read,
    next_alert,
    next_message,
    subscribe,
    ts,
)

CAMERA_AT = (51.5, -0.12)  # where tests.support.register_cameras puts the test cameras


@pytest.fixture
async def suite(database_url, tokens):
    s = InProcessSuite(database_url, tokens)
    await s.start_all(dedup_window_s=600, historical_lookback_h=24)
    await add_lists(s)
    yield s
    await s.stop()


async def add_lists(s: InProcessSuite) -> None:
    """The lists the matcher tests use: "pnc" (look-alikes) and "exact" (exact matches only)."""
    async with channel(s.addr("matcher"), s.tokens[Role.HOTLIST_ADMIN]) as ch:
        admin = matcher_pb2_grpc.MatcherServiceStub(ch)
        await admin.UpsertHotlist(
            matcher_pb2.UpsertHotlistRequest(
                hotlist=T.Hotlist(
                    hotlist_id="pnc",
                    name="PNC extract",
                    source=T.HOTLIST_SOURCE_PNC_NATIONAL,
                    match_policy=T.MATCH_POLICY_LOOKALIKE,
                )
            )
        )
        await admin.UpsertHotlist(
            matcher_pb2.UpsertHotlistRequest(
                hotlist=T.Hotlist(
                    hotlist_id="exact",
                    name="Exact-only list",
                    source=T.HOTLIST_SOURCE_OTHER_AGENCY,
                    match_policy=T.MATCH_POLICY_EXACT,
                )
            )
        )


async def add_entries(suite, *entries: T.VoiEntry) -> None:
    async with channel(suite.addr("matcher"), suite.tokens[Role.HOTLIST_ADMIN]) as ch:
        admin = matcher_pb2_grpc.MatcherServiceStub(ch)
        for e in entries:
            await admin.UpsertEntry(matcher_pb2.UpsertEntryRequest(entry=e))


async def send(suite, *reads: T.Read) -> None:
    async with channel(suite.addr("ingest"), suite.tokens[Role.CAMERA]) as ch:
        resp = await ingest_pb2_grpc.IngestServiceStub(ch).SubmitReads(
            iter([ingest_pb2.SubmitReadsRequest(reads=list(reads))])
        )
    assert all(r.status == ingest_pb2.READ_STATUS_STORED for r in resp.results), resp


class Room:
    """A control-room alert stream, from the start of the log."""

    def __init__(self, suite):
        self._ch = channel(suite.addr("notify"), suite.tokens[Role.CONTROL_ROOM])
        self.stream = subscribe(self._ch, Role.CONTROL_ROOM, from_start=True)

    async def next(self) -> T.Alert:
        return await next_alert(self.stream, 15)

    async def close(self):
        self.stream.cancel()
        await self._ch.close()


@pytest.fixture
async def room(suite):
    r = Room(suite)
    yield r
    await r.close()


async def test_lookalike_read_is_an_approximate_hit_with_the_positions(suite, room):
    await add_entries(suite, make_entry("AB12CDE", "pnc"))
    read = make_read("AB1ZCDE")  # 2 read as Z
    await send(suite, read)
    hit = (await room.next()).hit
    assert hit.read.read_id == read.read_id
    assert hit.match_kind == T.MATCH_KIND_LOOKALIKE and list(hit.differing_positions) == [3]
    assert hit.evidence[0].factor == "misread" and any(c.key == "confusion:2Z" for c in hit.evidence)
    assert sum(c.log_odds for c in hit.evidence) > 0


async def test_exact_only_list_and_unconfusable_characters_do_not_match(suite, room):
    await add_entries(suite, make_entry("XY12ZZZ", "exact"), make_entry("GB12SSS", "pnc"))
    await send(
        suite,
        make_read("XY12ZZ2"),  # look-alike of an exact-only entry: no hit
        make_read("GB12SXS"),  # S and X are not confused: no hit
        make_read("XY12ZZZ"),
    )  # the sentinel: exact
    alert = await room.next()
    assert alert.hit.read.vrm == "XY12ZZZ" and alert.hit.match_kind == T.MATCH_KIND_EXACT
    assert alert.hit.tier == T.MATCH_TIER_CONFIRMED and alert.hit.score > 0.99
    assert [c.factor for c in alert.hit.evidence] == ["exact_read"]


async def test_two_lookalikes_that_break_the_format_are_a_confirmed_hit(suite, room):
    await add_entries(suite, make_entry("GB12SSS", "pnc"))
    await send(suite, make_read("G812S5S"))  # B read as 8 and S as 5, where digits cannot be
    hit = (await room.next()).hit
    assert hit.tier == T.MATCH_TIER_CONFIRMED and list(hit.differing_positions) == [1, 5]
    assert 0.85 <= hit.score < 0.99 and hit.match_kind == T.MATCH_KIND_LOOKALIKE


async def test_vehicle_mismatch_is_marked(suite, room):
    await add_entries(suite, make_entry("KV70ABC", "pnc"))  # a blue Ford Focus
    await send(suite, make_read("KV70ABC", vehicle=T.VehicleDescription(make="Ford", model="Focus", colour="Red")))
    assert list((await room.next()).hit.vehicle_mismatches) == ["colour"]


async def test_weed_date_ends_matching_without_a_restart(suite, room):
    weed = datetime.now(timezone.utc) + timedelta(hours=1)
    await add_entries(suite, make_entry("WD11EED", "pnc", weed_at=ts(weed)), make_entry("SE11TTT", "pnc"))
    await send(suite, make_read("WD11EED"))
    assert (await room.next()).hit.read.vrm == "WD11EED"
    matcher = suite.running["matcher"]._component
    matcher.clock = lambda: weed + timedelta(seconds=1)  # time passes the weed date
    await send(suite, make_read("WD11EED", camera_id="CAM-A34-N"), make_read("SE11TTT"))
    assert (await room.next()).hit.read.vrm == "SE11TTT"


async def test_repeats_in_the_window_are_counted_not_realerted_but_firearms_sees_every_sighting(suite, room):
    armed = make_entry("FA11RMS", "pnc", warning_markers=[T.WARNING_MARKER_FIREARMS])
    await add_entries(suite, armed, make_entry("SE11TTT", "pnc"))
    first, second = make_read("FA11RMS"), make_read("FA11RMS")  # same camera, same area, a second apart
    async with channel(suite.addr("firearms"), suite.tokens[Role.TFC_SUPERVISOR]) as ch:  # the supervisor view
        console = firearms_pb2_grpc.FirearmsServiceStub(ch).StreamActivations(
            firearms_pb2.StreamActivationsRequest(from_start=True)
        )
        await send(suite, first)
        await send(suite, second)
        await send(suite, make_read("SE11TTT"))
        alerts = [await room.next(), await room.next()]
        raised = (await next_message(console, 15)).activation
        sighted = await next_message(console, 15)
        console.cancel()
    # the repeat was not re-alerted: the two alerts are the first sighting and the other vehicle's
    # (alerts of different vehicles may come in either order: order holds per entry)
    assert {a.hit.read.read_id for a in alerts if a.hit.read.vrm == "FA11RMS"} == {first.read_id}
    assert sorted(a.hit.read.vrm for a in alerts) == ["FA11RMS", "SE11TTT"]
    assert raised.hit.read.read_id == first.read_id
    assert sighted.activation.activation_id == raised.activation_id
    assert sighted.event.kind == T.ACTIVATION_EVENT_KIND_SIGHTING
    assert sighted.event.sighting.read.read_id == second.read_id and sighted.event.sighting.repeat_count == 1
    conn = await asyncpg.connect(suite.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM matcher.hits WHERE suppressed") == 1
    finally:
        await conn.close()


async def test_a_new_entry_is_checked_against_recent_reads(suite, room):
    old = make_read("HS70RIC", captured_at=ts(datetime.now(timezone.utc) - timedelta(hours=3)))
    old.ClearField("location")  # made where its camera stands
    await send(suite, old)
    conn = await asyncpg.connect(suite.database_url)
    try:  # matcher has had the read before the entry exists: a hit on it can only be historical
        await eventually(lambda: _no_reads_queued(conn), seconds=15)
    finally:
        await conn.close()
    await add_entries(suite, make_entry("HS70 RIC", "pnc"))
    hit = (await room.next()).hit
    assert hit.historical and hit.read.read_id == old.read_id
    # routed as a live hit would be: by its camera's force and position
    assert hit.force == "Test Police"
    assert hit.location_from_camera and (hit.location.latitude, hit.location.longitude) == CAMERA_AT


async def _no_reads_queued(conn) -> bool:
    return await conn.fetchval("SELECT count(*) FROM ingest.outbox WHERE topic = 'match'") == 0


async def test_reading_an_entry_is_audited_with_caller_and_reason(suite):
    entry = make_entry("AU11DIT", "pnc")
    await add_entries(suite, entry)
    async with channel(suite.addr("matcher"), suite.tokens[Role.CONTROL_ROOM]) as ch:
        stub = matcher_pb2_grpc.MatcherServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetEntry(matcher_pb2.GetEntryRequest(entry_id=entry.entry_id))
        got = (
            await stub.GetEntry(
                matcher_pb2.GetEntryRequest(entry_id=entry.entry_id, reason="Incident 4411: officer request")
            )
        ).entry
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert got.cad_information == entry.cad_information
    conn = await asyncpg.connect(suite.database_url)
    try:
        rows = await conn.fetch("SELECT subject, role, reason FROM matcher.entry_audit")
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [("test-control_room", "control_room", "Incident 4411: officer request")]


async def test_an_import_that_corrects_an_entrys_vrm_checks_it_against_recent_reads(suite, room):
    """As UpsertEntry does: a listed entry given a new VRM by an import is watched anew."""
    old = make_read("CR12ECT", captured_at=ts(datetime.now(timezone.utc) - timedelta(hours=2)))
    await send(suite, old)
    conn = await asyncpg.connect(suite.database_url)
    try:  # matcher has had the read before the corrected entry exists: a hit on it is historical
        await eventually(lambda: _no_reads_queued(conn), seconds=15)
    finally:
        await conn.close()
    async with channel(suite.addr("matcher"), suite.tokens[Role.HOTLIST_ADMIN]) as ch:
        admin = matcher_pb2_grpc.MatcherServiceStub(ch)
        for vrm in ("CR12ECX", "CR12ECT"):  # a typo in the first extract, corrected in the next
            entry = make_entry(vrm, "pnc", entry_id="pnc:corrected")
            await admin.ImportEntries(
                iter([matcher_pb2.ImportEntriesRequest(hotlist_id="pnc", entries=[entry], complete=True)])
            )
    hit = (await room.next()).hit
    assert hit.historical and hit.read.read_id == old.read_id and hit.entry.entry_id == "pnc:corrected"


async def test_import_replaces_the_whole_list(suite, room):
    async with channel(suite.addr("matcher"), suite.tokens[Role.HOTLIST_ADMIN]) as ch:
        admin = matcher_pb2_grpc.MatcherServiceStub(ch)

        async def load(*vrms: str) -> matcher_pb2.ImportEntriesResponse:
            entries = [make_entry(v, "pnc", entry_id=f"pnc:{v}") for v in vrms]
            return await admin.ImportEntries(
                iter(
                    [
                        matcher_pb2.ImportEntriesRequest(hotlist_id="pnc", entries=entries[:1]),
                        matcher_pb2.ImportEntriesRequest(entries=entries[1:], complete=True),
                    ]
                )
            )

        assert (await load("OLD1AAA", "KEEP1BB")).imported == 2
        await load("KEEP1BB", "NEW1CCC")
        listed = {
            h.hotlist_id: h.entry_count for h in (await admin.ListHotlists(matcher_pb2.ListHotlistsRequest())).hotlists
        }
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await admin.ImportEntries(
                iter(
                    [
                        matcher_pb2.ImportEntriesRequest(
                            hotlist_id="pnc", entries=[make_entry("BAD*VRM", "pnc", entry_id="x")], complete=True
                        )
                    ]
                )
            )
    assert listed["pnc"] == 2
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "entries[0].vrm" in err.value.details()
    await send(suite, make_read("OLD1AAA"), make_read("KEEP1BB"), make_read("NEW1CCC"))
    got = {(await room.next()).hit.read.vrm for _ in range(2)}  # live or historical hits, either order
    assert got == {"KEEP1BB", "NEW1CCC"}  # the failed import changed nothing; OLD1AAA is gone


async def test_a_large_change_rebuilds_the_index_and_matching_follows(suite, room, monkeypatch, caplog):
    import logging

    import services.matcher.server as matcher_server

    caplog.set_level(logging.INFO, logger="services.matcher.server")
    monkeypatch.setattr(matcher_server, "FULL_RELOAD_AT", 2)  # as a national import would
    await add_entries(suite, make_entry("GONE1AA", "pnc"))
    entries = [make_entry(f"BULK{i}AA", "pnc", entry_id=f"bulk-{i}") for i in range(5)]
    async with channel(suite.addr("matcher"), suite.tokens[Role.HOTLIST_ADMIN]) as ch:
        await matcher_pb2_grpc.MatcherServiceStub(ch).ImportEntries(
            iter([matcher_pb2.ImportEntriesRequest(hotlist_id="pnc", entries=entries, complete=True)])
        )
    assert len(suite.running["matcher"]._component.live) == 5
    assert any(r.getMessage() == "index reloaded" for r in caplog.records)
    await send(suite, make_read("GONE1AA"), make_read("BULK3AA"), make_read("8ULK4AA"))
    hits = [(await room.next()).hit for _ in range(2)]
    assert {(h.read.vrm, h.match_kind) for h in hits} == {
        ("BULK3AA", T.MATCH_KIND_EXACT),
        ("8ULK4AA", T.MATCH_KIND_LOOKALIKE),
    }


async def test_a_hit_the_receiver_rejects_is_set_aside_and_does_not_block_the_rest(suite, room):
    conn = await asyncpg.connect(suite.database_url, server_settings={"search_path": "matcher"})
    try:
        # a record notify can never accept (no hit id), queued in the same partition ahead of a real hit
        entry = make_entry("AF11TER", "pnc")
        await conn.execute(
            "INSERT INTO outbox (topic, partition, payload) VALUES ('notify', $1, $2)",
            outbox.partition_of(entry.entry_id),
            store.traced_hit_item(T.Hit(read=make_read("XX11XXX")), ""),
        )
        await add_entries(suite, entry)
        await send(suite, make_read("AF11TER"))
        assert (await room.next()).hit.read.vrm == "AF11TER"

        async def settled():  # the relay commits its batch just after notify has the alert
            topics = [r["topic"] for r in await conn.fetch("SELECT topic FROM outbox")]
            return topics if topics == ["dead-letter:notify"] else None

        assert await eventually(settled, seconds=10) == ["dead-letter:notify"]
    finally:
        await conn.close()


async def _read_consumed_before_any_entry(suite, vrm: str) -> T.Read:
    """A read of 3 hours ago that matcher has had before its entry exists: a hit on it can only be
    historical."""
    old = make_read(vrm, captured_at=ts(datetime.now(timezone.utc) - timedelta(hours=3)))
    await send(suite, old)
    conn = await asyncpg.connect(suite.database_url)
    try:
        await eventually(lambda: _no_reads_queued(conn), seconds=15)
    finally:
        await conn.close()
    return old


async def _import_new_list(suite, hotlist_id: str, entries: list[T.VoiEntry]) -> None:
    async with channel(suite.addr("matcher"), suite.tokens[Role.HOTLIST_ADMIN]) as ch:
        admin = matcher_pb2_grpc.MatcherServiceStub(ch)
        await admin.UpsertHotlist(
            matcher_pb2.UpsertHotlistRequest(
                hotlist=T.Hotlist(
                    hotlist_id=hotlist_id,
                    name=f"National extract {hotlist_id}",
                    source=T.HOTLIST_SOURCE_PNC_NATIONAL,
                    match_policy=T.MATCH_POLICY_LOOKALIKE,
                )
            )
        )
        await admin.ImportEntries(
            iter(
                [matcher_pb2.ImportEntriesRequest(hotlist_id=hotlist_id)]
                + [
                    matcher_pb2.ImportEntriesRequest(entries=entries[i : i + 5000])
                    for i in range(0, len(entries), 5000)
                ]
                + [matcher_pb2.ImportEntriesRequest(complete=True)]
            )
        )


async def test_an_import_of_more_than_10000_entries_is_checked_against_recent_reads(suite, room, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="services.matcher.historical")
    old = await _read_consumed_before_any_entry(suite, "HS70RIC")
    wanted = make_entry("HS70 RIC", "national", entry_id="national:HS70RIC")
    entries = [make_entry(f"NB{i:05d}", "national", entry_id=f"national:{i}") for i in range(10_000)]
    await _import_new_list(suite, "national", [*entries[:6000], wanted, *entries[6000:]])  # 10,001
    hit = (await room.next()).hit
    assert hit.historical and hit.read.read_id == old.read_id
    # routed as a live hit would be: by its camera's force and position
    assert hit.force == "Test Police"
    assert not hit.location_from_camera and hit.location == old.location
    assert hit.entry.entry_id == wanted.entry_id and hit.hotlist.hotlist_id == "national"
    done = [r for r in caplog.records if r.getMessage() == "historical bulk check done"]
    assert [(r.entries, r.hits) for r in done] == [(10_001, 1)]  # one scan, not 10,001 searches


async def test_a_bulk_check_run_again_makes_no_second_alert(suite, room, monkeypatch, caplog):
    import logging

    from services.matcher import historical

    caplog.set_level(logging.INFO, logger="services.matcher.historical")
    monkeypatch.setattr(historical, "HISTORICAL_CHECKS_PER_IMPORT", 2)  # a bulk job for 3 entries
    await add_entries(suite, make_entry("SE11TTT", "pnc"))
    old = await _read_consumed_before_any_entry(suite, "HS70RIC")
    await _import_new_list(
        suite, "bulk", [make_entry(v, "bulk", entry_id=f"bulk:{v}") for v in ("HS70RIC", "AA11AAA", "BB22BBB")]
    )
    assert (await room.next()).hit.read.read_id == old.read_id
    conn = await asyncpg.connect(suite.database_url, server_settings={"search_path": "matcher"})
    try:
        first = await conn.fetchval("SELECT min(version) FROM entries WHERE hotlist_id = 'bulk'")
        async with conn.transaction():  # the same job again, as after a crash before its row was deleted
            await store.queue_bulk_check(conn, store.BulkCheck("bulk", first), "")
        await eventually(lambda: _queued(conn, "historical", 0), seconds=15)
        await send(suite, make_read("SE11TTT"))  # a live hit after the re-run
        assert (await room.next()).hit.read.vrm == "SE11TTT"
        await eventually(lambda: _queued(conn, "notify", 0), seconds=15)
        assert await conn.fetchval("SELECT count(*) FROM hits WHERE read_id = $1", old.read_id) == 1
        assert await conn.fetchval("SELECT count(*) FROM notify.alerts") == 2
        done = [r for r in caplog.records if r.getMessage() == "historical bulk check done"]
        assert [(r.entries, r.hits) for r in done] == [(3, 1), (3, 0)]  # it did run again
    finally:
        await conn.close()


async def _queued(conn, topic: str, n: int) -> bool:
    return await conn.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", topic) == n
