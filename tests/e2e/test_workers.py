"""`anpr serve` with ANPR_WORKERS: several processes on one port, stopped together by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import psutil

from anpr.runtime.auth import Role
from anpr.v1 import ingest_pb2, ingest_pb2_grpc
from tests.e2e.processes import ROOT
from tests.support import channel, eventually, free_port, make_read, register_cameras


async def test_two_workers_share_the_port_and_stop_on_sigterm(database_url, tokens, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANPR_", "OTEL_"))}
    env.update(ANPR_WORKERS="2", ANPR_GRPC_PORT=str(port), ANPR_GRPC_HOST="127.0.0.1",
               ANPR_DATABASE_URL=database_url, ANPR_TOKENS_FILE=str(tokens.path),
               ANPR_MATCHER_ADDR="127.0.0.1:9", ANPR_SERVICE_TOKEN=tokens[Role.SERVICE])
    log = open(tmp_path / "ingest.log", "wb")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "anpr.cli", "serve", "ingest", cwd=ROOT,
                                                env=env, stdout=log, stderr=log)
    addr = f"127.0.0.1:{port}"
    log_text = lambda: (tmp_path / "ingest.log").read_text(errors="replace")  # noqa: E731
    try:
        async def both_serving():
            return log_text().count('"message": "serving"') == 2 or proc.returncode is not None

        await eventually(both_serving, seconds=60)
        assert proc.returncode is None, log_text()[-2000:]
        workers = psutil.Process(proc.pid).children()
        assert len(workers) == 2
        await register_cameras(addr, tokens)
        reads = [make_read("AB12CDE") for _ in range(20)]
        # separate connections, so both workers take some
        for read in reads:
            async with channel(addr, tokens[Role.CAMERA]) as ch:
                await asyncio.wait_for(ch.channel_ready(), 30)
                resp = await ingest_pb2_grpc.IngestServiceStub(ch).SubmitRead(
                    ingest_pb2.SubmitReadRequest(read=read), wait_for_ready=True, timeout=30)
                assert resp.result.status == ingest_pb2.READ_STATUS_STORED
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()
    assert log_text().count('"message": "stopped"') == 2
