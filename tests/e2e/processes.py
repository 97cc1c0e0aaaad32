"""The suite as separate OS processes (as in production), and an OTLP collector to catch their spans."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from grpc import aio
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from anpr.client import wait_serving
from anpr.runtime.auth import Role
from anpr.runtime.config import known_only
from anpr.services import NAMES, spec
from tests.support import Tokens, free_ports, register_cameras

ROOT = Path(__file__).resolve().parents[2]


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """A real OTLP/gRPC trace receiver: spans by trace id, with the service that sent them."""

    def __init__(self):
        self.spans: dict[str, list[tuple[str, object]]] = defaultdict(list)
        self._changed = asyncio.Condition()
        self.server: aio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = aio.server()
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop(0)

    async def Export(self, request, context):
        async with self._changed:
            for rs in request.resource_spans:
                service = next((a.value.string_value for a in rs.resource.attributes
                                if a.key == "service.name"), "?")
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        self.spans[span.trace_id.hex()].append((service, span))
            self._changed.notify_all()
        return trace_service_pb2.ExportTraceServiceResponse()

    def services_in(self, trace_id: str) -> set[str]:
        return {svc for svc, _ in self.spans.get(trace_id, [])}

    async def wait_for_services(self, trace_id: str, services: set[str], timeout: float = 20.0) -> set[str]:
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: services <= self.services_in(trace_id)), timeout)
            except TimeoutError:
                pass
        return self.services_in(trace_id)


class ProcessSuite:
    def __init__(self, database_url: str, tokens: Tokens, collector_port: int | None, log_dir: Path,
                 extra_env: dict[str, str] | None = None):
        self.extra_env = extra_env or {}
        self.database_url = database_url
        self.tokens = tokens
        self.ports = dict(zip(NAMES, free_ports(len(NAMES)), strict=True))
        self.collector_port = collector_port
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen] = {}

    def addr(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    def start_replica(self, service: str, name: str) -> None:
        """Another process of `service`, listening on self.ports[name]."""
        self.start(service, name)

    def start(self, service: str, name: str | None = None) -> None:
        name = name or service
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ANPR_"))}
        env.update({
            "ANPR_DATABASE_URL": self.database_url, "ANPR_GRPC_HOST": "127.0.0.1",
            "ANPR_GRPC_PORT": str(self.ports[name]), "ANPR_TOKENS_FILE": str(self.tokens.path),
            "ANPR_SERVICE_TOKEN": self.tokens[Role.SERVICE], "ANPR_MATCHER_ADDR": self.addr("matcher"),
            "ANPR_NOTIFY_ADDR": self.addr("notify"), "ANPR_FIREARMS_ADDR": self.addr("firearms"),
            "ANPR_INGEST_ADDR": self.addr("ingest"),
            "ANPR_SHUTDOWN_GRACE_S": "2", "OTEL_SERVICE_NAME": f"anpr-{service}", "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
        })
        if self.collector_port:
            env.update({
                "OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_INSECURE": "true",
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.collector_port}",
                "OTEL_BSP_SCHEDULE_DELAY": "100"})
        env.update(self.extra_env)
        env = known_only(spec(service).settings_cls, env)  # each service refuses settings it does not read
        log = open(self.log_dir / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen([sys.executable, "-m", "anpr.cli", "serve", service], cwd=ROOT,
                                            env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    async def wait_serving(self, name: str, timeout: float = 60.0) -> None:
        proc = self.procs[name]
        if not await wait_serving(self.addr(name), alive=lambda: proc.poll() is None, timeout=timeout):
            state = "exited" if proc.poll() is not None else f"not SERVING after {timeout} s"
            raise AssertionError(f"{name} {state}:\n{self.log(name)[-3000:]}")

    def kill(self, name: str) -> None:
        """SIGKILL: a crash, with no chance to clean up."""
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait()

    async def restart(self, name: str) -> None:
        self.start(name)
        await self.wait_serving(name)

    async def start_all(self) -> None:
        for name in NAMES:
            self.start(name)
        for name in NAMES:
            await self.wait_serving(name)
        await register_cameras(self.addr("ingest"), self.tokens)

    async def stop(self, name: str, timeout: float = 20.0) -> int:
        """SIGTERM, as Kubernetes sends; returns the exit code. (Waits off the event loop, so an
        in-test collector keeps answering the exporter's final flush.)"""
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                return await asyncio.to_thread(proc.wait, timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError(f"{name} ignored SIGTERM for {timeout} s")
        return proc.returncode

    async def stop_all(self) -> dict[str, int]:
        names = list(self.procs)
        codes = await asyncio.gather(*(self.stop(n) for n in names))
        return dict(zip(names, codes, strict=True))
