"""`anpr serve` with ANPR_WORKERS: several processes on one port, stopped together by SIGTERM."""

from __future__ import annotations

import asyncio

import psutil

from anpr.runtime.auth import Role
from anpr.v1 import ingest_pb2, ingest_pb2_grpc
from cli.suite.launcher import Launcher
from tests.support import channel, eventually, free_port, logins_of, make_read, register_cameras


async def test_two_workers_share_the_port_and_stop_on_sigterm(database_url, tokens, tmp_path):
    launcher = Launcher(
        logins_of(database_url),
        tokens,
        tmp_path,
        ports={"ingest": free_port()},
        env={"ANPR_WORKERS": "2", "ANPR_MATCHER_ADDR": "127.0.0.1:9"},
    )
    proc = launcher.start("ingest")
    addr = launcher.addr("ingest")
    try:

        async def both_serving():
            return launcher.log("ingest").count('"message": "serving"') == 2 or proc.poll() is not None

        await eventually(both_serving, seconds=60)
        assert proc.poll() is None, launcher.log("ingest")[-2000:]
        workers = psutil.Process(proc.pid).children()
        assert len(workers) == 2
        await register_cameras(addr, tokens)
        reads = [make_read("AB12CDE") for _ in range(20)]
        # separate connections, so both workers take some
        for read in reads:
            async with channel(addr, tokens[Role.CAMERA]) as ch:
                await asyncio.wait_for(ch.channel_ready(), 30)
                resp = await ingest_pb2_grpc.IngestServiceStub(ch).SubmitRead(
                    ingest_pb2.SubmitReadRequest(read=read), wait_for_ready=True, timeout=30
                )
                assert resp.result.status == ingest_pb2.READ_STATUS_STORED
        assert await launcher.stop("ingest", 30) == 0  # SIGTERM to the supervisor
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive
    finally:
        launcher.terminate()
    assert launcher.log("ingest").count('"message": "stopped"') == 2
