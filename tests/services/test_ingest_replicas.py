"""Ingest's replicas and what they hand on: a record matcher answers for fewer reads than it was sent
(it could not read one) is refused and set aside as a dead letter, not retried for ever; a camera
registered through one replica is followed by the others."""

from __future__ import annotations

import asyncpg
import pytest
from grpc import aio

from anpr.runtime.auth import Role
from anpr.v1 import ingest_pb2, ingest_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from tests.support import InProcessSuite, channel, eventually, make_read, register_cameras


class ShortCountingMatcher(matcher_pb2_grpc.MatcherServiceServicer):
    """A real matcher endpoint that accepts one read fewer than each call carries."""

    def __init__(self) -> None:
        self.calls = 0

    async def MatchReads(self, request, context):
        self.calls += 1
        return matcher_pb2.MatchReadsResponse(accepted=len(request.reads) - 1)


@pytest.fixture
async def short_matcher():
    servicer = ShortCountingMatcher()
    server = aio.server()
    matcher_pb2_grpc.add_MatcherServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, f"127.0.0.1:{port}"
    await server.stop(0)


async def test_reads_matcher_does_not_account_for_are_dead_lettered_not_retried(database_url, tokens, short_matcher):
    matcher, addr = short_matcher
    suite = InProcessSuite(database_url, tokens)
    await suite.start("ingest", matcher_addr=addr)
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "ingest"})
    try:
        async with channel(suite.addr("ingest"), tokens[Role.CAMERA]) as ch:
            resp = await ingest_pb2_grpc.IngestServiceStub(ch).SubmitRead(
                ingest_pb2.SubmitReadRequest(read=make_read("AB12CDE"))
            )
        assert resp.result.status == ingest_pb2.READ_STATUS_STORED

        async def set_aside():
            topics = [r["topic"] for r in await conn.fetch("SELECT topic FROM outbox")]
            return topics if topics == ["dead-letter:match"] else None

        assert await eventually(set_aside, seconds=15) == ["dead-letter:match"]
        assert matcher.calls == 1  # refused at once: no retries of a record that can never be accepted
    finally:
        await conn.close()
        await suite.stop()


async def test_a_camera_registered_through_one_replica_is_followed_by_the_other(database_url, tokens):
    a, b = InProcessSuite(database_url, tokens), InProcessSuite(database_url, tokens)
    options = dict(matcher_addr="127.0.0.1:9")
    try:
        await a.start("ingest", **options)
        await b.start("ingest", **options)

        async def status_on_b(camera_id: str) -> int:
            async with channel(b.addr("ingest"), tokens[Role.CAMERA]) as ch:
                resp = await ingest_pb2_grpc.IngestServiceStub(ch).SubmitReads(
                    iter([ingest_pb2.SubmitReadsRequest(reads=[make_read("AB12CDE", camera_id=camera_id)])])
                )
            return resp.results[0].status

        assert await status_on_b("CAM-NEW") == ingest_pb2.READ_STATUS_REJECTED  # unknown to both
        await register_cameras(a.addr("ingest"), tokens, ["CAM-NEW"])

        async def stored_on_b() -> bool:
            return await status_on_b("CAM-NEW") == ingest_pb2.READ_STATUS_STORED

        assert await eventually(stored_on_b, seconds=10)  # b reloaded its registry when a changed it
    finally:
        await b.stop()
        await a.stop()
