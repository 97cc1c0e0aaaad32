"""Matcher's one statement for a batch of hits (store.record_hits, the function of migration 0005)
against a real PostgreSQL: the payloads it builds are the requests notify and firearms read, repeats in
the dedup window go to firearms (with their count) but not to notify, a hit made before is not queued
again, and the replicas leasing the partitions are told by NOTIFY unless the caller leases them."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

import services
from anpr.runtime import outbox, pg
from anpr.v1 import firearms_pb2, notify_pb2
from anpr.v1 import types_pb2 as T
from services.matcher import store
from tests.support import make_entry, make_read

AT = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
WINDOW = timedelta(minutes=10)


@pytest.fixture
async def conn(database_url):
    conn = await pg.connect(database_url, "matcher")
    try:
        await pg.migrate(conn, "matcher", services.spec("matcher").migrations)
        yield conn
    finally:
        await conn.close()


def hit(hit_id: str, entry: T.VoiEntry, traceparent: str = "") -> tuple[T.Hit, bool, str]:
    h = T.Hit(hit_id=hit_id, read=make_read(entry.vrm), entry=entry, score=1.0)
    return h, T.WARNING_MARKER_FIREARMS in entry.warning_markers, traceparent


def sighting(h: tuple[T.Hit, bool, str], minutes: int) -> store.Sighting:
    return store.Sighting(h[0].entry.entry_id, h[0].entry.vrm, "1:2", AT + timedelta(minutes=minutes))


async def test_hits_are_queued_as_the_receivers_requests_and_the_leasing_replicas_are_told(conn):
    told: asyncio.Queue[str] = asyncio.Queue()
    await conn.add_listener("matcher_outbox", lambda *a: told.put_nowait(a[3]))
    plain = hit(
        "h1", make_entry("AB12CDE", "l1", entry_id="e1"), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    )
    marked = hit("h2", make_entry("XY34ZZZ", "l1", entry_id="e2", warning_markers=[T.WARNING_MARKER_FIREARMS]))
    hits = [plain, marked]

    recorded = await store.record_hits(conn, hits, [sighting(h, 0) for h in hits], WINDOW)

    assert recorded.repeats == {"h1": 0, "h2": 0}
    notify_items = b"".join(q.record.payload for q in recorded.queued["notify"])
    assert notify_pb2.PublishAlertsRequest.FromString(notify_items) == notify_pb2.PublishAlertsRequest(
        hits=[T.TracedHit(hit=h, traceparent=t) for h, _, t in hits]
    )
    assert sorted(q.record.payload for q in recorded.queued["notify"]) == sorted(
        store.traced_hit_item(h, t) for h, _, t in hits
    )
    activations = firearms_pb2.RaiseActivationsRequest.FromString(recorded.queued["firearms"][0].record.payload)
    assert [t.hit.hit_id for t in activations.hits] == ["h2"]
    notes = {await asyncio.wait_for(told.get(), 5) for _ in range(2)}
    partitions = {outbox.partition_of(e) for e in ("e1", "e2")}
    assert notes == {f"notify:{','.join(map(str, sorted(partitions)))}", f"firearms:{outbox.partition_of('e2')}"}


async def test_a_repeat_goes_to_firearms_with_its_count_and_not_to_notify_and_nothing_twice(conn):
    marked = make_entry("XY34ZZZ", "l1", entry_id="e2", warning_markers=[T.WARNING_MARKER_FIREARMS])
    first, again = hit("h1", marked), hit("h2", marked)
    await store.record_hits(conn, [first], [sighting(first, 0)], WINDOW)

    recorded = await store.record_hits(conn, [again, first], [sighting(again, 3), sighting(first, 0)], WINDOW)

    assert recorded.repeats == {"h2": 1}  # h1 was made before
    assert "notify" not in recorded.queued
    [queued] = recorded.queued["firearms"]
    [raised] = firearms_pb2.RaiseActivationsRequest.FromString(queued.record.payload).hits
    assert raised.hit.hit_id == "h2" and raised.hit.repeat_count == 1
    assert await conn.fetchval("SELECT suppressed FROM hits WHERE hit_id = 'h2'")


async def test_no_notify_for_partitions_the_caller_leases(conn):
    told: asyncio.Queue[str] = asyncio.Queue()
    await conn.add_listener("matcher_outbox", lambda *a: told.put_nowait(a[3]))
    plain = hit("h1", make_entry("AB12CDE", "l1", entry_id="e1"))
    everything = frozenset(range(outbox.PARTITIONS))

    recorded = await store.record_hits(conn, [plain], [sighting(plain, 0)], WINDOW, lambda _topic: everything)

    assert [q.record.partition for q in recorded.queued["notify"]] == [outbox.partition_of("e1")]
    await conn.execute("SELECT 1")  # notifications come before the answer to a later query
    assert told.empty()
