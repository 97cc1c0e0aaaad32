"""A child process started while gRPC is busy in another thread does not crash before its exec
(grpc/grpc#43055: gRPC's C-core fork handlers restart its poller in the child). The suite starts
children so all the time (initdb and pg_ctl of the embedded PostgreSQL, the services `anpr up`
launches, a service's workers); importing `anpr` first turns the handlers off (anpr/__init__.py).
Without that, about one `subprocess.run` in five crashed here."""

from __future__ import annotations

import os
import subprocess
import sys

from cli.suite.launcher import ROOT

# Run in a fresh interpreter whose environment does not have the setting: `import anpr` must give it.
SCRIPT = """
import anpr  # first, as every entry point of the suite
import asyncio, os, subprocess, threading
import grpc
from grpc import aio

async def echo(request, context):
    return request

def load(busy, stop):
    async def main():
        server = aio.server()
        handler = grpc.unary_unary_rpc_method_handler(echo, None, None)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.Echo", {"Call": handler}),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/t.Echo/Call", None, None)
            while not stop.is_set():
                await call(b"x", timeout=5)
                busy.set()
        await server.stop(None)
    asyncio.run(main())

busy, stop = threading.Event(), threading.Event()
thread = threading.Thread(target=load, args=(busy, stop))
thread.start()
assert busy.wait(30), "no gRPC call completed"
# `user` makes subprocess fork (not vfork), as embedded PostgreSQL's initdb does when run as root
crashed = sum(subprocess.run(["/bin/true"], user=os.geteuid()).returncode != 0 for _ in range(200))
stop.set()
thread.join()
print("crashed", crashed)
"""


def test_children_started_while_grpc_is_busy_reach_their_exec():
    env = {k: v for k, v in os.environ.items() if k != "GRPC_ENABLE_FORK_SUPPORT"}
    ran = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=150)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.split()[-2:] == ["crashed", "0"], ran.stdout[-500:] + ran.stderr[-2000:]
