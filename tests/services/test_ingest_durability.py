"""Ingest for camera vendors: camera registry, rate limits, message limits, partitions and
retention, and matcher being down while reads arrive."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import asyncpg
import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from anpr.runtime.auth import Role
from anpr.v1 import ingest_pb2, ingest_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from anpr.v1 import types_pb2 as T
from services.ingest.config import IngestSettings
from services.ingest.server import run_retention
from tests.support import (
    InProcessSuite,
    channel,
    eventually,
    free_port,
    make_entry,
    make_read,
    next_alert,
    register_cameras,
    subscribe,
    ts,
)

RS = ingest_pb2.ReadStatus


async def submit(suite, reads, role=Role.CAMERA) -> list[ingest_pb2.ReadResult]:
    async with channel(suite.addr("ingest"), suite.tokens[role]) as ch:
        resp = await ingest_pb2_grpc.IngestServiceStub(ch).SubmitReads(
            iter([ingest_pb2.SubmitReadsRequest(reads=reads)])
        )
    return list(resp.results)


@pytest.fixture
async def ingest(database_url, tokens):
    suite = InProcessSuite(database_url, tokens)
    await suite.start(
        "ingest", matcher_addr="127.0.0.1:9", camera_rate_per_s=0.01, camera_burst=3
    )  # no refill within a test
    yield suite
    await suite.stop()


async def test_unknown_and_disabled_cameras_are_rejected_by_field(ingest):
    await register_cameras(ingest.addr("ingest"), ingest.tokens, ["CAM-OFF"], enabled=False)
    results = await submit(
        ingest,
        [make_read("AB12CDE", camera_id="CAM-NOPE"), make_read("AB12CDE", camera_id="CAM-OFF"), make_read("AB12CDE")],
    )
    assert [r.status for r in results] == [RS.READ_STATUS_REJECTED, RS.READ_STATUS_REJECTED, RS.READ_STATUS_STORED]
    assert results[0].violations[0].field == "reads[0].camera_id"
    assert "unknown camera" in results[0].violations[0].description
    assert "disabled" in results[1].violations[0].description


async def test_camera_registry_is_admin_only_and_listed(ingest):
    async with channel(ingest.addr("ingest"), ingest.tokens[Role.CAMERA]) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await ingest_pb2_grpc.IngestServiceStub(ch).UpsertCamera(
                ingest_pb2.UpsertCameraRequest(camera=T.Camera(camera_id="X", enabled=True))
            )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    async with channel(ingest.addr("ingest"), ingest.tokens[Role.CONTROL_ROOM]) as ch:
        cams = (await ingest_pb2_grpc.IngestServiceStub(ch).ListCameras(ingest_pb2.ListCamerasRequest())).cameras
    assert {c.camera_id for c in cams} == {"CAM-TEST-1", "CAM-M4-J12", "CAM-A34-N"}
    assert all(c.enabled and c.force == "Test Police" for c in cams)


async def test_a_camera_over_its_rate_is_throttled_and_told_when_to_retry(ingest):
    results = await submit(
        ingest,
        [make_read("AB12CDE", camera_id="CAM-M4-J12") for _ in range(5)]
        + [make_read("AB12CDE", camera_id="CAM-A34-N")],
    )
    assert [r.status for r in results] == [RS.READ_STATUS_STORED] * 3 + [RS.READ_STATUS_THROTTLED] * 2 + [
        RS.READ_STATUS_STORED
    ]  # other cameras are not affected
    async with channel(ingest.addr("ingest"), ingest.tokens[Role.CAMERA]) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await ingest_pb2_grpc.IngestServiceStub(ch).SubmitRead(
                ingest_pb2.SubmitReadRequest(read=make_read("AB12CDE", camera_id="CAM-M4-J12"))
            )
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(err.value)
    retry = error_details_pb2.RetryInfo()
    assert any(d.Unpack(retry) for d in status.details) and retry.retry_delay.ToMilliseconds() > 0


async def test_a_message_over_the_size_limit_gets_resource_exhausted(ingest):
    read = make_read("AB12CDE")
    read.overview_image = b"\xff" * (9 * 1024 * 1024)
    async with channel(ingest.addr("ingest"), ingest.tokens[Role.CAMERA]) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await ingest_pb2_grpc.IngestServiceStub(ch).SubmitRead(ingest_pb2.SubmitReadRequest(read=read))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_concurrent_resubmissions_store_one_row_and_answer_one_stored(ingest, database_url):
    read = make_read("AB12CDE", camera_id="CAM-A34-N")
    results = await asyncio.gather(*(submit(ingest, [read]) for _ in range(3)))
    statuses = sorted(r[0].status for r in results)
    assert statuses == [RS.READ_STATUS_STORED, RS.READ_STATUS_DUPLICATE, RS.READ_STATUS_DUPLICATE]
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM ingest.reads WHERE read_id = $1", read.read_id) == 1
        assert await conn.fetchval("SELECT count(*) FROM ingest.outbox") == 1
    finally:
        await conn.close()


async def test_reads_land_in_day_partitions_and_retention_drops_old_days(ingest, database_url):
    now = datetime.now(timezone.utc)
    two_days_ago = make_read("AB12CDE", camera_id="CAM-M4-J12", captured_at=ts(now - timedelta(days=2)))
    today = make_read("XY34ZZZ", camera_id="CAM-A34-N", plate_image=b"\xff\xd8patch")
    assert [r.status for r in await submit(ingest, [two_days_ago, today])] == [RS.READ_STATUS_STORED] * 2
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "ingest"})
    try:
        where = await conn.fetch("SELECT read_id, tableoid::regclass::text AS part FROM reads")
        parts = {r["read_id"]: r["part"] for r in where}
        assert parts[two_days_ago.read_id] == f"reads_p{now - timedelta(days=2):%Y%m%d}"
        assert parts[today.read_id] == f"reads_p{now:%Y%m%d}"

        settings = IngestSettings(
            matcher_addr="x", oidc_issuer="http://127.0.0.1/unused", service_client_secret="x", read_retention_days=1
        )
        dropped = await run_retention(conn, settings, now=now)
        assert f"reads_p{now - timedelta(days=2):%Y%m%d}" in dropped
        assert f"reads_p{now:%Y%m%d}" not in dropped
        left = {r["read_id"] for r in await conn.fetch("SELECT read_id FROM reads")}
        assert left == {today.read_id}
        assert await conn.fetchval("SELECT count(*) FROM read_images") == 1
    finally:
        await conn.close()


async def test_reads_sent_while_matcher_is_down_are_all_matched_once_it_is_back(database_url, tokens):
    suite = InProcessSuite(database_url, tokens)
    matcher_port = free_port()
    try:
        await suite.start("notify")
        await suite.start("firearms")
        matcher_opts = dict(
            grpc_port=matcher_port,
            notify_addr=suite.addr("notify"),
            firearms_addr=suite.addr("firearms"),
            ingest_addr="127.0.0.1:9",
            dedup_window_s=0,
        )
        await suite.start("matcher", **matcher_opts)
        await suite.start("ingest", matcher_addr=f"127.0.0.1:{matcher_port}")
        async with channel(suite.addr("matcher"), tokens[Role.HOTLIST_ADMIN]) as ch:
            admin = matcher_pb2_grpc.MatcherServiceStub(ch)
            await admin.UpsertHotlist(
                matcher_pb2.UpsertHotlistRequest(
                    hotlist=T.Hotlist(hotlist_id="l1", name="List", source=T.HOTLIST_SOURCE_LOCAL_FORCE)
                )
            )
            await admin.UpsertEntry(matcher_pb2.UpsertEntryRequest(entry=make_entry("AB12CDE", "l1")))

        await suite.running.pop("matcher").stop()
        reads = [make_read("AB12CDE", camera_id="CAM-M4-J12") for _ in range(5)]
        reads += [make_read("ZZ11ZZZ", camera_id="CAM-M4-J12") for _ in range(5)]
        assert all(r.status == RS.READ_STATUS_STORED for r in await submit(suite, reads))
        # resubmitting while matcher is down must not double anything either
        assert all(r.status == RS.READ_STATUS_DUPLICATE for r in await submit(suite, reads[:5]))

        async with channel(suite.addr("notify"), tokens[Role.CONTROL_ROOM]) as ch:
            stream = subscribe(ch, Role.CONTROL_ROOM, from_start=True)
            await suite.start("matcher", **matcher_opts)
            alerts = [await next_alert(stream, 30) for _ in range(5)]
            stream.cancel()
        assert sorted(a.hit.read.read_id for a in alerts) == sorted(r.read_id for r in reads[:5])
        # in camera order
        assert [a.hit.read.read_id for a in alerts] == [r.read_id for r in reads[:5]]
        conn = await asyncpg.connect(database_url)
        try:
            # ingest deletes its outbox rows once matcher has answered (the alerts may come first)
            async def drained():
                return await conn.fetchval("SELECT count(*) FROM ingest.outbox") == 0

            await eventually(drained)
            assert await conn.fetchval("SELECT count(*) FROM notify.alerts") == 5
        finally:
            await conn.close()
    finally:
        await suite.stop()


async def test_the_same_read_twice_in_one_flush_is_stored_and_queued_once(ingest, database_url):
    from services.ingest import store
    from services.ingest.validation import timestamp_utc

    read = make_read("AB12CDE", plate_image=b"\xff\xd8patch")
    new = store.NewRead(read, "AB12CDE", timestamp_utc(read.captured_at), b"")
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "ingest"})
    try:
        async with conn.transaction():
            stored = await store.store_reads(conn, [new, new, new])
        counts = [await conn.fetchval(f"SELECT count(*) FROM {t}") for t in ("reads", "read_images", "outbox")]
    finally:
        await conn.close()
    assert stored == {new.key}
    assert counts == [1, 1, 1]
