"""Hostile input at the edge: limits and values the database would refuse are field violations, a bad
read fails alone (also when PostgreSQL itself refuses it), and nothing answers UNKNOWN or INTERNAL."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import grpc
import pytest

from anpr.runtime import pg
from anpr.runtime.auth import Role
from anpr.runtime.errors import field_violations_of
from anpr.runtime.failures import is_outage
from anpr.runtime.telemetry import setup_logging
from anpr.v1 import firearms_pb2, firearms_pb2_grpc, ingest_pb2, ingest_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from anpr.v1 import types_pb2 as T
from services.ingest import store
from services.ingest.validation import timestamp_utc
from services.ingest.writer import ReadWriter
from tests.support import InProcessSuite, channel, make_entry, make_read

RS = ingest_pb2.ReadStatus


@pytest.fixture
async def suite(database_url, tokens):
    suite = InProcessSuite(database_url, tokens)
    await suite.start_all()
    yield suite
    await suite.stop()


async def test_each_bad_read_of_a_batch_is_rejected_alone_naming_its_field(suite):
    far = make_read("AB12CDE")
    far.captured_at.seconds = 300_000_000_000  # beyond year 9999
    reads = [
        make_read("AB12CDE", source_id="s" * 129),
        make_read("AB12CDE"),
        make_read("AB12CDE", source_id="feed\x00"),
        make_read("AB12CDE", direction=7),
        far,
        make_read("AB12CDE", vehicle=T.VehicleDescription(make="m" * 65)),
        make_read("AB12CDE", lane=-3),
    ]
    async with channel(suite.addr("ingest"), suite.tokens[Role.CAMERA]) as ch:
        resp = await ingest_pb2_grpc.IngestServiceStub(ch).SubmitReads(
            iter([ingest_pb2.SubmitReadsRequest(reads=reads)])
        )
    assert [r.status for r in resp.results] == [
        RS.READ_STATUS_REJECTED,
        RS.READ_STATUS_STORED,
        *[RS.READ_STATUS_REJECTED] * 5,
    ]
    assert [[v.field for v in r.violations] for r in resp.results] == [
        ["reads[0].source_id"],
        [],
        ["reads[2].source_id"],
        ["reads[3].direction"],
        ["reads[4].captured_at"],
        ["reads[5].vehicle.make"],
        ["reads[6].lane"],
    ]


async def test_every_service_checks_its_contract_limits_at_the_edge(suite):
    tokens = suite.tokens
    async with channel(suite.addr("matcher"), tokens[Role.HOTLIST_ADMIN]) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await matcher_pb2_grpc.MatcherServiceStub(ch).GetEntry(
                matcher_pb2.GetEntryRequest(entry_id="e", reason="r" * 1025)
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations_of(err.value) == [("reason", "at most 1024 characters")]
        entries = [make_entry("AB12CDE", "h"), make_entry("AB12CDE", "h", information="i" * 4097)]
        with pytest.raises(grpc.aio.AioRpcError) as err:  # a request stream: each message is checked
            await matcher_pb2_grpc.MatcherServiceStub(ch).ImportEntries(
                iter([matcher_pb2.ImportEntriesRequest(hotlist_id="h", entries=entries, complete=True)])
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in field_violations_of(err.value)] == ["entries[1].information"]
    async with channel(suite.addr("firearms"), tokens[Role.TFC]) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await firearms_pb2_grpc.FirearmsServiceStub(ch).RecordDecision(
                firearms_pb2.RecordDecisionRequest(
                    decision=T.NdmDecision(activation_id="a", rationale="x" * (4 * 1024 * 1024))
                )
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in field_violations_of(err.value)] == ["decision.rationale"]
        assert "x" * 20 not in (err.value.details() or "")


async def test_a_flush_postgresql_refuses_fails_only_the_culprit_read(database_url):
    """Reads that slipped past validation (written here straight to the writer): the one PostgreSQL
    refuses is refused alone, and the other callers' reads of the same flush are stored."""
    pool = await pg.create_pool(database_url, "ingest")
    conn = await pg.connect(database_url, "ingest")
    await pg.migrate(conn, "ingest", pg.Path(store.__file__).parent / "migrations")
    await conn.close()
    writer = ReadWriter(pool, window_s=0.05)
    await writer.start()
    try:

        def new(read):
            return store.NewRead(read, "AB12CDE", timestamp_utc(read.captured_at), b"")

        good, bad, good2 = (
            new(make_read("AB12CDE")),
            new(make_read("AB12CDE", source_id="x\x00")),
            new(make_read("AB12CDE")),
        )
        other = new(make_read("AB12CDE"))
        mixed, alone = await asyncio.gather(writer.write([good, bad, good2]), writer.write([other]))
        assert mixed.stored == {good.key, good2.key} and mixed.refused == {bad.key}
        assert alone.stored == {other.key} and not alone.refused
        stored = {r["read_id"] for r in await pool.fetch("SELECT read_id FROM ingest.reads")}
        assert stored == {good.read.read_id, good2.read.read_id, other.read.read_id}
    finally:
        await writer.stop()
        await pool.close()


async def test_caller_mistakes_that_reach_the_database_are_invalid_argument(suite):
    """A duplicate entry id in an import is refused by PostgreSQL (a unique key): INVALID_ARGUMENT
    with no values in the message, never UNKNOWN."""
    async with channel(suite.addr("matcher"), suite.tokens[Role.HOTLIST_ADMIN]) as ch:
        stub = matcher_pb2_grpc.MatcherServiceStub(ch)
        h = (
            await stub.UpsertHotlist(
                matcher_pb2.UpsertHotlistRequest(hotlist=T.Hotlist(name="dups", source=T.HOTLIST_SOURCE_LOCAL_FORCE))
            )
        ).hotlist
        twice = [
            make_entry("AB12CDE", h.hotlist_id, entry_id="same"),
            make_entry("XY12ZZZ", h.hotlist_id, entry_id="same"),
        ]
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ImportEntries(
                iter([matcher_pb2.ImportEntriesRequest(hotlist_id=h.hotlist_id, entries=twice, complete=True)])
            )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "XY12ZZZ" not in err.value.details() and "same" not in err.value.details()


async def test_asyncpg_outage_errors_are_recognised():
    assert is_outage(ConnectionRefusedError()) and is_outage(asyncpg.InterfaceError("pool is closing"))
    assert not is_outage(asyncpg.UniqueViolationError())


async def test_database_errors_are_logged_without_their_values(database_url, capsys):
    """A unique violation's DETAIL names the row's values (a VRM here): the services' log format
    keeps the class, SQLSTATE and constraint, never the values."""
    setup_logging("test", "INFO")
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE TEMP TABLE plates (vrm text PRIMARY KEY)")
        vrm = "KX19" + "ZTB"  # not in the traceback's source lines either
        await conn.execute("INSERT INTO plates VALUES ($1)", vrm)
        try:
            await conn.execute("INSERT INTO plates VALUES ($1)", vrm)
        except asyncpg.UniqueViolationError:
            logging.getLogger("test").exception("store failed")
    finally:
        await conn.close()
        logging.getLogger().handlers.clear()
    line = capsys.readouterr().err
    assert "store failed" in line and "UniqueViolationError" in line and "23505" in line
    assert "KX19ZTB" not in line
