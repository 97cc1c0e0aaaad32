"""A crash (SIGKILL) of any one service mid-feed loses nothing and doubles nothing: every
acknowledged read is stored, every listed read gives exactly one alert."""

from __future__ import annotations

import asyncio

import asyncpg
import grpc
import pytest

from anpr.runtime.auth import Role
from anpr.v1 import ingest_pb2, ingest_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from anpr.v1 import types_pb2 as T
from benchmarks.fuzzing import client_write_after_end
from tests.support import channel, make_entry, make_read, subscribe

BATCHES, PER_BATCH = 30, 10
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}


def retryable(err: grpc.aio.AioRpcError) -> bool:
    """A code a client retries on, or grpc-python's own INTERNAL for a call the dying server ended
    while the request was still being written (benchmarks.fuzzing.client_write_after_end)."""
    return err.code() in RETRYABLE or client_write_after_end(err)


async def camera(suite, batches, acked: set[str], halfway: asyncio.Event) -> None:
    """A vendor client: resubmits a batch until it is acknowledged, as the contract allows."""
    async with channel(suite.addr("ingest"), suite.tokens[Role.CAMERA]) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        for i, batch in enumerate(batches):
            while True:
                try:
                    resp = await stub.SubmitReads(
                        iter([ingest_pb2.SubmitReadsRequest(reads=batch)]), timeout=5, wait_for_ready=True
                    )
                    break
                except grpc.aio.AioRpcError as err:
                    assert retryable(err), err
            assert all(
                r.status in (ingest_pb2.READ_STATUS_STORED, ingest_pb2.READ_STATUS_DUPLICATE) for r in resp.results
            )
            acked.update(r.read_id for r in resp.results)
            if i == BATCHES // 3:
                halfway.set()


async def control_room(suite, expected: int, seen: list[T.Alert]) -> None:
    """Follows the alert log, reconnecting after the last sequence it saw."""
    after = 0
    async with channel(suite.addr("notify"), suite.tokens[Role.CONTROL_ROOM]) as ch:
        while len(seen) < expected:
            try:
                async for resp in subscribe(
                    ch, Role.CONTROL_ROOM, after_sequence=after, from_start=True, wait_for_ready=True
                ):
                    if resp.WhichOneof("event") != "alert":
                        continue
                    seen.append(resp.alert)
                    after = resp.alert.sequence
                    if len(seen) >= expected:
                        return
            except grpc.aio.AioRpcError as err:
                assert retryable(err), err


@pytest.mark.parametrize("victim", ["ingest", "matcher", "notify"])
async def test_a_crashed_service_loses_nothing(processes, database_url, victim):
    async with channel(processes.addr("matcher"), processes.tokens[Role.HOTLIST_ADMIN]) as ch:
        admin = matcher_pb2_grpc.MatcherServiceStub(ch)
        await admin.UpsertHotlist(
            matcher_pb2.UpsertHotlistRequest(
                hotlist=T.Hotlist(hotlist_id="l1", name="List", source=T.HOTLIST_SOURCE_LOCAL_FORCE)
            )
        )
        await admin.UpsertEntry(matcher_pb2.UpsertEntryRequest(entry=make_entry("AB12CDE", "l1")))

    batches = [
        [make_read("AB12CDE" if j == 0 else f"ZZ{i:02d}{j}ZZ", camera_id="CAM-M4-J12") for j in range(PER_BATCH)]
        for i in range(BATCHES)
    ]
    listed = {b[0].read_id for b in batches}
    acked: set[str] = set()
    seen: list[T.Alert] = []
    halfway = asyncio.Event()
    feed = asyncio.create_task(camera(processes, batches, acked, halfway))
    room = asyncio.create_task(control_room(processes, len(listed), seen))
    await asyncio.wait_for(halfway.wait(), 60)
    processes.kill(victim)
    await processes.restart(victim)
    await asyncio.wait_for(feed, 120)
    await asyncio.wait_for(room, 120)

    assert acked == {r.read_id for b in batches for r in b}
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM ingest.reads")
        alerts = await conn.fetchval("SELECT count(*) FROM notify.alerts")
    finally:
        await conn.close()
    assert stored == BATCHES * PER_BATCH
    assert sorted(a.hit.read.read_id for a in seen) == sorted(listed)  # each exactly once
    assert alerts == len(listed)
