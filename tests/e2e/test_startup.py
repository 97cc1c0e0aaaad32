"""A service that starts before its database: it listens, answers health NOT_SERVING (and
UNAVAILABLE to calls) until PostgreSQL is there and the owner has migrated its schema (it says to
run `anpr migrate`), then SERVING; SIGTERM stops it either way. A superuser's login stops it at once."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from anpr.runtime.auth import Role
from anpr.v1 import notify_pb2, notify_pb2_grpc
from cli.client import wait_serving
from cli.suite.database import migrate_all
from cli.suite.launcher import Launcher
from tests.support import channel, eventually, free_port


def notify_alone(url: str, tokens, tmp_path) -> Launcher:
    """notify as its own process (cli/suite/launcher.py), started."""
    launcher = Launcher(url, tokens, tmp_path, ports={"notify": free_port()})
    launcher.start("notify")
    return launcher


async def health(addr: str) -> int:
    async with aio.insecure_channel(addr) as ch:
        resp = await health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(), wait_for_ready=True, timeout=30
        )
        return resp.status


async def test_waits_for_the_database_and_its_migrations_then_serves(pg_url, logins, tokens, tmp_path):
    name = f"late_{uuid.uuid4().hex[:12]}"
    database = logins.database(name)
    launcher = notify_alone(database.service_url("notify"), tokens, tmp_path)
    proc, addr = launcher.procs["notify"], launcher.addr("notify")
    try:
        assert await health(addr) == health_pb2.HealthCheckResponse.NOT_SERVING
        async with channel(addr, tokens[Role.SERVICE]) as ch:
            try:
                await notify_pb2_grpc.NotifyServiceStub(ch).PublishAlert(notify_pb2.PublishAlertRequest())
                raise AssertionError("a call before the database is ready must fail")
            except grpc.aio.AioRpcError as err:
                assert err.code() == grpc.StatusCode.UNAVAILABLE
        admin = await asyncpg.connect(pg_url)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.execute(f'GRANT CREATE ON DATABASE "{name}" TO anpr_owner')
        await admin.close()
        # the database is there, its schema is not: the service waits and says what to run
        await eventually(lambda: "run `anpr migrate`" in launcher.log("notify"), seconds=30)
        assert await health(addr) == health_pb2.HealthCheckResponse.NOT_SERVING
        assert (await migrate_all(database.owner_url, ("notify",)))["notify"]
        assert await wait_serving(addr, alive=lambda: proc.poll() is None, within_s=30)  # it retries
        assert await launcher.stop("notify", 30) == 0  # SIGTERM
    finally:
        launcher.terminate()
        admin = await asyncpg.connect(pg_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_a_superuser_login_stops_the_service_at_once_naming_the_setting(database_url, tokens, tmp_path):
    launcher = notify_alone(str(database_url), tokens, tmp_path)
    code = await asyncio.to_thread(launcher.procs["notify"].wait, 60)
    assert code == 2, launcher.log("notify")
    assert "ANPR_DATABASE_URL: the database login postgres is a superuser" in launcher.log("notify")


async def test_sigterm_while_waiting_for_the_database_exits_cleanly(logins, tokens, tmp_path):
    launcher = notify_alone(logins.database(f"never_{uuid.uuid4().hex[:12]}").service_url("notify"), tokens, tmp_path)
    try:
        assert await health(launcher.addr("notify")) == health_pb2.HealthCheckResponse.NOT_SERVING
        assert await launcher.stop("notify", 30) == 0  # SIGTERM
    finally:
        launcher.terminate()
