#!/usr/bin/env python3
"""What one gRPC call between services costs on this machine, and what the interceptors add.

    .venv/bin/python benchmarks/call_bench.py                 # about 30 s on 2 cores
    .venv/bin/python benchmarks/call_bench.py --calls 500

A do-nothing grpc.aio server (one method, the request's bytes echoed back) in a process of its own,
and a client process making --calls sequential unary calls of a --size byte request, each inside
a span (as a relay's delivery is), after a warm-up of a tenth as many. Measured, each --rounds
times, alternating:

  server      the server process's CPU per call (psutil), plain and with OpenTelemetry's server
              interceptor (what every service's server has);
  client      the client's CPU and wall time per call, with the client interceptors of
              `Runtime.channel` (OpenTelemetry's and the bearer token's) and through
              `Runtime.relay_call`'s `RelayCall` (no interceptors; token and traceparent put on
              the call directly), which the outbox relays use.

  paced       the server's and the client's CPU per call when calls come at --pace a second
              (default 500, a single-read camera feed of 500 reads/s) rather than back to back: a
              unary call, and for comparison one message each way on a bidirectional stream held
              open (what a hop costs without a call per delivery); no interceptors on either. With
              the camera's call and one hop on, this is the transport's floor under a single read.

  after idle  the wall time of one call made after the client has slept --gaps milliseconds
              (the median of --idle-calls calls per gap): a grpc.aio call to the do-nothing server,
              and for scale one round trip of the same bytes over a plain asyncio TCP connection
              to an echo process. At low load every hop of the chain is a call after idle; what
              a call costs then over what it costs back to back is the machine waking its
              threads (gRPC's server and client each hand a call between several), not the work.

Prints the median of the rounds; the last line is space-separated name=value pairs (microseconds).
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: the repository on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")  # before grpc loads, as anpr/__init__.py says

import grpc
import psutil
from grpc import aio
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.sdk.trace import TracerProvider

from anpr.runtime.auth import bearer_interceptors
from anpr.runtime.server import RelayCall

METHOD = "/bench.Echo/Call"
TOKEN = "t" * 600  # about a service token's length
TRACEPARENT = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"


async def _echo(request: bytes, context) -> bytes:
    return request


async def _echo_stream(requests, context):
    async for request in requests:
        yield request


def _serve(ports, traced: bool) -> None:
    async def main() -> None:
        interceptors = [aio_server_interceptor(tracer_provider=TracerProvider())] if traced else []
        server = aio.server(interceptors=interceptors)
        handlers = {
            "Call": grpc.unary_unary_rpc_method_handler(_echo),
            "Stream": grpc.stream_stream_rpc_method_handler(_echo_stream),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo", handlers),))
        ports.put(server.add_insecure_port("127.0.0.1:0"))
        await server.start()
        await server.wait_for_termination()

    asyncio.run(main())


class Server:
    def __init__(self, traced: bool):
        ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: gRPC is not forked
        ports = ctx.Queue()
        self.process = ctx.Process(target=_serve, args=(ports, traced), daemon=True)
        self.process.start()
        self.port = ports.get(timeout=30)
        self.ps = psutil.Process(self.process.pid)

    def cpu(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system

    def close(self) -> None:
        self.process.kill()
        self.process.join()


async def _calls(port: int, intercepted: bool, n: int, size: int) -> tuple[float, float]:
    """(client CPU s, wall s) of n calls after a warm-up."""
    provider = TracerProvider()
    tracer = provider.get_tracer(__name__)

    async def token() -> str:
        return TOKEN

    request = b"x" * size
    if intercepted:
        interceptors = [*aio_client_interceptors(tracer_provider=provider), *bearer_interceptors(token)]
        channel = aio.insecure_channel(f"127.0.0.1:{port}", interceptors=interceptors)
        multi = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)

        def call():
            return multi(request, timeout=10, wait_for_ready=True)

    else:
        channel = aio.insecure_channel(f"127.0.0.1:{port}")
        relay = RelayCall(
            channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None), token, len, METHOD
        )

        def call():
            return relay.send(request)

    async with channel:
        for _ in range(max(1, n // 10)):
            with tracer.start_as_current_span("anpr.outbox.deliver"):
                await call()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(n):
            with tracer.start_as_current_span("anpr.outbox.deliver"):
                await call()
        return time.process_time() - cpu, time.perf_counter() - wall


async def _plain_calls(port: int, n: int, size: int) -> None:
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        multi = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
        for _ in range(n):
            await multi(b"x" * size, timeout=10, metadata=[("traceparent", TRACEPARENT)])


def _tcp_echo(ports) -> None:
    async def main() -> None:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(1 << 16):
                writer.write(data)

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        ports.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


async def _after_idle(port: int, tcp: bool, gaps_ms: list[int], calls: int, size: int) -> dict[int, float]:
    """{gap: median wall microseconds of a call made after sleeping gap ms}."""
    request, out = b"x" * size, {}
    if tcp:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def call() -> None:
            writer.write(request)
            await reader.readexactly(size)

    else:
        channel = aio.insecure_channel(f"127.0.0.1:{port}")
        multi = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)

        async def call() -> None:
            await multi(request, timeout=10)

    try:
        for _ in range(10):
            await call()
        for gap in gaps_ms:
            walls = []
            for _ in range(calls):
                await asyncio.sleep(gap / 1000)
                t = time.perf_counter()
                await call()
                walls.append((time.perf_counter() - t) * 1e6)
            out[gap] = statistics.median(walls)
    finally:
        if tcp:
            writer.close()
        else:
            await channel.close()
    return out


def after_idle(gaps_ms: list[int], calls: int, size: int) -> dict[str, float]:
    """Wall microseconds of a call after each idle gap: grpc.aio and plain TCP, each against a process of its own."""
    figures = {}
    for tcp in (False, True):
        if tcp:
            ctx = multiprocessing.get_context("spawn")
            ports = ctx.Queue()
            process = ctx.Process(target=_tcp_echo, args=(ports,), daemon=True)
            process.start()
            port, close = ports.get(timeout=30), process.kill
        else:
            server = Server(traced=False)
            port, close = server.port, server.close
        try:
            got = asyncio.run(_after_idle(port, tcp, gaps_ms, calls, size))
        finally:
            close()
        figures.update({f"idle_wall_us_{'tcp' if tcp else 'grpc'}_{g}ms": v for g, v in got.items()})
    return figures


async def _paced(server: Server, stream: bool, n: int, size: int, pace: float) -> tuple[float, float]:
    """(server CPU s, client CPU s) of n calls (or stream round trips) at `pace` a second."""
    request = b"x" * size
    async with aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        if stream:
            call = channel.stream_stream("/bench.Echo/Stream")()

            async def one() -> None:
                await call.write(request)
                await call.read()

        else:
            multi = channel.unary_unary(METHOD)

            async def one() -> None:
                await multi(request, timeout=10)

        loop = asyncio.get_running_loop()
        for _ in range(max(1, n // 10)):
            await one()
        server_before, cpu = server.cpu(), time.process_time()
        start = loop.time()
        for i in range(n):
            await one()
            await asyncio.sleep(max(0.0, start + (i + 1) / pace - loop.time()))
        client, served = time.process_time() - cpu, server.cpu() - server_before
        if stream:
            await call.done_writing()
        return served, client


def server_cost(traced: bool, n: int, size: int) -> float:
    """The server's CPU per call, microseconds."""
    server = Server(traced)
    try:
        asyncio.run(_plain_calls(server.port, max(1, n // 10), size))
        before = server.cpu()
        asyncio.run(_plain_calls(server.port, n, size))
        return (server.cpu() - before) / n * 1e6
    finally:
        server.close()


def _options() -> tuple[argparse.Namespace, list[int]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=3000, help="measured calls per round (default 3,000)")
    ap.add_argument("--size", type=int, default=1000, help="request bytes (default 1,000)")
    ap.add_argument(
        "--rounds", type=int, default=3, help="rounds of each CPU measurement (default 3; 0: only the calls after idle)"
    )
    ap.add_argument(
        "--gaps", default="0,5,20,100", help="idle gaps before a call, milliseconds (default 0,5,20,100; empty: none)"
    )
    ap.add_argument("--pace", type=float, default=500, help="calls a second of the paced lines (default 500; 0: none)")
    ap.add_argument("--idle-calls", type=int, default=100, help="calls after each gap (default 100)")
    args = ap.parse_args()
    try:
        gaps = [int(g) for g in args.gaps.split(",") if g.strip()]
    except ValueError:
        ap.error(f"--gaps: whole milliseconds separated by commas, got {args.gaps!r}")
    if any(g < 0 for g in gaps) or args.rounds < 0 or args.pace < 0 or args.idle_calls < 1 or args.calls < 1:
        ap.error("--gaps, --rounds, --pace: not negative; --calls, --idle-calls: at least 1")
    if not args.rounds and not gaps:
        ap.error("--rounds 0 and no --gaps: nothing to measure")
    return args, gaps


def cpu_rounds(rounds: int, n: int, size: int, pace: float = 0, paced_n: int = 0) -> dict[str, float]:
    """The server's and the client's CPU per call (and the client's wall), median of `rounds`; with
    `pace`, also at `pace` calls a second (`paced_n` of them), unary and on an open stream."""
    got: dict[str, list[float]] = {}
    for _ in range(rounds):
        for traced in (False, True):
            got.setdefault(f"server_cpu_us_{'traced' if traced else 'plain'}", []).append(server_cost(traced, n, size))
    if not rounds:
        return {}
    server = Server(traced=False)
    try:
        for _ in range(rounds):
            for intercepted in (True, False):
                cpu, wall = asyncio.run(_calls(server.port, intercepted, n, size))
                name = "intercepted" if intercepted else "relay_call"
                got.setdefault(f"client_cpu_us_{name}", []).append(cpu / n * 1e6)
                got.setdefault(f"client_wall_us_{name}", []).append(wall / n * 1e6)
            for stream in (False, True) if pace else ():
                server_s, client_s = asyncio.run(_paced(server, stream, paced_n, size, pace))
                name = "stream" if stream else "unary"
                got.setdefault(f"paced_server_cpu_us_{name}", []).append(server_s / paced_n * 1e6)
                got.setdefault(f"paced_client_cpu_us_{name}", []).append(client_s / paced_n * 1e6)
    finally:
        server.close()
    return {k: statistics.median(v) for k, v in got.items()}


def main() -> int:
    args, gaps = _options()
    n, size = args.calls, args.size
    paced_n = max(1, min(n, int(args.pace * 2)))  # about two seconds a round
    figures = cpu_rounds(args.rounds, n, size, args.pace, paced_n)
    paced = {k: v for k, v in figures.items() if k.startswith("paced_")}
    idle = after_idle(gaps, args.idle_calls, size) if gaps else {}
    if figures:
        print(
            f"{n:,} sequential unary calls of {size:,} bytes a round, median of {args.rounds} rounds"
            " (microseconds a call)"
        )
        print(
            f"  server CPU, do-nothing handler: plain {figures['server_cpu_us_plain']:.0f},"
            f" with the tracing interceptor {figures['server_cpu_us_traced']:.0f}"
        )
        for name, label in (("intercepted", "client interceptors"), ("relay_call", "RelayCall")):
            print(
                f"  client, {label}: CPU {figures[f'client_cpu_us_{name}']:.0f},"
                f" wall {figures[f'client_wall_us_{name}']:.0f}"
            )
    if paced:
        unary = paced["paced_server_cpu_us_unary"], paced["paced_client_cpu_us_unary"]
        stream = paced["paced_server_cpu_us_stream"], paced["paced_client_cpu_us_stream"]
        print(f"  at {args.pace:g} calls a second ({paced_n:,} a round), CPU per call, server / client:")
        print(
            f"    unary call {unary[0]:.0f} / {unary[1]:.0f}; one message each way on an open stream {stream[0]:.0f} / {stream[1]:.0f}"
        )
        floor = unary[0] + sum(unary)
        print(
            f"    a single read's floor, the camera's call (server) and one unary hop on (both ends): {floor:.0f} us"
            f" ({floor * args.pace / 1e6:.2f} cores at {args.pace:g} reads/s); with the hop on a stream:"
            f" {unary[0] + sum(stream):.0f} us"
        )
    if idle:
        print(f"  one call after the client slept, wall (median of {args.idle_calls} calls a gap):")
        for gap in gaps:
            grpc_us, tcp_us = idle[f"idle_wall_us_grpc_{gap}ms"], idle[f"idle_wall_us_tcp_{gap}ms"]
            print(f"    {gap:>4} ms idle: grpc.aio {grpc_us:.0f}, plain asyncio TCP {tcp_us:.0f}")
    print(" ".join(f"{k}={v:.1f}" for k, v in {**figures, **idle}.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
