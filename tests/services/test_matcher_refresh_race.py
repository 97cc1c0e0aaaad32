"""The matcher's refresh and compaction against concurrent changes (defect 4 of issue 8)."""

from __future__ import annotations

import asyncio

import asyncpg
import numpy as np
import pytest

from anpr.v1 import types_pb2 as T
from services.matcher import live as live_module
from services.matcher import store
from services.matcher.index import LookalikeClasses
from services.matcher.live import LiveIndex
from tests.support import InProcessSuite, eventually, make_entry


@pytest.fixture
async def matcher(database_url, tokens):
    suite = InProcessSuite(database_url, tokens)
    await suite.start(
        "matcher",
        notify_addr="127.0.0.1:9",
        firearms_addr="127.0.0.1:9",
        ingest_addr="127.0.0.1:9",
    )
    yield suite.running["matcher"]._component
    await suite.stop()


async def test_a_list_made_covert_while_a_refresh_runs_is_never_skipped(matcher, database_url):
    """The refresh reads the hotlists, then waits on the entries (held by a table lock here); meanwhile
    the list is made covert (version V1) and an entry changes (V2 > V1). The refresh must not move
    to V2 without the covert flag: hotlists and entries come from one snapshot."""
    locker = await asyncpg.connect(database_url, server_settings={"search_path": "matcher"})
    writer = await asyncpg.connect(database_url, server_settings={"search_path": "matcher"})
    try:
        patrol = await store.upsert_hotlist(writer, T.Hotlist(name="patrol", source=T.HOTLIST_SOURCE_LOCAL_FORCE))
        other = await store.upsert_hotlist(writer, T.Hotlist(name="other", source=T.HOTLIST_SOURCE_LOCAL_FORCE))
        await matcher.refresh()
        assert not matcher.live.hotlists[patrol.hotlist_id].covert
        holder = locker.transaction()
        await holder.start()
        await locker.execute("LOCK TABLE entries IN ACCESS EXCLUSIVE MODE")
        refreshing = asyncio.create_task(matcher.refresh())
        await eventually(lambda: writer.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"))
        covert = T.Hotlist()
        covert.CopyFrom(patrol)
        covert.covert = True
        await store.upsert_hotlist(writer, covert)  # V1, committed while the refresh waits
        entry = make_entry("AB12CDE", other.hotlist_id)
        await store.upsert_entry(locker, entry, "AB12CDE")  # V2 > V1, in the lock holder
        await holder.commit()
        await refreshing
        await matcher.refresh()
        assert matcher.live.hotlists[patrol.hotlist_id].covert
        assert matcher.live.index.match("AB12CDE", max_differences=0)
    finally:
        await locker.close()
        await writer.close()


async def test_a_reload_finishing_during_a_compaction_is_not_replaced_by_the_compacted_old_index(monkeypatch):
    monkeypatch.setattr(live_module, "COMPACT_AT", 5_000)
    live = LiveIndex(LookalikeClasses())
    n = 300_000
    ids = np.arange(1, n + 1, dtype=np.int64)
    vrms = np.array([f"A{i:06d}" for i in range(n)], dtype="S10")
    await live.load(1, ids, vrms)
    for i in range(6_000):
        live.index.add(f"B{i:06d}", n + 1 + i)
    compaction = asyncio.create_task(live.compact_if_needed())
    await asyncio.sleep(0)  # the compaction is running in its thread
    await live.load(2, np.array([7], dtype=np.int64), np.array([b"ZZ99ZZZ"], dtype="S10"))
    await compaction
    assert len(live) == 1 and live.index.match("ZZ99ZZZ", max_differences=0)
