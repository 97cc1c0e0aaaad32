"""Notify's one statement for a batch of alerts (store.append_alerts, the function of migration 0006)
against a real PostgreSQL: consecutive sequences in the order given, a hit alerted once, each alert
stored with its camera's and its listing's force, and each list's covert flag kept at its newest
version as PublishHotlists keeps it (store.save_flags), the other replicas told when it moved on."""

from __future__ import annotations

import asyncio

import pytest

import services
from anpr.runtime import pg
from anpr.v1 import types_pb2 as T
from services.notify import store
from tests.support import make_entry, make_read


@pytest.fixture
async def conns(database_url):
    conn = await pg.connect(database_url, "notify")
    listener = await pg.connect(database_url, "notify")
    try:
        await pg.migrate(conn, "notify", services.spec("notify").migrations)
        yield conn, listener
    finally:
        await listener.close()
        await conn.close()


def hit(hit_id: str, hotlist_id: str, version: int, covert: bool, camera_force: str, listing_force: str) -> T.Hit:
    entry = make_entry("AB12CDE", hotlist_id, force=listing_force)
    hotlist = T.Hotlist(hotlist_id=hotlist_id, name=f"list {hotlist_id}", version=version, covert=covert)
    return T.Hit(hit_id=hit_id, read=make_read("AB12CDE"), entry=entry, hotlist=hotlist, force=camera_force)


async def told(listener, channel: str) -> asyncio.Queue:
    heard: asyncio.Queue = asyncio.Queue()
    await listener.add_listener(channel, lambda *args: heard.put_nowait(args[3]))
    return heard


async def test_alerts_stored_with_forces_and_the_lists_newest_flags(conns):
    conn, listener = conns
    alerts_heard, flags_heard = await told(listener, store.ALERTS_CHANNEL), await told(listener, store.HOTLISTS_CHANNEL)
    first = [
        (hit("h1", "L1", 3, False, "Camera Police", "Listing Police"), "tp-1"),
        (hit("h2", "L1", 4, True, "Camera Police", "Other Police"), ""),
        (hit("h3", "L2", 1, False, "Other Police", "Listing Police"), ""),
    ]
    stored = await store.append_alerts(conn, first)
    assert [(a.sequence, d, a.covert) for a, d in stored] == [(1, False, False), (2, False, True), (3, False, False)]
    assert await asyncio.wait_for(alerts_heard.get(), 5) == "3"
    assert flags_heard.get_nowait() == ""  # the lists' flags first, then the alerts
    rows = await conn.fetch("SELECT hit_id, camera_force, listing_force, traceparent FROM alerts ORDER BY sequence")
    assert [tuple(r) for r in rows] == [
        ("h1", "Camera Police", "Listing Police", "tp-1"),
        ("h2", "Camera Police", "Other Police", ""),
        ("h3", "Other Police", "Listing Police", ""),
    ]
    assert sorted(await store.load_flags(conn)) == [("L1", 4, True), ("L2", 1, False)]

    # a repeat, and an older version of L1: nothing new, no flag moves back, no one told of flags
    again = [(hit("h2", "L1", 4, True, "Camera Police", "Other Police"), ""), (hit("h4", "L1", 2, False, "X", "Y"), "")]
    stored = await store.append_alerts(conn, again)
    assert [(a.sequence, d) for a, d in stored] == [(2, True), (4, False)]
    assert await asyncio.wait_for(alerts_heard.get(), 5) == "4"
    assert flags_heard.empty()  # told before the alerts (the same transaction), had it been told
    assert sorted(await store.load_flags(conn)) == [("L1", 4, True), ("L2", 1, False)]
    # a newer version of L2 moves its flag on, and the replicas are told
    await store.append_alerts(conn, [(hit("h5", "L2", 2, True, "X", "Y"), "")])
    assert await asyncio.wait_for(alerts_heard.get(), 5) == "5"
    assert flags_heard.get_nowait() == ""
    assert sorted(await store.load_flags(conn)) == [("L1", 4, True), ("L2", 2, True)]
