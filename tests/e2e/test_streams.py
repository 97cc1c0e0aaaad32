"""No identity can hoard notify's streams (a notify process, anpr.runtime.streams): a limit of open
streams per identity, a stream that is not read closed with RESOURCE_EXHAUSTED, and streams that
clients cancel, mid-write too, logging nothing worse than a debug line."""

from __future__ import annotations

import asyncio
import json
import uuid

import grpc
import pytest
from grpc import aio

from anpr.runtime.auth import Role, bearer_interceptors
from anpr.v1 import notify_pb2, notify_pb2_grpc
from anpr.v1 import types_pb2 as T
from cli.suite.launcher import Launcher
from tests.support import channel, eventually, free_port, make_entry, make_read, next_alert, next_message, subscribe

LIMIT = 4


@pytest.fixture
async def notify(database_url, tokens, tmp_path):
    launcher = Launcher(
        database_url,
        tokens,
        tmp_path,
        ports={"notify": free_port()},
        env={"ANPR_MAX_STREAMS_PER_IDENTITY": str(LIMIT), "ANPR_STREAM_WRITE_TIMEOUT_S": "1"},
    )
    launcher.start("notify")
    try:
        await launcher.wait_serving("notify")
        yield launcher
    finally:
        launcher.terminate()


async def publish(notify, n: int) -> None:
    hits = []
    for _ in range(n):
        read = make_read("AB12CDE")
        hit = T.Hit(
            hit_id=str(uuid.uuid4()),
            read=read,
            entry=make_entry("AB12CDE", "list-1"),
            hotlist=T.Hotlist(hotlist_id="list-1", name="Force list"),
            force="Test Police",
            location=read.location,
        )
        hits.append(T.TracedHit(hit=hit))
    async with channel(notify.addr("notify"), notify.tokens[Role.SERVICE]) as ch:
        await notify_pb2_grpc.NotifyServiceStub(ch).PublishAlerts(notify_pb2.PublishAlertsRequest(hits=hits))


async def test_streams_per_identity_are_limited_unread_ones_closed_and_cancels_log_nothing(notify):
    addr = notify.addr("notify")
    # A client that never reads: its receive window stays small (no BDP probing) and fills up.
    stalled_ch = aio.insecure_channel(
        addr, options=[("grpc.http2.bdp_probe", 0)], interceptors=bearer_interceptors(notify.tokens[Role.CONTROL_ROOM])
    )
    async with stalled_ch, channel(addr, notify.tokens[Role.CONTROL_ROOM]) as ch:
        stalled = subscribe(stalled_ch, Role.CONTROL_ROOM)
        readers = [subscribe(ch, Role.CONTROL_ROOM) for _ in range(LIMIT - 1)]
        for stream in [stalled, *readers]:
            assert (await next_message(stream)).WhichOneof("event") == "opened"
        with pytest.raises(grpc.aio.AioRpcError) as over:
            await next_message(subscribe(ch, Role.CONTROL_ROOM))
        async with channel(addr, notify.tokens.named("tv-room")) as other:  # another identity is not held up
            assert (await next_message(subscribe(other, Role.CONTROL_ROOM))).WhichOneof("event") == "opened"

        for _ in range(5):
            await publish(notify, 100)  # far more than the stalled stream's window
        await next_alert(readers[0])
        for stream in readers:  # cancelled while alerts are being written to them
            stream.cancel()
        await asyncio.sleep(3)  # the stalled client reads nothing for longer than the limit: the case under test
        with pytest.raises(grpc.aio.AioRpcError) as unread:
            while True:  # what was buffered, then the server's verdict
                await next_message(stalled, 30)

        async def slot_free() -> bool:  # the cancelled streams gave their slots back
            try:
                return (await next_message(subscribe(ch, Role.CONTROL_ROOM), 5)).WhichOneof("event") == "opened"
            except grpc.aio.AioRpcError:
                return False

        await eventually(slot_free, seconds=10, interval=0.2)
    assert over.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"at most {LIMIT} open streams per identity" in over.value.details()
    assert unread.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "not read for 1 s" in unread.value.details()
    await asyncio.to_thread(notify.terminate)
    lines = [json.loads(line) for line in notify.log("notify").splitlines() if line.startswith("{")]
    assert [(x["level"], x["message"]) for x in lines if x["level"] not in ("DEBUG", "INFO")] == []
    assert "Traceback" not in notify.log("notify")
