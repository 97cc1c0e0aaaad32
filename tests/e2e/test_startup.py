"""A service that starts before its database: it listens, answers health NOT_SERVING (and
UNAVAILABLE to calls) until PostgreSQL is there, then SERVING; SIGTERM stops it either way."""

from __future__ import annotations

import uuid

import asyncpg
import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from anpr.runtime.auth import Role
from anpr.v1 import notify_pb2, notify_pb2_grpc
from cli.client import wait_serving
from cli.suite.launcher import Launcher
from tests.conftest import _with_database
from tests.support import channel, free_port


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


async def test_waits_for_the_database_then_serves(pg_url, tokens, tmp_path):
    name = f"late_{uuid.uuid4().hex[:12]}"
    launcher = notify_alone(_with_database(pg_url, name), tokens, tmp_path)
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
        await admin.close()
        assert await wait_serving(addr, alive=lambda: proc.poll() is None, within_s=30)  # it retries
        assert await launcher.stop("notify", 30) == 0  # SIGTERM
    finally:
        launcher.terminate()
        admin = await asyncpg.connect(pg_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_sigterm_while_waiting_for_the_database_exits_cleanly(pg_url, tokens, tmp_path):
    launcher = notify_alone(_with_database(pg_url, f"never_{uuid.uuid4().hex[:12]}"), tokens, tmp_path)
    try:
        assert await health(launcher.addr("notify")) == health_pb2.HealthCheckResponse.NOT_SERVING
        assert await launcher.stop("notify", 30) == 0  # SIGTERM
    finally:
        launcher.terminate()
