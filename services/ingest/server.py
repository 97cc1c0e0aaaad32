"""Ingest servicer: validate, commit (group commit), acknowledge; the outbox relay forwards reads
to matcher; a maintenance task keeps day partitions ahead and drops expired ones."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from opentelemetry import trace

import services
from anpr.field_limits import SCAN_PAGE_DEFAULT, SCAN_PAGE_MAX, SUBMIT_READS_PER_CALL, compile_checkers
from anpr.geo import point_problems
from anpr.runtime import metrics
from anpr.runtime.auth import Role, current_caller
from anpr.runtime.errors import InvalidArgument, NotFound, ResourceExhausted
from anpr.runtime.failures import keep_running
from anpr.runtime.outbox import Outbox
from anpr.runtime.rate_limit import RateLimiter
from anpr.runtime.server import Runtime
from anpr.runtime.telemetry import ATTR_READ_COUNT, ATTR_READ_DUPLICATE, ATTR_READ_REJECTED, current_traceparent
from anpr.scope import check_scoped, in_scope
from anpr.v1 import ingest_pb2, ingest_pb2_grpc, matcher_pb2, types_pb2
from anpr.vrm import is_valid_vrm, normalise_vrm
from services.ingest import store
from services.ingest.config import IngestSettings
from services.ingest.validation import timestamp_utc, validate_read
from services.ingest.writer import ReadWriter

log = logging.getLogger(__name__)

# A read PostgreSQL refused although validation let it through (a bug of validation: logged).
REFUSED = "refused by the read store"
READ_STATUS_STORED = ingest_pb2.READ_STATUS_STORED
READ_STATUS_DUPLICATE = ingest_pb2.READ_STATUS_DUPLICATE
READ_STATUS_REJECTED = ingest_pb2.READ_STATUS_REJECTED
READ_STATUS_THROTTLED = ingest_pb2.READ_STATUS_THROTTLED
MAINTENANCE_INTERVAL_S = 3600.0
CAMERAS_TASK, MAINTENANCE_TASK = "camera-registry", "partition-maintenance"
MAX_SEARCH_VRMS = 256  # SearchReadsRequest.vrms


class CameraRegistry:
    """Which cameras may send reads, and their force and position; every replica follows changes
    through LISTEN/NOTIFY."""

    def __init__(self, pool) -> None:
        self._pool = pool
        self.cameras: dict[str, store.CameraInfo] = {}
        self._changed = asyncio.Event()

    def problem(self, camera_id: str) -> str | None:
        camera = self.cameras.get(camera_id)
        if camera is None:
            return "unknown camera: register it first (anpr camera add)"
        if not camera.enabled:
            return "camera is disabled"
        return None

    async def reload(self) -> None:
        async with self._pool.acquire() as conn:
            self.cameras = await store.camera_infos(conn)

    def places(self, reads: list[types_pb2.Read]) -> list[ingest_pb2.ReadPlace]:
        """Where each read was made and by which force's camera (a camera since removed: no force)."""
        return [self.cameras.get(r.camera_id, store.UNKNOWN_CAMERA).place(r) for r in reads]

    def on_notify(self, *_) -> None:
        """A replica changed the registry (or the LISTEN connection came back): reload it."""
        self._changed.set()

    async def follow(self) -> None:
        """One reload, once told of a change (a step of keep_running)."""
        await self._changed.wait()
        self._changed.clear()
        try:
            await self.reload()
        except Exception:
            self._changed.set()  # not reloaded: again after keep_running's pause
            raise


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(
        self, pool, settings: IngestSettings, writer: ReadWriter, cameras: CameraRegistry, limiter: RateLimiter
    ):
        self._pool = pool
        self._settings = settings
        self._writer = writer
        self._cameras = cameras
        self._limiter = limiter
        self._check_read = compile_checkers(settings)["anpr.v1.Read"]

    async def _process(
        self, reads: Sequence[types_pb2.Read], prefix: str, *, checked: bool = False
    ) -> list[ingest_pb2.ReadResult]:
        """Validate and store a batch; one result per read, in order. Commits before returning.
        `checked`: the reads' limits were checked at the edge (SubmitRead's read), not again here."""
        s = self._settings
        now = store.now_utc()
        skew, retention = timedelta(seconds=s.max_clock_skew_s), timedelta(days=s.read_retention_days)
        results: list[ingest_pb2.ReadResult] = []
        good: list[tuple[ingest_pb2.ReadResult, store.NewRead, str]] = []
        seen: set[tuple[str, datetime]] = set()
        rejected = duplicates = 0
        trace_bytes = store.trace_field(current_traceparent())
        for i, read in enumerate(reads):
            path = f"{prefix}[{i}]." if prefix else ""
            violations, vrm, captured = validate_read(
                read,
                now=now,
                max_skew=skew,
                retention=retention,
                check=None if checked else self._check_read,
                prefix=path,
            )
            if not violations:
                problem = self._cameras.problem(read.camera_id)
                if problem:
                    violations.append((path + "camera_id", problem))
            result = ingest_pb2.ReadResult(read_id=read.read_id)
            results.append(result)
            if violations:
                rejected += 1
                result.status = READ_STATUS_REJECTED
                result.violations.extend(types_pb2.FieldViolation(field=f, description=d) for f, d in violations)
                continue
            new = store.NewRead(read, vrm, captured, trace_bytes, self._cameras.cameras[read.camera_id])
            if new.key in seen:
                duplicates += 1
                result.status = READ_STATUS_DUPLICATE
            elif not self._limiter.allow(read.camera_id):
                result.status = READ_STATUS_THROTTLED
            else:
                seen.add(new.key)
                good.append((result, new, path))
        if good:
            written = await self._writer.write([new for _, new, _ in good])
            for result, new, path in good:
                if new.key in written.stored:
                    result.status = READ_STATUS_STORED
                elif new.key in written.refused:
                    rejected += 1
                    result.status = READ_STATUS_REJECTED
                    result.violations.add(field=path.rstrip("."), description=REFUSED)
                else:
                    duplicates += 1
                    result.status = READ_STATUS_DUPLICATE
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute(ATTR_READ_COUNT, len(reads))
            span.set_attribute(ATTR_READ_REJECTED, rejected)
            span.set_attribute(ATTR_READ_DUPLICATE, duplicates)
        metrics.count_reads(results)
        return results

    def _check_batch_size(self, n: int) -> None:
        if n > self._settings.max_batch_reads:
            raise ResourceExhausted(f"reads: at most {self._settings.max_batch_reads} reads per batch, got {n}")

    async def SubmitRead(self, request, context):
        [result] = await self._process([request.read], "", checked=True)  # the edge checked its limits
        if result.status == READ_STATUS_REJECTED:
            raise InvalidArgument([(("read." + v.field).rstrip("."), v.description) for v in result.violations])
        if result.status == READ_STATUS_THROTTLED:
            raise self._throttled(request.read.camera_id)
        return ingest_pb2.SubmitReadResponse(result=result)

    def _throttled(self, camera_id: str) -> ResourceExhausted:
        """Over the camera's rate: RESOURCE_EXHAUSTED with QuotaFailure and RetryInfo details."""
        quota = error_details_pb2.QuotaFailure(
            violations=[
                error_details_pb2.QuotaFailure.Violation(
                    subject=f"camera:{camera_id}",
                    description=f"more than {self._settings.camera_rate_per_s:g} reads/s from this camera",
                )
            ]
        )
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(max(1, int(self._limiter.retry_after_s(camera_id) * 1000)))
        return ResourceExhausted(
            "camera_id: rate limit exceeded; resubmit later",
            details=[quota, error_details_pb2.RetryInfo(retry_delay=delay)],
        )

    async def SubmitReads(self, request_iterator, context):
        results = []
        async for request in request_iterator:
            self._check_batch_size(len(request.reads))
            if len(results) + len(request.reads) > SUBMIT_READS_PER_CALL:
                raise ResourceExhausted(
                    f"reads: at most {SUBMIT_READS_PER_CALL} reads per SubmitReads call; this batch was not stored"
                )
            results.extend(await self._process(request.reads, "reads"))
        return ingest_pb2.SubmitReadsResponse(results=results)

    async def StreamReads(self, request_iterator, context):
        async for request in request_iterator:
            self._check_batch_size(len(request.reads))
            results = await self._process(request.reads, "reads")
            yield ingest_pb2.StreamReadsResponse(batch_id=request.batch_id, results=results)

    async def GetRead(self, request, context):
        """A read with its images, for a person of the read's camera's force, with a reason; every
        call audited (one answered NOT_FOUND too)."""
        caller = current_caller()
        check_scoped(caller)
        if not request.reason.strip():
            raise InvalidArgument.of("reason", "required: every view of a read and its images is audited")
        async with self._pool.acquire() as conn, conn.transaction():
            found = await store.get_read(conn, request.read_id)
            shown = found is not None and in_scope(caller, found[1])
            captured = found[0].captured_at.ToDatetime(timezone.utc) if found else None
            who = (caller.subject, str(caller.role), caller.subject)
            await store.audit_view(conn, request.read_id, captured, who, request.reason, shown)
        if not shown:
            raise NotFound("read_id: no such read")  # another force's read is not told of
        return ingest_pb2.GetReadResponse(read=found[0])

    async def GetReadPlatePatch(self, request, context):
        """A read's plate patch for a service, audited for the person it names."""
        problems = [(f, "required") for f in ("read_id", "viewer") if not getattr(request, f).strip()]
        if not request.HasField("captured_at"):
            problems.append(("captured_at", "required"))
        if problems:
            raise InvalidArgument(problems)
        caller, captured = current_caller(), timestamp_utc(request.captured_at)
        async with self._pool.acquire() as conn, conn.transaction():
            found, image = await store.plate_patch(conn, request.read_id, captured)
            who = (caller.subject, str(caller.role), request.viewer)
            await store.audit_view(conn, request.read_id, captured, who, request.reason, found)
        if not found:
            raise NotFound("read_id: no such read")
        return ingest_pb2.GetReadPlatePatchResponse(plate_image=image)

    async def SearchReads(self, request, context):
        vrm = normalise_vrm(request.vrm)
        longest = self._settings.read_retention_days * 86400
        errors = [] if vrm else [("vrm", "required")]
        if not 0 < request.lookback_seconds <= longest:
            errors.append(("lookback_seconds", f"must be between 1 and {longest} (the retention period)"))
        if request.page_size < 0:
            errors.append(("page_size", "must not be negative"))
        if len(request.vrms) > MAX_SEARCH_VRMS:
            errors.append(("vrms", f"at most {MAX_SEARCH_VRMS}"))
        if errors:
            raise InvalidArgument(errors)
        vrms = sorted({vrm, *(v for v in map(normalise_vrm, request.vrms) if is_valid_vrm(v))})
        page = min(request.page_size or 100, 1000)
        async with self._pool.acquire() as conn:
            reads = await store.search_reads(conn, vrms, store.lookback(request.lookback_seconds), page)
        return ingest_pb2.SearchReadsResponse(reads=reads, places=self._cameras.places(reads))

    async def ScanReads(self, request, context):
        longest = self._settings.read_retention_days * 86400
        errors = []
        if not 0 < request.lookback_seconds <= longest:
            errors.append(("lookback_seconds", f"must be between 1 and {longest} (the retention period)"))
        if not 0 <= request.page_size <= SCAN_PAGE_MAX:
            errors.append(("page_size", f"must be between 1 and {SCAN_PAGE_MAX}, or 0 for {SCAN_PAGE_DEFAULT}"))
        if errors:
            raise InvalidArgument(errors)
        since = store.lookback(request.lookback_seconds)
        async with (
            self._pool.acquire() as conn,
            contextlib.aclosing(store.scan_reads(conn, since, request.page_size or SCAN_PAGE_DEFAULT)) as pages,
        ):
            async for reads in pages:  # a cancelled call closes the transaction before the connection goes back
                yield ingest_pb2.ScanReadsResponse(reads=reads, places=self._cameras.places(reads))

    async def UpsertCamera(self, request, context):
        cam = request.camera
        errors = []
        if not cam.camera_id:
            errors.append(("camera.camera_id", "required"))
        if cam.HasField("location"):
            errors += point_problems(cam.location, "camera.location")
        elif cam.enabled:  # its reads without coordinates would be placed nowhere
            errors.append(("camera.location", "required"))
        if cam.enabled and not cam.force.strip():  # its hits would reach no control room or TFC
            errors.append(("camera.force", "required"))
        if errors:
            raise InvalidArgument(errors)
        async with self._pool.acquire() as conn:
            saved = await store.upsert_camera(conn, cam)
        self._cameras.cameras[saved.camera_id] = store.CameraInfo.of(saved)
        return ingest_pb2.UpsertCameraResponse(camera=saved)

    async def ListCameras(self, request, context):
        async with self._pool.acquire() as conn:
            return ingest_pb2.ListCamerasResponse(cameras=await store.list_cameras(conn))


async def run_retention(conn, settings: IngestSettings, now=None) -> list[str]:
    """Create today's and tomorrow's partitions; drop those past retention. Returns dropped tables."""
    now = now or store.now_utc()
    await store.ensure_partitions(conn, {now.date(), (now + timedelta(days=1)).date()})
    return await store.drop_expired_partitions(conn, settings.read_retention_days, now)


class IngestComponent:
    def __init__(self, rt: Runtime):
        settings: IngestSettings = rt.settings  # type: ignore[assignment]
        self._rt = rt
        self._pool = rt.pool
        self._settings = settings
        self.cameras = CameraRegistry(rt.pool)
        # reads go on to matcher as queued, their requests already encoded; matcher answers only once
        # their hits are durably queued
        match_reads = rt.relay_call(
            settings.matcher_addr,
            "/anpr.v1.MatcherService/MatchReads",
            matcher_pb2.MatchReadsResponse.FromString,
            answered=lambda r: r.accepted,
            deadline_s=30,
        )
        self.outbox = Outbox(rt.pool, {store.MATCH_TOPIC: (match_reads, {})})
        self.writer = ReadWriter(
            rt.pool,
            rt.tasks,
            max_reads=settings.flush_max_reads,
            window_s=settings.flush_window_s,
            max_pending_reads=settings.max_pending_reads,
            outbox=self.outbox,
        )
        self.servicer = IngestServicer(
            rt.pool,
            settings,
            self.writer,
            self.cameras,
            RateLimiter(settings.camera_rate_per_s, settings.camera_burst),
        )

    async def _maintain(self) -> float:
        """Partitions made ahead and expired ones dropped; the pause before the next round."""
        async with self._pool.acquire() as conn:
            dropped = await run_retention(conn, self._settings)
        if dropped:
            log.info("retention dropped partitions", extra={"tables": dropped})
        return MAINTENANCE_INTERVAL_S

    async def _maintenance(self) -> None:
        await asyncio.sleep(MAINTENANCE_INTERVAL_S)  # start() has just made a round
        await keep_running(self._maintain, log, "partition maintenance")

    async def start(self) -> None:
        await self._maintain()
        await self.cameras.reload()
        await self.writer.start()
        listener = await self._rt.listener()
        await self.outbox.start(listener, self._rt.tasks, self._rt.instance)
        await listener.add_listener(store.CAMERAS_CHANNEL, self.cameras.on_notify)
        self._rt.tasks.start(CAMERAS_TASK, keep_running(self.cameras.follow, log, "camera registry reload"))
        self._rt.tasks.start(MAINTENANCE_TASK, self._maintenance())

    async def stop(self) -> None:
        """Drain the writer (every waiting camera gets its answer), then stop the relay."""
        await self.writer.stop()
        await self.outbox.stop(self._rt.settings.shutdown_grace_s)
        for name in (CAMERAS_TASK, MAINTENANCE_TASK):
            await self._rt.tasks.cancel(name)


ROLES = {  # who may call which RPC
    Role.CAMERA: ("SubmitRead", "SubmitReads", "StreamReads"),
    Role.CONTROL_ROOM: ("GetRead", "ListCameras"),
    Role.SERVICE: ("SearchReads", "ScanReads", "GetReadPlatePatch"),
    Role.CAMERA_ADMIN: ("UpsertCamera", "ListCameras"),
}
SPEC = services.declare(
    "ingest", IngestSettings, ingest_pb2_grpc.add_IngestServiceServicer_to_server, IngestComponent, ROLES
)
