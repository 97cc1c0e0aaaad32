"""The chain benchmark's observer process: a control room's alert stream, the duty commander's
console (acknowledging every activation while told to) and the reference design's LISTEN
connection, each arrival timed against the send time carried in its read id
(chain_load.parse_read_id). The streams resume after the last sequence received when they drop, and
count what a stream must never do (a read alerted twice, a sequence out of order)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict

import asyncpg
import grpc
from grpc import aio

from anpr.v1 import firearms_pb2, firearms_pb2_grpc, notify_pb2, notify_pb2_grpc
from anpr.v1 import types_pb2 as T
from benchmarks.chain_load import REF_CHANNEL, parse_read_id
from benchmarks.common import CHANNEL_OPTIONS, BenchError, child_setup, serve_pipe


class Arrivals:
    """First arrival of each benchmark read id, per phase, on one stream: (sent, arrived) pairs; and
    what a stream must never do: deliver a read's alert (activation) twice, or a sequence at or below
    one it delivered before (`doubled`, `out_of_order`, per phase)."""

    def __init__(self):
        self.by_phase: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
        self.doubled: dict[str, int] = defaultdict(int)
        self.out_of_order: dict[str, int] = defaultdict(int)
        self.reconnects = 0
        self.last_sequence = 0

    def saw(self, read_id: str, sequence: int = 0) -> None:
        parsed = parse_read_id(read_id)
        if sequence:
            if sequence <= self.last_sequence and parsed is not None:
                self.out_of_order[parsed[0]] += 1
            self.last_sequence = max(self.last_sequence, sequence)
        if parsed is not None:
            seen = self.by_phase[parsed[0]]
            if read_id in seen:
                self.doubled[parsed[0]] += 1
            else:
                seen[read_id] = (parsed[1], time.time())

    def get(self, phase: str) -> list[tuple[float, float]]:
        return list(self.by_phase.get(phase, {}).values())


RECONNECT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.RESOURCE_EXHAUSTED}


async def follow_alerts(spec: dict, arrivals: Arrivals) -> None:
    """A control room's stream, resumed after the last sequence it received whenever it drops (notify
    killed and started again), as the contract says a client should."""
    async with aio.insecure_channel(spec["notify"], options=CHANNEL_OPTIONS) as ch:
        md = (("authorization", f"Bearer {spec['control_room_token']}"),)
        while True:
            request = notify_pb2.SubscribeRequest(after_sequence=arrivals.last_sequence)
            try:
                async for resp in notify_pb2_grpc.NotifyServiceStub(ch).Subscribe(
                    iter([request]), metadata=md, wait_for_ready=True
                ):
                    if resp.WhichOneof("event") == "alert":
                        arrivals.saw(resp.alert.hit.read.read_id, resp.alert.sequence)
            except aio.AioRpcError as exc:
                if exc.code() not in RECONNECT:
                    raise
            arrivals.reconnects += 1
            await asyncio.sleep(0.05)


ESCALATED = T.ACTIVATION_EVENT_KIND_ESCALATED
RAISED = T.ACTIVATION_EVENT_KIND_RAISED


async def follow_activations(spec: dict, arrivals: Arrivals, lateness: list[float], acking: dict) -> None:
    """Activations as they reach the duty commander's console (resumed after the last event it
    received when the stream drops), each acknowledged at once while `acking["on"]` (as a commander
    would: no escalation disturbs the latency phases); and, for each escalation (when nobody
    acknowledges), how long after the missed deadline it reached the console."""
    async with aio.insecure_channel(spec["firearms"], options=CHANNEL_OPTIONS) as ch:
        md = (("authorization", f"Bearer {spec['tfc_token']}"),)
        stub = firearms_pb2_grpc.FirearmsServiceStub(ch)
        while True:
            try:
                await _console(stub, md, arrivals, lateness, acking)
            except aio.AioRpcError as exc:
                if exc.code() not in RECONNECT:
                    raise
            arrivals.reconnects += 1
            await asyncio.sleep(0.05)


async def _console(stub, md, arrivals: Arrivals, lateness: list[float], acking: dict) -> None:
    pending: set[asyncio.Future] = set()

    def acknowledged(call: asyncio.Future) -> None:
        pending.discard(call)
        if call.cancelled() or call.exception() is not None:
            acking["failed"] += 1

    request = firearms_pb2.StreamActivationsRequest(after_sequence=arrivals.last_sequence)
    async for resp in stub.StreamActivations(request, metadata=md, wait_for_ready=True):
        if resp.event.kind == RAISED:
            arrivals.saw(resp.activation.hit.read.read_id, resp.event.sequence)
        else:
            arrivals.last_sequence = max(arrivals.last_sequence, resp.event.sequence)
        if resp.event.kind == RAISED and acking["on"]:  # not awaited: the stream reads on
            call = asyncio.ensure_future(
                stub.AcknowledgeActivation(
                    firearms_pb2.AcknowledgeActivationRequest(activation_id=resp.activation.activation_id),
                    metadata=md,
                    timeout=30,
                )
            )
            pending.add(call)
            call.add_done_callback(acknowledged)
        if resp.event.kind == ESCALATED and resp.event.HasField("deadline_missed"):
            lateness.append(time.time() - resp.event.deadline_missed.ToNanoseconds() / 1e9)


def observer_main(conn, spec: dict, log_path: str) -> None:
    """The observer process: answers ("arrivals", phase) with {"alert": [...], "tfc": [...], "ref": [...]}
    ((sent, arrived) pairs), ("counts", phase) with their lengths."""
    child_setup(log_path)
    streams = {"alert": Arrivals(), "tfc": Arrivals(), "ref": Arrivals()}
    lateness: list[float] = []  # escalations: seconds past the missed deadline, as seen on the console
    acking = {"on": True, "failed": 0}  # the commander acknowledges every activation (until told not to)

    def observed(op: str, phase: str):
        if op == "escalations":
            return {"late": list(lateness), "ack_failures": acking["failed"]}
        if op == "acking":
            acking["on"] = phase == "on"
            return None
        if op == "counts":
            return {name: len(a.by_phase.get(phase, ())) for name, a in streams.items()}
        if op == "ids":
            return {name: list(a.by_phase.get(phase, {})) for name, a in streams.items()}
        if op == "integrity":
            return {
                name: {"doubled": a.doubled[phase], "out_of_order": a.out_of_order[phase], "reconnects": a.reconnects}
                for name, a in streams.items()
            }
        return {name: a.get(phase) for name, a in streams.items()}

    async def serve() -> None:
        listener = await asyncpg.connect(spec["database_url"])
        await listener.add_listener(REF_CHANNEL, lambda _c, _pid, _ch, payload: streams["ref"].saw(payload))
        tasks = [
            asyncio.create_task(follow_alerts(spec, streams["alert"]), name="Subscribe"),
            asyncio.create_task(follow_activations(spec, streams["tfc"], lateness, acking), name="StreamActivations"),
        ]

        async def answer(op: str, phase):
            failed = [t for t in tasks if t.done()]
            if failed:
                raise BenchError(f"the observer's {failed[0].get_name()} stream ended: {failed[0].exception()!r}")
            return observed(op, phase)

        try:
            await serve_pipe(conn, answer)
        finally:
            for t in tasks:
                t.cancel()
            await listener.close()

    with contextlib.suppress(KeyboardInterrupt, EOFError, BrokenPipeError):
        asyncio.run(serve())
