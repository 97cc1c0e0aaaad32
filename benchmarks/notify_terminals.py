"""The notify benchmark's terminal processes: each holds many in-car terminal subscriptions (a unit
with a circle, NotifyService.Subscribe as role terminal), --streams-per-channel of them on one
channel, and records every alert each terminal receives: which read, when it arrived (wall clock,
as chain_load's read ids carry the send time) and where notify says the read was (hit.location).

A stream that ends (an error, RESOURCE_EXHAUSTED for a slow consumer) resubscribes from the last
alert it received, as a terminal does; the errors are counted and reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

from grpc import aio

from anpr.v1 import notify_pb2
from anpr.v1 import types_pb2 as T
from benchmarks.common import CHANNEL_OPTIONS, child_setup, serve_pipe
from cli.client import subscribe

CONTROL_ROOM = -1  # the index of the control-room stream a terminal process may hold beside its terminals


class Terminal:
    """One unit's stream: opened yet, the last sequence seen, and its deliveries."""

    def __init__(self, index: int, unit_id: str, lat: float, lon: float, token: str = ""):
        self.index, self.unit_id, self.lat, self.lon = index, unit_id, lat, lon
        self.md = (("authorization", f"Bearer {token}"),)  # the unit's own identity
        self.opened = False
        self.after = 0
        # (terminal index, read id, arrival time, hit has location, latitude, longitude)
        self.deliveries: list[tuple[int, str, float, bool, float, float]] = []

    def request(self, spec: dict) -> notify_pb2.SubscribeRequest:
        if self.index == CONTROL_ROOM:  # every alert, unfiltered
            return notify_pb2.SubscribeRequest(after_sequence=self.after, subscription=notify_pb2.Subscription())
        return notify_pb2.SubscribeRequest(
            after_sequence=self.after,
            subscription=notify_pb2.Subscription(
                unit_id=self.unit_id,
                force=spec["force"],
                circle=notify_pb2.Circle(
                    center=T.GeoPoint(latitude=self.lat, longitude=self.lon), radius_km=spec["radius_km"]
                ),
            ),
        )

    def saw(self, alert: T.Alert) -> None:
        now = time.time()
        self.after = alert.sequence
        hit = alert.hit
        self.deliveries.append(
            (self.index, hit.read.read_id, now, hit.HasField("location"), hit.location.latitude, hit.location.longitude)
        )


async def hold(ch: aio.Channel, term: Terminal, spec: dict, errors: Counter) -> None:
    """Keep the terminal subscribed until cancelled."""
    while True:
        try:
            async for resp in subscribe(ch, term.request(spec), metadata=term.md):
                kind = resp.WhichOneof("event")
                if kind == "alert":
                    term.saw(resp.alert)
                elif kind == "opened":
                    term.opened = True
            errors["stream ended"] += 1
        except aio.AioRpcError as exc:
            errors[exc.code().name] += 1
        await asyncio.sleep(0.2)


def terminals_main(conn, spec: dict, log_path: str) -> None:
    """A terminal process for spec["terminals"] ([index, unit id, lat, lon, token] each), and a control-room
    stream (index CONTROL_ROOM, for comparison) when spec["control_room_token"] is set: answers
    "opened" (how many terminal streams are live; 0 until the control room's is), "deliveries" (every stream's, and the stream
    errors), until "exit"."""
    child_setup(log_path)
    terms = [Terminal(*t) for t in spec["terminals"]]
    errors: Counter = Counter()
    room = Terminal(CONTROL_ROOM, "", 0.0, 0.0, spec.get("control_room_token", ""))
    room = room if spec.get("control_room_token") else None

    async def answer(op: str, _) -> int | dict:
        if op == "opened":
            return sum(t.opened for t in terms) if room is None or room.opened else 0
        streams = [*terms, *([room] if room else [])]
        return {"deliveries": [d for t in streams for d in t.deliveries], "errors": dict(errors)}

    async def serve() -> None:
        per = spec["streams_per_channel"]
        channels = [aio.insecure_channel(spec["notify"], options=CHANNEL_OPTIONS) for _ in range(0, len(terms), per)]
        tasks = [asyncio.create_task(hold(channels[k // per], t, spec, errors)) for k, t in enumerate(terms)]
        if room is not None:
            tasks.append(asyncio.create_task(hold(channels[0], room, spec, errors)))
        try:
            await serve_pipe(conn, answer)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for ch in channels:
                await ch.close()

    with contextlib.suppress(KeyboardInterrupt, EOFError, BrokenPipeError):
        asyncio.run(serve())
