"""Who may do what: a terminal cannot acknowledge a covert alert it was never shown, and each
service logs in to PostgreSQL as its own role, which owns nothing (the owner runs the migrations) and
is never a superuser; a service refuses to start with the administrator's or the owner's login."""

from __future__ import annotations

import uuid

import asyncpg
import grpc
import pytest

from anpr.runtime import dbroles
from anpr.runtime.auth import Role
from anpr.runtime.config import ConfigError
from anpr.v1 import identity_pb2, identity_pb2_grpc, notify_pb2, notify_pb2_grpc
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


async def test_each_service_logs_in_as_its_own_role_which_owns_nothing(suite, database_url):
    for name in ("notify", "ingest"):
        pool = suite.running[name]._runtime.pool
        assert await pool.fetchval("SELECT session_user") == f"anpr_{name}"
        assert await pool.fetchval("SELECT current_user") == f"anpr_{name}"
    conn = await asyncpg.connect(database_url)
    try:
        owners = {
            r["nspname"]: r["owner"]
            for r in await conn.fetch(
                "SELECT nspname, nspowner::regrole::text AS owner FROM pg_namespace"
                " WHERE nspname IN ('ingest', 'matcher', 'notify', 'firearms')"
            )
        }
        assert owners == dict.fromkeys(("ingest", "matcher", "notify", "firearms"), "anpr_owner")
        owned = await conn.fetchval(
            "SELECT count(*) FROM pg_class WHERE relowner::regrole::text LIKE 'anpr\\_%' AND relowner <> 'anpr_owner'::regrole"
        )
        assert owned == 0
        roles = await conn.fetch(
            "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolcanlogin FROM pg_roles WHERE rolname LIKE 'anpr\\_%'"
        )
        assert {r["rolname"] for r in roles} >= {
            "anpr_owner",
            "anpr_ingest",
            "anpr_matcher",
            "anpr_notify",
            "anpr_firearms",
        }
        assert not any(r["rolsuper"] or r["rolcreaterole"] or r["rolcreatedb"] for r in roles)
    finally:
        await conn.close()
    ingest = await asyncpg.connect(database_url.service_url("ingest"))
    try:
        for statement in (
            "SELECT * FROM notify.alerts",
            "SELECT * FROM firearms.event_log",
            "DELETE FROM ingest.reads",
            "UPDATE ingest.reads SET vrm = 'X'",
            "CREATE TABLE ingest.mine (x int)",
            "SET ROLE anpr_owner",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await ingest.execute(statement)
    finally:
        await ingest.close()


async def test_a_service_refuses_a_superuser_or_the_owner_login(database_url, tokens):
    for url in (str(database_url), database_url.owner_url):  # the administrator's, the owner's
        suite = InProcessSuite(url, tokens)
        with pytest.raises(
            ConfigError, match=r"ANPR_DATABASE_URL: the database login \S+ (is a superuser|owns schema notify)"
        ):
            await suite.start("notify")


async def test_a_login_that_may_act_as_the_owner_is_refused_too(database_url, tokens):
    role = f"t_member_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'member' IN ROLE anpr_owner")
        suite = InProcessSuite(dbroles.with_login(database_url, role, "member"), tokens)
        with pytest.raises(
            ConfigError, match=rf"the database login {role} owns schema notify \(or may act as its owner\)"
        ):
            await suite.start("notify")
    finally:
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


async def test_every_service_tells_a_caller_who_it_is(suite):
    for service in ("notify", "ingest"):
        for role in (Role.TERMINAL, Role.TFC, Role.CAMERA_ADMIN):
            async with channel(suite.addr(service), suite.tokens[role]) as ch:
                me = await identity_pb2_grpc.IdentityServiceStub(ch).WhoAmI(identity_pb2.WhoAmIRequest())
            assert (me.role, me.subject) == (str(role), f"test-{role}")
    async with channel(suite.addr("notify"), "not-a-token") as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await identity_pb2_grpc.IdentityServiceStub(ch).WhoAmI(identity_pb2.WhoAmIRequest())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
