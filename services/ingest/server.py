"""Ingest servicer: validate, commit, acknowledge; the outbox relay forwards reads to matcher."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import grpc
from opentelemetry import trace

from anpr.runtime.auth import Role
from anpr.runtime.errors import abort_invalid
from anpr.runtime.outbox import OutboxRecord, OutboxRelay, listen_for_outbox
from anpr.runtime.server import Runtime, ServiceSpec
from anpr.runtime.telemetry import (ATTR_READ_COUNT, ATTR_READ_DUPLICATE, ATTR_READ_REJECTED,
                                    current_traceparent)
from anpr.vrm import normalise_vrm
from anpr.v1 import ingest_pb2, ingest_pb2_grpc, matcher_pb2, matcher_pb2_grpc, types_pb2
from services.ingest import store
from services.ingest.config import IngestSettings
from services.ingest.validation import validate_read

log = logging.getLogger(__name__)

Status = ingest_pb2.ReadStatus


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, pool, settings: IngestSettings):
        self._pool = pool
        self._settings = settings

    async def _process(self, reads: Sequence[types_pb2.Read], prefix: str) -> list[ingest_pb2.ReadResult]:
        """Validate and store a batch; one result per read, in order. Commits before returning."""
        s = self._settings
        now = store.now_utc()
        results: list[ingest_pb2.ReadResult] = []
        good: list[store.NewRead] = []
        seen: set[str] = set()
        traceparent = current_traceparent()
        for i, read in enumerate(reads):
            violations = validate_read(
                read, now=now, max_skew=timedelta(seconds=s.max_clock_skew_s),
                retention=timedelta(days=s.read_retention_days), max_image_bytes=s.max_image_bytes,
                prefix=f"{prefix}[{i}]." if prefix else "")
            result = ingest_pb2.ReadResult(read_id=read.read_id)
            if violations:
                result.status = Status.READ_STATUS_REJECTED
                result.violations.extend(types_pb2.FieldViolation(field=f, description=d) for f, d in violations)
            elif read.read_id in seen:
                result.status = Status.READ_STATUS_DUPLICATE
            else:
                seen.add(read.read_id)
                good.append(store.NewRead(read, traceparent))
            results.append(result)
        if good:
            async with self._pool.acquire() as conn, conn.transaction():
                stored = await store.store_reads(conn, good)
            for result in results:
                if result.status == Status.READ_STATUS_UNSPECIFIED:
                    result.status = (Status.READ_STATUS_STORED if result.read_id in stored
                                     else Status.READ_STATUS_DUPLICATE)
        span = trace.get_current_span()
        span.set_attribute(ATTR_READ_COUNT, len(reads))
        span.set_attribute(ATTR_READ_REJECTED, sum(r.status == Status.READ_STATUS_REJECTED for r in results))
        span.set_attribute(ATTR_READ_DUPLICATE, sum(r.status == Status.READ_STATUS_DUPLICATE for r in results))
        return results

    async def _check_batch_size(self, n: int, context) -> None:
        if n > self._settings.max_batch_reads:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                f"reads: at most {self._settings.max_batch_reads} reads per batch, got {n}")

    async def SubmitRead(self, request, context):
        [result] = await self._process([request.read], "")
        if result.status == Status.READ_STATUS_REJECTED:
            await abort_invalid(context, [("read." + v.field, v.description) for v in result.violations])
        return ingest_pb2.SubmitReadResponse(result=result)

    async def SubmitReads(self, request_iterator, context):
        results = []
        async for request in request_iterator:
            await self._check_batch_size(len(request.reads), context)
            results.extend(await self._process(request.reads, "reads"))
        return ingest_pb2.SubmitReadsResponse(results=results)

    async def StreamReads(self, request_iterator, context):
        async for request in request_iterator:
            await self._check_batch_size(len(request.reads), context)
            results = await self._process(request.reads, "reads")
            yield ingest_pb2.StreamReadsResponse(batch_id=request.batch_id, results=results)

    async def GetRead(self, request, context):
        async with self._pool.acquire() as conn:
            read = await store.get_read(conn, request.read_id)
        if read is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "read_id: no such read")
        return ingest_pb2.GetReadResponse(read=read)

    async def SearchReads(self, request, context):
        vrm = normalise_vrm(request.vrm)
        if not vrm or request.lookback_seconds <= 0:
            await abort_invalid(context, [("vrm" if not vrm else "lookback_seconds", "required")])
        page = min(request.page_size or 100, 1000)
        async with self._pool.acquire() as conn:
            reads = await store.search_reads(conn, vrm, store.lookback(request.lookback_seconds), page)
        return ingest_pb2.SearchReadsResponse(reads=reads)


class Ingest:
    def __init__(self, rt: Runtime):
        settings: IngestSettings = rt.settings  # type: ignore[assignment]
        self._pool = rt.pool
        self._rt = rt
        self.servicer = IngestServicer(rt.pool, settings)
        self._matcher = matcher_pb2_grpc.MatcherServiceStub(
            rt.channel(settings.matcher_addr, settings.service_token))
        self._relay = OutboxRelay(rt.pool, store.MATCH_TOPIC, self._forward)
        self._tasks: list[asyncio.Task] = []
        self._listen_conn = None

    async def _forward(self, records: Sequence[OutboxRecord]) -> None:
        reads = []
        for rec in records:
            item = matcher_pb2.MatchRead.FromString(rec.payload)
            item.traceparent = rec.traceparent
            reads.append(item)
        await self._matcher.MatchReads(matcher_pb2.MatchReadsRequest(reads=reads), timeout=30)

    async def start(self) -> None:
        self._listen_conn = await self._rt.listener()
        await listen_for_outbox(self._listen_conn, [self._relay])
        self._tasks.append(asyncio.create_task(self._relay.run(), name="outbox-match"))

    async def stop(self) -> None:
        self._relay.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def build(rt: Runtime) -> Ingest:
    return Ingest(rt)


SPEC = ServiceSpec(
    name="ingest",
    grpc_service="anpr.v1.IngestService",
    schema="ingest",
    migrations=Path(__file__).parent / "migrations",
    settings_cls=IngestSettings,
    method_roles={
        "SubmitRead": frozenset({Role.CAMERA}),
        "SubmitReads": frozenset({Role.CAMERA}),
        "StreamReads": frozenset({Role.CAMERA}),
        "GetRead": frozenset({Role.CONTROL_ROOM}),
        "SearchReads": frozenset({Role.SERVICE}),
    },
    add_servicer=ingest_pb2_grpc.add_IngestServiceServicer_to_server,
    build=build,
)
