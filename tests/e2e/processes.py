"""The suite as separate OS processes (as in production; started by cli/suite/launcher.py), and an OTLP
collector to catch their spans."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path

from grpc import aio
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from cli.suite.launcher import ROOT, Launcher, Tokens
from tests.support import logins_of, register_cameras

__all__ = ["ROOT", "Collector", "ProcessSuite"]


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
                service = next((a.value.string_value for a in rs.resource.attributes if a.key == "service.name"), "?")
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        self.spans[span.trace_id.hex()].append((service, span))
            self._changed.notify_all()
        return trace_service_pb2.ExportTraceServiceResponse()

    def services_in(self, trace_id: str) -> set[str]:
        return {svc for svc, _ in self.spans.get(trace_id, [])}

    async def wait_for_services(self, trace_id: str, services: set[str], within_s: float = 20.0) -> set[str]:
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: services <= self.services_in(trace_id)), within_s)
            except TimeoutError:
                pass
        return self.services_in(trace_id)


class ProcessSuite(Launcher):
    """The suite's four processes (cli/suite/launcher.py) as the tests want them: no trace export unless
    a collector is given, a short shutdown grace, and the test cameras registered once serving."""

    def __init__(
        self,
        database_url: str,
        tokens: Tokens,
        collector_port: int | None,
        log_dir: Path,
        extra_env: dict[str, str] | None = None,
    ):
        env = {"ANPR_SHUTDOWN_GRACE_S": "2", "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}
        if data_dir := getattr(database_url, "data_dir", None):  # one firearms key and checkpoint file per database
            env["ANPR_DATA_DIR"] = str(data_dir)
        if collector_port:
            env.update(
                {
                    "OTEL_TRACES_EXPORTER": "otlp",
                    "OTEL_EXPORTER_OTLP_INSECURE": "true",
                    "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector_port}",
                    "OTEL_BSP_SCHEDULE_DELAY": "100",
                }
            )
        super().__init__(logins_of(database_url), tokens, log_dir, env=env | (extra_env or {}))

    async def start_all(self, within_s: float = 60.0) -> None:
        await super().start_all(within_s)
        await register_cameras(self.addr("ingest"), self.tokens)
