"""PostgreSQL killed under load: callers only ever see success or UNAVAILABLE (never UNKNOWN or
INTERNAL, never an address), health is NOT_SERVING while it is down and SERVING once it is back,
and every read acknowledged as stored is in the database afterwards."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import uuid

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from anpr.runtime.auth import Role
from anpr.v1 import ingest_pb2, ingest_pb2_grpc
from cli.suite.database import provision
from tests.faults import KillablePostgres
from tests.support import Database, InProcessSuite, channel, eventually, free_port, make_read

RS = ingest_pb2.ReadStatus


@pytest.fixture
async def killable(tmp_path):
    server = await asyncio.to_thread(KillablePostgres, tmp_path / "pg")
    # its owner and the services' logins, the migrations applied (as anpr up does)
    server.database = Database(server.url, await provision(server.url, tmp_path / "secrets"), tmp_path / "data")
    yield server
    await asyncio.to_thread(server.cleanup)


async def health_is(addr: str, want: int) -> bool:
    return await health(addr) == want


async def health(addr: str) -> int:
    async with channel(addr, "") as ch:
        try:
            resp = await health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service="anpr.v1.IngestService"), timeout=2
            )
        except grpc.aio.AioRpcError:
            return -1
    return resp.status


async def camera(addr: str, token: str, stop: asyncio.Event, acked: set[str], codes: list) -> None:
    """Submits batches as fast as it is answered; records acknowledged read ids and every status."""
    async with channel(addr, token) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        while not stop.is_set():
            reads = [make_read("AB12CDE", read_id=f"fault-{uuid.uuid4()}") for _ in range(20)]
            try:
                resp = await stub.SubmitReads(iter([ingest_pb2.SubmitReadsRequest(reads=reads)]), timeout=10)
            except grpc.aio.AioRpcError as err:
                codes.append((err.code(), err.details()))
                await asyncio.sleep(0.05)
                continue
            codes.append((grpc.StatusCode.OK, ""))
            acked.update(r.read_id for r in resp.results if r.status == RS.READ_STATUS_STORED)


async def test_postgresql_killed_under_load(killable, tokens):
    suite = InProcessSuite(killable.database, tokens)
    await suite.start(
        "ingest",
        matcher_addr="127.0.0.1:9",
        grpc_port=free_port(),
        camera_rate_per_s=1e6,
        camera_burst=1_000_000,
    )
    addr = suite.addr("ingest")
    stop, acked, codes = asyncio.Event(), set(), []
    cameras = [asyncio.create_task(camera(addr, tokens[Role.CAMERA], stop, acked, codes)) for _ in range(4)]
    try:
        await eventually(lambda: len(acked) >= 200, 30)
        await killable.kill()
        await eventually(lambda: health_is(addr, health_pb2.HealthCheckResponse.NOT_SERVING), 30)
        failures = len([c for c, _ in codes if c != grpc.StatusCode.OK])
        await eventually(lambda: len([c for c, _ in codes if c != grpc.StatusCode.OK]) > failures + 3, 30)
        await killable.start()
        await eventually(lambda: health_is(addr, health_pb2.HealthCheckResponse.SERVING), 30)
        before = len(acked)
        await eventually(lambda: len(acked) >= before + 200, 30)
    finally:
        stop.set()
        await asyncio.gather(*cameras)
        await suite.stop()
    seen = {c for c, _ in codes}
    assert seen <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}, seen
    assert grpc.StatusCode.UNAVAILABLE in seen
    assert not [d for c, d in codes if "127.0.0.1" in d or "Error" in d or "/tmp" in d]
    conn = await asyncpg.connect(killable.url)
    try:
        stored = {r["read_id"] for r in await conn.fetch("SELECT read_id FROM ingest.reads")}
    finally:
        await conn.close()
    assert acked <= stored, f"{len(acked - stored)} acknowledged reads were lost"


class _KillAfterMigrations(logging.Handler):
    """Kills PostgreSQL the first time the service logs that its migrations are applied, i.e. just
    before the component's own start (loading state) runs."""

    def __init__(self, killable: KillablePostgres):
        super().__init__()
        self.killable = killable
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        if record.getMessage() == "migrations ready" and self.messages.count("migrations ready") == 1:
            os.kill(self.killable.pid(), signal.SIGQUIT)


async def test_a_connection_lost_during_start_up_is_retried_not_fatal(killable, tokens):
    handler = _KillAfterMigrations(killable)
    logger = logging.getLogger("anpr.runtime.server")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    suite = InProcessSuite(killable.database, tokens)
    starting = asyncio.create_task(suite.start("ingest", matcher_addr="127.0.0.1:9", grpc_port=free_port()))
    try:
        await eventually(lambda: "waiting for PostgreSQL" in handler.messages, 30)
        assert not starting.done()  # still trying, not exited
        await killable.start()
        await asyncio.wait_for(starting, 60)
        assert await health(suite.addr("ingest")) == health_pb2.HealthCheckResponse.SERVING
        assert handler.messages.count("migrations ready") >= 2
    finally:
        logger.removeHandler(handler)
        if not starting.done():
            starting.cancel()
        await suite.stop()


async def test_a_background_job_that_fails_turns_the_service_not_serving_and_keeps_it_so(database_url, tokens):
    """A critical task that dies (a relay, a follower) leaves a service that can no longer do its
    job: health says so at once, and a database probe that succeeds does not turn it back."""
    suite = InProcessSuite(database_url, tokens)
    try:
        await suite.start("ingest", matcher_addr="127.0.0.1:9")
        addr = suite.addr("ingest")
        assert await health(addr) == health_pb2.HealthCheckResponse.SERVING
        running = suite.running["ingest"]

        async def broken():
            raise KeyError("a bug")

        running._runtime.tasks.start("a-relay", broken())
        assert await eventually(lambda: health_is(addr, health_pb2.HealthCheckResponse.NOT_SERVING))
        assert running.broken == "a-relay"
        assert await running._watch.probe()  # the database is fine, and what the watch would then do:
        await running._set_health(True)
        assert await health(addr) == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        await suite.stop()
