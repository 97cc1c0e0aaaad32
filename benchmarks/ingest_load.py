"""The ingest benchmark's child processes: the load generator clients (camera streams of batches, or
unary calls, at the server under test) and the do-nothing echo server, each in its own process so
that the benchmark's own work stays off the servers' cores and the measuring clocks.

A client is driven over a pipe (common.serve_pipe): ("prepare", spec) generates the reads of one run up front,
("run", go) runs them against the clock and answers with its tally, ("close", target) closes its
channels to a server, ("exit", None) ends it. Latency is per acknowledgement: from just before a
batch (or a unary call) is written to its acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections.abc import Iterator

import grpc
from grpc import aio

from anpr.v1 import ingest_pb2, ingest_pb2_grpc
from benchmarks import common
from benchmarks.common import CHANNEL_OPTIONS, MESSAGE_OPTIONS, child_setup, serve_pipe
from benchmarks.ingest_reads import ReadGen, captured_now

STORED = ingest_pb2.READ_STATUS_STORED
STATUS_NAMES = {
    v.number: v.name.removeprefix("READ_STATUS_") for v in ingest_pb2.DESCRIPTOR.enum_types_by_name["ReadStatus"].values
}

# ---------------------------------------------------------------------------------------------------
# The do-nothing server
# ---------------------------------------------------------------------------------------------------


class EchoIngest(ingest_pb2_grpc.IngestServiceServicer):
    """Acknowledges every read as stored, storing nothing: the transport's limit."""

    async def SubmitRead(self, request, context):
        return ingest_pb2.SubmitReadResponse(result=ingest_pb2.ReadResult(read_id=request.read.read_id, status=STORED))

    async def SubmitReads(self, request_iterator, context):
        results = []
        async for request in request_iterator:
            results.extend(ingest_pb2.ReadResult(read_id=r.read_id, status=STORED) for r in request.reads)
        return ingest_pb2.SubmitReadsResponse(results=results)

    async def StreamReads(self, request_iterator, context):
        async for request in request_iterator:
            yield ingest_pb2.StreamReadsResponse(
                batch_id=request.batch_id,
                results=[ingest_pb2.ReadResult(read_id=r.read_id, status=STORED) for r in request.reads],
            )


def echo_server_main(conn, log_path: str, port: int = 0) -> None:
    """One echo process; several share a port (SO_REUSEPORT, as ingest's workers do). Sends its port,
    serves until told to stop."""
    child_setup(log_path)

    async def serve() -> None:
        server = aio.server(options=MESSAGE_OPTIONS)
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(EchoIngest(), server)
        port_ = server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        conn.send(port_)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        await server.stop(0)

    with contextlib.suppress(EOFError, KeyboardInterrupt):
        asyncio.run(serve())


# ---------------------------------------------------------------------------------------------------
# The load generator
# ---------------------------------------------------------------------------------------------------


class Tally(common.Tally):
    """Acknowledgements inside the measured window [w0, w1) (perf_counter of the client), and when
    the pool of reads ran out."""

    def __init__(self, w0: float, w1: float):
        super().__init__(w0, w1)
        self.last_ack = w0
        self.exhausted_at: float | None = None

    def ack(self, t_sent: float, t_ack: float, results) -> None:
        if self.w0 <= t_ack < self.w1:
            self.ack_ms.append((t_ack - t_sent) * 1000.0)
            st = self.statuses
            for r in results:
                st[r.status] += 1
            self.last_ack = t_ack

    def exhausted(self) -> None:
        if self.exhausted_at is None:
            self.exhausted_at = time.perf_counter()

    def result(self) -> dict:
        end = self.w1
        if self.exhausted_at is not None and self.exhausted_at < self.w1:
            end = max(self.last_ack, self.w0 + 1e-3)  # the pool ran out: measure up to the last ack
        return {
            "window_s": end - self.w0,
            "statuses": {STATUS_NAMES.get(k, str(k)): v for k, v in self.statuses.items()},
            "errors": dict(self.errors),
            "first_error": self.first_error,
            "lat_ms": self.ack_ms,
            "exhausted": self.exhausted_at is not None and self.exhausted_at < self.w1,
        }


class Stream:
    """One camera's StreamReads call: `depth` batches in flight, each timed from just before it is
    written to its acknowledgement."""

    def __init__(self, stub, md, depth: int, tally: Tally):
        self.call = stub.StreamReads(metadata=md)
        self.slots = asyncio.Semaphore(depth)
        self.depth, self.tally = depth, tally
        self.sent: dict[str, float] = {}
        self.dead = False

    async def read(self) -> None:
        """The acknowledgements until the call ends; a failure is tallied and frees every writer's slot."""
        try:
            await self._acks()
        except aio.AioRpcError as exc:
            self.tally.error(exc.code().name, exc.details() or "")
        except Exception as exc:
            self.tally.error(type(exc).__name__, str(exc))
        finally:
            self.dead = True
            for _ in range(self.depth):
                self.slots.release()

    async def _acks(self) -> None:
        perf, sent, tally, call, slots = time.perf_counter, self.sent, self.tally, self.call, self.slots
        while (resp := await call.read()) is not aio.EOF:
            t = perf()
            t_sent = sent.pop(resp.batch_id, None)
            if t_sent is not None:
                tally.ack(t_sent, t, resp.results)
            slots.release()

    async def write(self, batches: Iterator, w1: float) -> None:
        """Batches whenever a slot is free, until w1, the end of the call, or the end of `batches`."""
        perf, sent, call, slots = time.perf_counter, self.sent, self.call, self.slots
        while True:
            await slots.acquire()
            if self.dead or perf() >= w1:
                return
            req = next(batches, None)
            if req is None:
                self.tally.exhausted()
                return
            sent[req.batch_id] = perf()
            await call.write(req)


async def one_stream(
    stub, md, batches: list, cyclic: bool, depth: int, w1: float, tally: Tally, drain_s: float
) -> None:
    stream = Stream(stub, md, depth, tally)
    read_task = asyncio.create_task(stream.read())
    try:
        await stream.write(itertools.cycle(batches) if cyclic else iter(batches), w1)
        if not stream.dead:
            await stream.call.done_writing()
        await asyncio.wait_for(asyncio.shield(read_task), drain_s)
    except aio.AioRpcError as exc:
        tally.error(exc.code().name, exc.details() or "")
    except (asyncio.InvalidStateError, TimeoutError):
        pass  # the call ended (error recorded by the reader) or did not drain in time
    finally:
        if not read_task.done():
            stream.call.cancel()
            read_task.cancel()
        with contextlib.suppress(BaseException):
            await read_task


async def unary(stubs, md, reqs: list, cyclic: bool, concurrency: int, w1: float, tally: Tally) -> None:
    perf = time.perf_counter
    reqs_iter = itertools.cycle(reqs) if cyclic else iter(reqs)

    async def worker(stub) -> None:
        while perf() < w1:
            req = next(reqs_iter, None)
            if req is None:
                tally.exhausted()
                return
            t0 = perf()
            try:
                resp = await stub.SubmitRead(req, metadata=md, timeout=30)
            except aio.AioRpcError as exc:
                code = exc.code()
                if code == grpc.StatusCode.INVALID_ARGUMENT:  # a rejected read: still an answer
                    t1 = perf()
                    tally.ack(t0, t1, (ingest_pb2.ReadResult(status=ingest_pb2.READ_STATUS_REJECTED),))
                tally.error(code.name, exc.details() or "")
                continue
            tally.ack(t0, perf(), (resp.result,))

    await asyncio.gather(*(worker(stubs[i % len(stubs)]) for i in range(concurrency)))


class ClientState:
    def __init__(self, index: int):
        self.index = index
        self.channels: dict[str, aio.Channel] = {}
        self.spec: dict | None = None
        self.pool = None

    async def stubs(self, target: str, connections: int) -> list[ingest_pb2_grpc.IngestServiceStub]:
        """Stubs on `connections` separate TCP connections (as many cameras have), so that a server
        with several worker processes on one port (SO_REUSEPORT) gets its share of each."""
        out = []
        for i in range(connections):
            key = f"{target}#{i}"
            ch = self.channels.get(key)
            if ch is None:
                ch = self.channels[key] = aio.insecure_channel(target, options=CHANNEL_OPTIONS)
                await asyncio.wait_for(ch.channel_ready(), 10)
            out.append(ingest_pb2_grpc.IngestServiceStub(ch))
        return out

    def prepare(self, spec: dict) -> dict:
        """Generate the reads of one run: per-stream batches, or unary requests."""
        t0 = time.perf_counter()
        self.spec = spec
        self.pool = None  # free the previous pool first
        gen = ReadGen(spec["seed"], spec["cameras"])
        if spec["kind"] == "stream":
            self.pool = stream_pool(spec, gen)
            made = sum(len(b.reads) for batches in self.pool for b in batches)
        else:
            cams, captured, prefix = len(spec["cameras"]), captured_now(), spec["prefix"]
            self.pool = [
                ingest_pb2.SubmitReadRequest(read=gen.read(f"{prefix}-u{i}", i % cams, captured))
                for i in range(spec["n_reads"])
            ]
            made = len(self.pool)
        return {"reads": made, "gen_s": time.perf_counter() - t0}

    async def run(self, go: dict) -> dict:
        spec, perf = self.spec, time.perf_counter
        stubs = await self.stubs(spec["target"], spec["connections"])
        md = (("authorization", f"Bearer {spec['token']}"),)
        start = perf() + (go["t0_wall"] - time.time())
        w0 = start + go["warm"]
        w1 = w0 + go["seconds"]
        tally = Tally(w0, w1)
        await asyncio.sleep(max(0.0, start - perf()))
        cpu0 = time.process_time()
        if spec["kind"] == "stream":
            depth, cyclic, drain_s = spec["depth"], spec["cyclic"], go["drain_s"]
            await asyncio.gather(
                *(
                    one_stream(stubs[i % len(stubs)], md, batches, cyclic, depth, w1, tally, drain_s)
                    for i, batches in enumerate(self.pool)
                )
            )
        else:
            await unary(stubs, md, self.pool, spec["cyclic"], spec["concurrency"], w1, tally)
        out = tally.result()
        out["client_cpu_s"] = time.process_time() - cpu0
        out["wall_s"] = perf() - start
        return out

    async def answer(self, op: str, arg) -> dict:
        if op == "prepare":
            return self.prepare(arg)
        if op == "run":
            return await self.run(arg)
        if op == "close":
            ch = self.channels.pop(arg, None)
            if ch is not None:
                await ch.close()
            return {}
        raise ValueError(f"unknown op {op!r}")


def stream_pool(spec: dict, gen: ReadGen) -> list[list[ingest_pb2.StreamReadsRequest]]:
    """The batches of each of this client's streams (spec["streams"], which may be empty: this client
    sits out), enough for its share of spec["n_reads"] and at least one more than the depth."""
    streams, batch, cams, prefix = spec["streams"], spec["batch"], len(spec["cameras"]), spec["prefix"]
    per_stream = max(spec["depth"] + 1, math.ceil(spec["n_reads"] / (max(1, len(streams)) * batch)))
    captured = captured_now()
    pool = []
    for s in streams:
        cam = s % cams
        batches = []
        for b in range(per_stream):
            reads = [gen.read(f"{prefix}-s{s}-{b}-{i}", cam, captured) for i in range(batch)]
            batches.append(ingest_pb2.StreamReadsRequest(batch_id=f"{s}-{b}", reads=reads))
        pool.append(batches)
    return pool


def client_main(conn, index: int, log_path: str) -> None:
    """A client process: ready, then answers each (op, arg) (common.serve_pipe) until "exit" or the
    end of the pipe."""
    child_setup(log_path)
    state = ClientState(index)

    async def serve() -> None:
        try:
            await serve_pipe(conn, state.answer)
        finally:
            for ch in state.channels.values():
                await ch.close()

    with contextlib.suppress(KeyboardInterrupt, EOFError, BrokenPipeError):
        asyncio.run(serve())
