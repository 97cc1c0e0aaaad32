"""A service that starts before its database: it listens, answers health NOT_SERVING (and
UNAVAILABLE to calls) until PostgreSQL is there, then SERVING; SIGTERM stops it either way."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid

import asyncpg
import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from anpr.runtime.auth import Role
from anpr.v1 import notify_pb2, notify_pb2_grpc
from anpr.client import wait_serving
from tests.conftest import _with_database
from tests.e2e.processes import ROOT
from tests.support import channel, free_port


async def start_notify(url: str, tokens, tmp_path) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANPR_", "OTEL_"))}
    env.update(ANPR_DATABASE_URL=url, ANPR_GRPC_PORT=str(port), ANPR_GRPC_HOST="127.0.0.1",
               ANPR_TOKENS_FILE=str(tokens.path))
    log = open(tmp_path / f"notify-{port}.log", "wb")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "anpr.cli", "serve", "notify", cwd=ROOT,
                                                env=env, stdout=log, stderr=log)
    log.close()
    return proc, f"127.0.0.1:{port}"


async def health(addr: str) -> int:
    async with aio.insecure_channel(addr) as ch:
        resp = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), wait_for_ready=True,
                                                          timeout=30)
        return resp.status


async def test_waits_for_the_database_then_serves(pg_url, tokens, tmp_path):
    name = f"late_{uuid.uuid4().hex[:12]}"
    proc, addr = await start_notify(_with_database(pg_url, name), tokens, tmp_path)
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
        assert await wait_serving(addr, alive=lambda: proc.returncode is None, timeout=30)  # it retries
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        admin = await asyncpg.connect(pg_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_sigterm_while_waiting_for_the_database_exits_cleanly(pg_url, tokens, tmp_path):
    proc, addr = await start_notify(_with_database(pg_url, f"never_{uuid.uuid4().hex[:12]}"), tokens, tmp_path)
    try:
        assert await health(addr) == health_pb2.HealthCheckResponse.NOT_SERVING
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
