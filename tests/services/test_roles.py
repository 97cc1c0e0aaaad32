"""Who may do what: a terminal cannot acknowledge a covert alert it was never shown, and each
service works in PostgreSQL as its own role, owning only its schema."""

from __future__ import annotations

import uuid

import asyncpg
import grpc
import pytest

from anpr.runtime.auth import Role
from anpr.v1 import notify_pb2, notify_pb2_grpc
from anpr.v1 import types_pb2 as T
from tests.support import InProcessSuite, channel, make_entry, make_read


@pytest.fixture
async def suite(database_url, tokens):
    s = InProcessSuite(database_url, tokens)
    await s.start("notify")
    await s.start("ingest", matcher_addr="127.0.0.1:9")
    yield s
    await s.stop()


async def acknowledge(suite, role: Role, alert_id: str) -> None:
    async with channel(suite.addr("notify"), suite.tokens[role]) as ch:
        await notify_pb2_grpc.NotifyServiceStub(ch).AcknowledgeAlert(
            notify_pb2.AcknowledgeAlertRequest(alert_id=alert_id, outcome=T.ALERT_OUTCOME_SEEN)
        )


async def test_a_terminal_cannot_acknowledge_a_covert_alert(suite):
    hit = T.Hit(
        hit_id=str(uuid.uuid4()),
        read=make_read("AB12CDE"),
        entry=make_entry("AB12CDE", "covert-list"),
        hotlist=T.Hotlist(hotlist_id="covert-list", name="Covert", covert=True),
    )
    async with channel(suite.addr("notify"), suite.tokens[Role.SERVICE]) as ch:
        alert = await notify_pb2_grpc.NotifyServiceStub(ch).PublishAlert(notify_pb2.PublishAlertRequest(hit=hit))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await acknowledge(suite, Role.TERMINAL, alert.alert_id)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND  # as if it did not exist
    await acknowledge(suite, Role.CONTROL_ROOM, alert.alert_id)


async def test_each_service_works_as_its_own_role_owning_only_its_schema(suite, database_url):
    for name in ("notify", "ingest"):
        pool = suite.running[name]._runtime.pool
        assert await pool.fetchval("SELECT current_user") == f"anpr_{name}"
    conn = await asyncpg.connect(database_url)
    try:
        owners = {
            r["nspname"]: r["owner"]
            for r in await conn.fetch(
                "SELECT nspname, nspowner::regrole::text AS owner FROM pg_namespace WHERE nspname IN ('ingest', 'notify')"
            )
        }
        assert owners == {"ingest": "anpr_ingest", "notify": "anpr_notify"}
        tables = await conn.fetch(
            "SELECT c.relname, c.relowner::regrole::text AS owner FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'ingest' AND c.relkind IN ('r', 'p')"
        )
        assert tables and {t["owner"] for t in tables} == {"anpr_ingest"}
        await conn.execute("SET ROLE anpr_ingest")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM notify.alerts")
        assert not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    finally:
        await conn.close()
