"""Ingest on a real port with a real PostgreSQL: per-read results, durability, auth."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta, timezone

import asyncpg
import grpc
import pytest

from anpr.runtime.auth import Role
from anpr.runtime.config import ConfigError
from anpr.runtime.errors import field_violations_of
from anpr.v1 import ingest_pb2, ingest_pb2_grpc
from anpr.v1 import types_pb2 as T
from services.ingest import store
from services.ingest.config import IngestSettings
from services.ingest.server import run_retention
from tests.support import InProcessSuite, channel, make_read, ts

RS = ingest_pb2.ReadStatus


@pytest.fixture
async def ingest(database_url, tokens):
    suite = InProcessSuite(database_url, tokens)
    # matcher is not running: reads must still be stored and acknowledged (they wait in the outbox)
    await suite.start("ingest", matcher_addr="127.0.0.1:9")
    yield suite
    await suite.stop()


def stub(suite, role: Role | None):
    ch = channel(suite.addr("ingest"), suite.tokens[role] if role else None)
    return ch, ingest_pb2_grpc.IngestServiceStub(ch)


async def stored_ids(database_url) -> set[str]:
    conn = await asyncpg.connect(database_url)
    try:
        return {r["read_id"] for r in await conn.fetch("SELECT read_id FROM ingest.reads")}
    finally:
        await conn.close()


async def test_bad_read_is_rejected_alone_and_the_rest_of_the_batch_is_stored(ingest, database_url):
    good1, bad, good2 = make_read("AB12 CDE"), make_read("AB12*CDE!"), make_read("xy70abc")
    ch, s = stub(ingest, Role.CAMERA)
    async with ch:
        resp = await s.SubmitReads(iter([ingest_pb2.SubmitReadsRequest(reads=[good1, bad, good2])]))
    assert [r.status for r in resp.results] == [RS.READ_STATUS_STORED, RS.READ_STATUS_REJECTED, RS.READ_STATUS_STORED]
    assert [v.field for v in resp.results[1].violations] == ["reads[1].vrm"]
    assert "A-Z" in resp.results[1].violations[0].description
    assert await stored_ids(database_url) == {good1.read_id, good2.read_id}


async def test_every_invalid_field_is_named(ingest):
    read = make_read(
        "",
        confidence=140.0,
        location=T.GeoPoint(latitude=95.0, longitude=-0.1),
        captured_at=ts(datetime.now(timezone.utc) + timedelta(hours=2)),
    )
    read.plate_image = b"\xff" * (1024 * 1024 + 1)
    read.ClearField("camera_id")
    ch, s = stub(ingest, Role.CAMERA)
    async with ch:
        resp = await s.SubmitReads(iter([ingest_pb2.SubmitReadsRequest(reads=[read])]))
    fields = {v.field for v in resp.results[0].violations}
    assert fields == {
        "reads[0].vrm",
        "reads[0].confidence",
        "reads[0].location.latitude",
        "reads[0].captured_at",
        "reads[0].plate_image",
        "reads[0].camera_id",
    }


async def test_unary_bad_read_gets_invalid_argument_with_field_violations(ingest, database_url):
    ch, s = stub(ingest, Role.CAMERA)
    async with ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await s.SubmitRead(ingest_pb2.SubmitReadRequest(read=make_read("TOOLONGPLATE123")))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in field_violations_of(err.value)] == ["read.vrm"]
    assert await stored_ids(database_url) == set()


async def test_resubmitting_a_read_is_a_duplicate_and_stores_one_row(ingest, database_url):
    read = make_read("AB12CDE")
    ch, s = stub(ingest, Role.CAMERA)
    async with ch:
        first = await s.SubmitRead(ingest_pb2.SubmitReadRequest(read=read))
        again = await s.SubmitReads(iter([ingest_pb2.SubmitReadsRequest(reads=[read, read])]))
    assert first.result.status == RS.READ_STATUS_STORED
    assert [r.status for r in again.results] == [RS.READ_STATUS_DUPLICATE, RS.READ_STATUS_DUPLICATE]
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM ingest.reads") == 1
        # one outbox record to matcher, not three
        assert await conn.fetchval("SELECT count(*) FROM ingest.outbox") == 1
    finally:
        await conn.close()


async def test_bidirectional_stream_acknowledges_each_batch(ingest):
    ch, s = stub(ingest, Role.CAMERA)
    batches = [
        ingest_pb2.StreamReadsRequest(batch_id=f"b{i}", reads=[make_read("AB12CDE"), make_read("1")]) for i in range(3)
    ]
    async with ch:
        call = s.StreamReads()
        acks = []
        for batch in batches:
            await call.write(batch)
            acks.append(await call.read())
        await call.done_writing()
    assert [a.batch_id for a in acks] == ["b0", "b1", "b2"]
    assert all([r.status for r in a.results] == [RS.READ_STATUS_STORED] * 2 for a in acks)


async def test_oversized_batch_gets_resource_exhausted(ingest):
    ch, s = stub(ingest, Role.CAMERA)
    async with ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await s.SubmitReads(iter([ingest_pb2.SubmitReadsRequest(reads=[make_read("AB12CDE")] * 501)]))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "500" in err.value.details()


async def test_call_without_token_is_unauthenticated(ingest):
    ch, s = stub(ingest, None)
    async with ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await s.SubmitRead(ingest_pb2.SubmitReadRequest(read=make_read("AB12CDE")))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_unknown_token_is_unauthenticated(ingest):
    ch = channel(ingest.addr("ingest"), "not-a-token")
    async with ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await ingest_pb2_grpc.IngestServiceStub(ch).SubmitRead(
                ingest_pb2.SubmitReadRequest(read=make_read("AB12CDE"))
            )
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("role", [Role.TERMINAL, Role.TFC, Role.CONTROL_ROOM])
async def test_other_roles_may_not_submit_reads(ingest, database_url, role):
    ch, s = stub(ingest, role)
    async with ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await s.SubmitReads(iter([ingest_pb2.SubmitReadsRequest(reads=[make_read("AB12CDE")])]))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await stored_ids(database_url) == set()


async def test_images_are_returned_to_the_control_room_of_the_force_only_with_a_reason_and_audited(
    ingest, database_url
):
    read = make_read("AB12CDE", plate_image=b"\xff\xd8patch", overview_image=b"\xff\xd8overview")
    why = "incident 4411: confirm the vehicle"
    ch, cam = stub(ingest, Role.CAMERA)
    async with ch:
        await cam.SubmitRead(ingest_pb2.SubmitReadRequest(read=read))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await cam.GetRead(ingest_pb2.GetReadRequest(read_id=read.read_id, reason=why))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    ch, room = stub(ingest, Role.CONTROL_ROOM)  # national
    async with ch, channel(ingest.addr("ingest"), ingest.tokens.named("tv-room")) as other_ch:
        with pytest.raises(grpc.aio.AioRpcError) as no_reason:
            await room.GetRead(ingest_pb2.GetReadRequest(read_id=read.read_id))
        got = (await room.GetRead(ingest_pb2.GetReadRequest(read_id=read.read_id, reason=why))).read
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await room.GetRead(ingest_pb2.GetReadRequest(read_id="no-such-read", reason=why))
        with pytest.raises(grpc.aio.AioRpcError) as other_force:  # Thames Valley's room; a Test Police camera
            await ingest_pb2_grpc.IngestServiceStub(other_ch).GetRead(
                ingest_pb2.GetReadRequest(read_id=read.read_id, reason=why)
            )
    assert [f for f, _ in field_violations_of(no_reason.value)] == ["reason"]
    assert (got.plate_image, got.overview_image, got.vrm) == (b"\xff\xd8patch", b"\xff\xd8overview", "AB12CDE")
    assert missing.value.code() == other_force.value.code() == grpc.StatusCode.NOT_FOUND
    assert missing.value.details() == other_force.value.details()  # another force's read is not told of
    conn = await asyncpg.connect(database_url)
    try:
        audit = await conn.fetch(
            "SELECT read_id, subject, role, viewer, reason, shown FROM ingest.read_audit ORDER BY id"
        )
        await conn.execute("SET ROLE anpr_ingest")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):  # the audit is append-only for the service
            await conn.execute("DELETE FROM ingest.read_audit")
    finally:
        await conn.close()
    assert [tuple(r) for r in audit] == [
        (read.read_id, "test-control_room", "control_room", "test-control_room", why, True),
        ("no-such-read", "test-control_room", "control_room", "test-control_room", why, False),
        (read.read_id, "tv-room", "control_room", "tv-room", why, False),
    ]


async def test_a_second_server_on_a_taken_port_fails_at_start_naming_the_setting(ingest, database_url, tokens):
    taken = ingest.running["ingest"].port
    other = InProcessSuite(database_url, tokens)
    with pytest.raises(ConfigError) as err:
        await other.start("notify", grpc_port=taken)
    assert "ANPR_GRPC_PORT" in str(err.value) and str(taken) in str(err.value)
    assert not other.running  # nothing left behind


async def scan(s, **request) -> list[ingest_pb2.ScanReadsResponse]:
    return [page async for page in s.ScanReads(ingest_pb2.ScanReadsRequest(**request))]


async def test_scan_reads_streams_the_reads_of_the_window_in_pages_without_images(ingest):
    now = datetime.now(timezone.utc)
    recent = [make_read(f"SC{i}NAA", captured_at=ts(now - timedelta(hours=i))) for i in range(1, 6)]
    recent[0].plate_image = b"\xff\xd8jpeg"
    older = make_read("OLD1SCA", captured_at=ts(now - timedelta(hours=30)))
    ch, s = stub(ingest, Role.CAMERA)
    async with ch:
        resp = await s.SubmitReads(iter([ingest_pb2.SubmitReadsRequest(reads=[*recent, older])]))
    assert all(r.status == RS.READ_STATUS_STORED for r in resp.results)
    ch, s = stub(ingest, Role.SERVICE)
    async with ch:
        pages = await scan(s, lookback_seconds=24 * 3600, page_size=2)
        default = await scan(s, lookback_seconds=24 * 3600)
    assert [len(p.reads) for p in pages] == [2, 2, 1]
    got = {r.read_id: r for p in pages for r in p.reads}
    assert set(got) == {r.read_id for r in recent}  # not the read of 30 hours ago
    assert got[recent[0].read_id].vrm == recent[0].vrm and got[recent[0].read_id].plate_image == b""
    assert got[recent[0].read_id].captured_at == recent[0].captured_at
    assert [len(p.reads) for p in default] == [5]


async def test_scan_reads_names_a_bad_window_or_page_size(ingest):
    ch, s = stub(ingest, Role.SERVICE)
    async with ch:
        errors = []
        for request in (
            {"lookback_seconds": 0},
            {"lookback_seconds": 10_000 * 86400},
            {"lookback_seconds": 60, "page_size": 5001},
        ):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await scan(s, **request)
            errors.append(err.value)
    assert [e.code() for e in errors] == [grpc.StatusCode.INVALID_ARGUMENT] * 3
    assert [[f for f, _ in field_violations_of(e)] for e in errors] == [
        ["lookback_seconds"],
        ["lookback_seconds"],
        ["page_size"],
    ]


async def test_scan_reads_is_for_services_only(ingest):
    for role in (Role.CAMERA, Role.CONTROL_ROOM):
        ch, s = stub(ingest, role)
        async with ch:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await scan(s, lookback_seconds=60)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_retention_does_not_wait_for_a_scan_and_drops_the_day_later(ingest, database_url):
    now = datetime.now(timezone.utc)
    expired = (now - timedelta(days=400)).date()
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "ingest"})
    scanning = await asyncpg.connect(database_url, server_settings={"search_path": "ingest"})
    try:
        await store.ensure_partitions(conn, {expired})
        await conn.execute(
            "INSERT INTO reads (read_id, captured_at, vrm, vrm_normalised, confidence, camera_id)"
            " VALUES ('r1', now(), 'AB12CDE', 'AB12CDE', 90, 'CAM-M1-J4-N')"
        )
        settings = IngestSettings(matcher_addr="x", oidc_issuer="http://127.0.0.1/unused", service_client_secret="x")
        async with contextlib.aclosing(store.scan_reads(scanning, now - timedelta(hours=1), 1)) as pages:
            assert len(await anext(pages)) == 1  # a scan is open (its transaction holds the reads table)
            during = await asyncio.wait_for(run_retention(conn, settings, now=now), 10)
        after = await run_retention(conn, settings, now=now)
    finally:
        await conn.close()
        await scanning.close()
    assert f"reads_p{expired:%Y%m%d}" not in during  # skipped, not waited for
    assert f"reads_p{expired:%Y%m%d}" in after
