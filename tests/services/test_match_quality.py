"""Scored matching through the running chain: tiers decide who sees a hit; a read near hundreds of
entries makes at most the cap; alternative readings and the list's own profile."""

from __future__ import annotations

import asyncpg

from anpr.runtime.auth import Role
from anpr.v1 import matcher_pb2, matcher_pb2_grpc
from anpr.v1 import types_pb2 as T
from tests.services import test_matcher as chain
from tests.services.test_matcher import add_entries, send
from tests.support import channel, eventually, make_entry, make_read, next_alert, subscribe

SENTINEL = "SE11TTT"

suite, room = chain.suite, chain.room  # the matcher tests' fixtures: the chain and a control room


async def test_a_possible_match_reaches_the_control_room_and_never_a_terminal(suite, room):
    await add_entries(suite, make_entry("AB12CDE", "pnc"), make_entry(SENTINEL, "pnc"))
    async with channel(suite.addr("notify"), suite.tokens[Role.TERMINAL]) as ch:
        terminal = subscribe(ch, Role.TERMINAL, from_start=True)
        await send(suite, make_read("A812CDE", confidence=0))  # B read as 8; A812CDE is a valid plate: possible
        weak = (await room.next()).hit
        await send(suite, make_read(SENTINEL))
        seen_by_terminal = (await next_alert(terminal, 15)).hit
        terminal.cancel()
    assert weak.read.vrm == "A812CDE" and weak.entry.vrm == "AB12CDE"
    assert weak.tier == T.MATCH_TIER_POSSIBLE and 0.3 <= weak.score < 0.85 and list(weak.differing_positions) == [1]
    assert (await room.next()).hit.read.vrm == SENTINEL
    assert seen_by_terminal.read.vrm == SENTINEL and seen_by_terminal.tier == T.MATCH_TIER_CONFIRMED


async def test_a_read_near_hundreds_of_entries_makes_at_most_the_cap(suite, room, database_url):
    # every spelling of a 10-character mark in O and 0 but the read's: 55 within two look-alikes
    vrms = [format(i, "010b").replace("0", "O").replace("1", "0") for i in range(1 << 10)]
    vrms.remove("O0O0O0O0O0")  # the read is not itself listed (that would make it one exact hit)
    entries = [make_entry(v, "pnc", entry_id=f"o0:{v}") for v in vrms]
    async with channel(suite.addr("matcher"), suite.tokens[Role.HOTLIST_ADMIN]) as ch:
        await matcher_pb2_grpc.MatcherServiceStub(ch).ImportEntries(
            iter([matcher_pb2.ImportEntriesRequest(hotlist_id="pnc", entries=entries, complete=True)])
        )
    read = make_read("O0O0O0O0O0")
    await send(suite, read)
    capped = [(await room.next()).hit for _ in range(3)]  # hits go on per entry, in no set order
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "matcher"})
    try:  # the read's hits were all recorded in one transaction, before any was delivered
        made = await conn.fetchval("SELECT count(*) FROM hits WHERE read_id = $1", read.read_id)
    finally:
        await conn.close()
    assert made == 3 == len(capped)  # ANPR_MATCH_MAX_HITS
    assert {h.hits_over_cap for h in capped} == {52} and {h.read.read_id for h in capped} == {read.read_id}
    assert all(len(h.differing_positions) == 1 for h in capped)  # the best: one look-alike each


async def test_an_alternative_reading_makes_the_hit_and_says_so(suite, room):
    await add_entries(suite, make_entry("KX19ZTB", "pnc"))
    read = make_read("KX19ZTR", confidence=60.0)  # the camera's first reading (R/B: no confusion)
    read.alternatives.add(vrm="KX19ZTB", confidence=55.0)  # and its second
    await send(suite, read)
    hit = (await room.next()).hit
    assert hit.entry.vrm == "KX19ZTB" and hit.match_kind == T.MATCH_KIND_LOOKALIKE
    assert hit.tier == T.MATCH_TIER_CONFIRMED and 0.85 <= hit.score < 1.0 and hit.read.vrm == "KX19ZTR"
    assert hit.evidence[0].factor == "alternative"


async def matched(database_url) -> None:
    """Wait until matcher has had every stored read (ingest's outbox is empty)."""
    conn = await asyncpg.connect(database_url)
    try:
        await eventually(lambda: _empty(conn, "ingest.outbox WHERE topic = 'match'"), seconds=15)
    finally:
        await conn.close()


async def _empty(conn, table: str) -> bool:
    return await conn.fetchval(f"SELECT count(*) FROM {table}") == 0


async def test_a_new_entry_finds_earlier_misreads_of_it(suite, room, database_url):
    await send(suite, make_read("AB1ZCDE"), make_read("XB12CDE"))  # 2 read as Z; X and A: no confusion
    await matched(database_url)  # before the entry exists: a hit on it can only be historical
    await add_entries(suite, make_entry("AB12CDE", "pnc"))
    hit = (await room.next()).hit
    assert hit.historical and hit.read.vrm == "AB1ZCDE" and hit.match_kind == T.MATCH_KIND_LOOKALIKE
    assert hit.tier == T.MATCH_TIER_CONFIRMED and list(hit.differing_positions) == [3]
    await add_entries(suite, make_entry(SENTINEL, "pnc"))
    await send(suite, make_read(SENTINEL))
    assert (await room.next()).hit.read.vrm == SENTINEL  # and nothing from XB12CDE before it


async def test_a_historical_check_answers_as_live_matching_would(suite, room, database_url):
    """A read that is exactly one listed vehicle makes no possible hit on a look-alike entry added
    later (live matching keeps only the exact hit; the historical check must agree)."""
    await add_entries(suite, make_entry("SC01ALE", "pnc"))
    read = make_read("SC01ALE")
    await send(suite, read)
    assert (await room.next()).hit.entry.vrm == "SC01ALE"
    await add_entries(suite, make_entry("SC07ALE", "pnc"))  # 1 and 7: a confusion the matcher models
    conn = await asyncpg.connect(database_url)
    try:  # the historical check ran and everything it queued was delivered
        await eventually(lambda: _empty(conn, "matcher.outbox WHERE topic IN ('historical', 'notify')"), seconds=15)
        alerted = await conn.fetch("SELECT hit FROM notify.alerts")
    finally:
        await conn.close()
    assert [T.Hit.FromString(r["hit"]).entry.vrm for r in alerted] == ["SC01ALE"]
