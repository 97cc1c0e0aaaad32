"""The abuse benchmark's abuser (benchmarks/abuse_bench.py): a child process that opens, with ONE
terminal identity, spec["terminals"] alert streams around the place the alerts are read, and with
ONE control-room identity spec["replays"] streams replaying the log from the start, and never reads
any of them after its first message. It answers "open" (how the server answered each open: opened,
or the status it refused with) and "report" (how each stream ended: closed by the server with a
status, or still open)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import grpc
from grpc import aio

from anpr.v1 import notify_pb2
from anpr.v1 import types_pb2 as T
from benchmarks.common import CHANNEL_OPTIONS, child_setup, serve_pipe
from cli.client import subscribe

REPORT_S = 10.0  # how long the report reads what each stream buffered before calling it "still open"


def _requests(spec: dict) -> list[tuple[notify_pb2.SubscribeRequest, tuple]]:
    lat, lon = spec["place"]
    unit = notify_pb2.Subscription(
        circle=notify_pb2.Circle(center=T.GeoPoint(latitude=lat, longitude=lon), radius_km=spec["radius_km"])
    )
    terminal = (("authorization", f"Bearer {spec['terminal_token']}"),)
    room = (("authorization", f"Bearer {spec['room_token']}"),)
    return [(notify_pb2.SubscribeRequest(subscription=unit), terminal)] * spec["terminals"] + [
        (notify_pb2.SubscribeRequest(from_start=True), room)
    ] * spec["replays"]


async def _first(call) -> str:
    """How the server answered an open: "opened", or the status it refused the stream with."""
    try:
        message = await call.read()
        return "opened" if message is not aio.EOF else "ended"
    except grpc.aio.AioRpcError as err:
        return err.code().name


async def _end(call) -> str:
    """How a stream ended: the status the server closed it with, or "still open"."""
    try:
        async with asyncio.timeout(REPORT_S):
            while await call.read() is not aio.EOF:
                pass
        return "ended"
    except grpc.aio.AioRpcError as err:
        return err.code().name
    except TimeoutError:
        return "still open"


def abuser_main(conn, spec: dict, log_path: str) -> None:
    child_setup(log_path)

    async def serve() -> None:
        # A small receive window (no BDP probing): what is not read backs up at the server.
        options = [*CHANNEL_OPTIONS, ("grpc.http2.bdp_probe", 0)]
        channels = [aio.insecure_channel(spec["notify"], options=options) for _ in range(spec["channels"])]
        calls: list = []
        opened: list = []  # the streams the server opened

        async def answer(op: str, _) -> dict:
            if op == "open":
                for k, (request, md) in enumerate(_requests(spec)):
                    calls.append(subscribe(channels[k % len(channels)], request, metadata=md))
                firsts = await asyncio.gather(*(_first(c) for c in calls))
                opened.extend(c for c, first in zip(calls, firsts, strict=True) if first == "opened")
                return dict(Counter(firsts))
            return dict(Counter(await asyncio.gather(*(_end(c) for c in opened))))

        try:
            await serve_pipe(conn, answer)
        finally:
            for c in calls:
                c.cancel()
            for ch in channels:
                await ch.close()

    with contextlib.suppress(KeyboardInterrupt, EOFError, BrokenPipeError):
        asyncio.run(serve())
