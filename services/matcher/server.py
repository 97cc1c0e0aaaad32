"""Matcher servicer: match reads against the live index; hotlist administration; historical hits."""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import grpc
from google.protobuf import timestamp_pb2
from opentelemetry import context as otel_context
from opentelemetry import trace

from anpr.runtime.auth import Role, current_caller
from anpr.runtime.errors import abort_invalid
from anpr.runtime.outbox import OutboxRecord, OutboxRelay, listen_for_outbox
from anpr.runtime.server import Runtime, ServiceSpec
from anpr.runtime.telemetry import (ATTR_HIT_COUNT, ATTR_HIT_ID, ATTR_READ_COUNT, ATTR_READ_ID,
                                    context_from_traceparent, current_traceparent)
from anpr.vrm import is_valid_vrm, normalise_vrm
from anpr.v1 import (firearms_pb2, firearms_pb2_grpc, ingest_pb2, ingest_pb2_grpc, matcher_pb2,
                     matcher_pb2_grpc, notify_pb2, notify_pb2_grpc, types_pb2)
from services.matcher import store
from services.matcher.config import MatcherSettings
from services.matcher.index import LookalikeClasses, Match
from services.matcher.live import LiveIndex

log = logging.getLogger(__name__)
tracer = trace.get_tracer("anpr.matcher")

HIT_NAMESPACE = uuid.UUID("6f1c9a52-7f4e-4d3b-9a53-5b8f1f0c2d11")
IMPORT_VIOLATIONS_SHOWN = 200
# A list import that adds more entries than this (a full national extract) gets no historical
# checks: that would be a search of the read store per entry.
HISTORICAL_CHECKS_PER_IMPORT = 10_000
# More changes than this since the last refresh: rebuild the index rather than apply them one by one.
FULL_RELOAD_AT = 100_000
# A receiver that answers these will never accept the record: it is set aside, not retried.
PERMANENT_ERRORS = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OUT_OF_RANGE}


def hit_id_for(read_id: str, entry_id: str) -> str:
    """Deterministic: the same read and entry always give the same hit id (downstream dedup key)."""
    return str(uuid.uuid5(HIT_NAMESPACE, f"{read_id}\x1f{entry_id}"))


def area_cell(location: types_pb2.GeoPoint, cell_km: float) -> str:
    """A grid cell of about cell_km x cell_km around the read, for alert deduplication."""
    if cell_km <= 0:
        return "*"
    dlat = cell_km / 111.0
    dlon = cell_km / (111.0 * max(0.1, math.cos(math.radians(location.latitude))))
    return f"{math.floor(location.latitude / dlat)}:{math.floor(location.longitude / dlon)}"


def validate_entry(entry: types_pb2.VoiEntry, prefix: str = "entry.") -> list[tuple[str, str]]:
    errors = []
    if not entry.hotlist_id:
        errors.append((prefix + "hotlist_id", "required"))
    vrm = normalise_vrm(entry.vrm)
    if not vrm:
        errors.append((prefix + "vrm", "required"))
    elif not is_valid_vrm(vrm):
        errors.append((prefix + "vrm", "must be 1-10 letters A-Z or digits 0-9 after removing spaces"))
    if entry.action == types_pb2.ACTION_UNSPECIFIED:
        errors.append((prefix + "action", "required"))
    if not entry.reason.strip():
        errors.append((prefix + "reason", "required"))
    return errors


def vehicle_mismatches(read: types_pb2.VehicleDescription, entry: types_pb2.VehicleDescription) -> list[str]:
    out = []
    for name in ("make", "model", "colour"):
        a, b = getattr(read, name).strip().lower(), getattr(entry, name).strip().lower()
        if a and b and a != b:
            out.append(name)
    return out


@dataclass(frozen=True)
class Found:
    read: types_pb2.Read
    match: Match
    traceparent: str
    historical: bool = False


class HitMaker:
    """Turns index matches into hits: re-checks each entry as stored (deleted, weed date, list policy),
    marks vehicle mismatches and repeats, and queues the hits for delivery, in one transaction."""

    def __init__(self, live: LiveIndex, settings: MatcherSettings, clock: Callable[[], datetime]):
        self._live = live
        self._settings = settings
        self._clock = clock

    async def record(self, conn, found: Sequence[Found]) -> int:
        """In the caller's transaction. Hit-recording transactions commit one at a time, so their
        outbox records commit in id order and the relays deliver hits in the order they were made
        (the first sighting raises an activation, later ones attach to it)."""
        if not found:
            return 0
        await conn.execute("SELECT pg_advisory_xact_lock($1)", store.HITS_LOCK)
        now = self._clock()
        matched_at = timestamp_pb2.Timestamp()
        matched_at.FromDatetime(now)
        window = timedelta(seconds=self._settings.dedup_window_s)
        cands = await store.candidates(conn, [f.match.entry_id for f in found])
        hits = []
        for f in found:
            cand = cands.get(f.match.entry_id)
            if cand is None or (cand.weed_at is not None and cand.weed_at <= now):
                continue  # deleted since, or lapsed at its weed date
            hotlist = self._live.hotlists.get(cand.hotlist_id, types_pb2.Hotlist(hotlist_id=cand.hotlist_id))
            if not f.match.exact and hotlist.match_policy == types_pb2.MATCH_POLICY_EXACT:
                continue
            hit = types_pb2.Hit(
                hit_id=hit_id_for(f.read.read_id, cand.entry.entry_id), read=f.read, entry=cand.entry,
                hotlist=hotlist,
                match_kind=types_pb2.MATCH_KIND_EXACT if f.match.exact else types_pb2.MATCH_KIND_LOOKALIKE,
                differing_positions=f.match.differing_positions,
                vehicle_mismatches=vehicle_mismatches(f.read.vehicle, cand.entry.vehicle),
                historical=f.historical, matched_at=matched_at)
            hits.append((hit, cand.firearms, f.traceparent))
        new_ids = await store.insert_hits(conn, [h for h, _, _ in hits])
        fresh = [(h, firearms, t) for h, firearms, t in hits if h.hit_id in new_ids]
        for hit, _, _ in fresh:  # count repeats only for hits made now, in read order
            hit.repeat_count = await store.count_repeat(
                conn, hit.entry.entry_id, normalise_vrm(hit.read.vrm),
                area_cell(hit.read.location, self._settings.dedup_cell_km),
                hit.read.captured_at.ToDatetime(tzinfo=timezone.utc), window)
        await store.queue_hits(conn, fresh)
        return len(fresh)


class MatcherServicer(matcher_pb2_grpc.MatcherServiceServicer):
    def __init__(self, pool, live: LiveIndex, settings: MatcherSettings, hits: HitMaker, refresh):
        self._pool = pool
        self._live = live
        self._settings = settings
        self._hits = hits
        self._refresh = refresh

    async def MatchReads(self, request, context):
        found: list[Found] = []
        max_diff = self._settings.lookalike_max_differences
        for item in request.reads:
            parent = context_from_traceparent(item.traceparent)
            with tracer.start_as_current_span("anpr.match", context=parent) as span:
                span.set_attribute(ATTR_READ_ID, item.read.read_id)
                vrm = normalise_vrm(item.read.vrm)
                matches = self._live.match(vrm, max_diff) if is_valid_vrm(vrm) else []
                span.set_attribute(ATTR_HIT_COUNT, len(matches))
                if matches:
                    traceparent = current_traceparent()
                    found.extend(Found(item.read, m, traceparent) for m in matches)
        new_hits = 0
        if found:
            async with self._pool.acquire() as conn, conn.transaction():
                new_hits = await self._hits.record(conn, found)
        span = trace.get_current_span()
        span.set_attribute(ATTR_READ_COUNT, len(request.reads))
        span.set_attribute(ATTR_HIT_COUNT, new_hits)
        return matcher_pb2.MatchReadsResponse(accepted=len(request.reads), hits=new_hits)

    async def UpsertHotlist(self, request, context):
        h = request.hotlist
        errors = []
        if not h.name.strip():
            errors.append(("hotlist.name", "required"))
        if h.source == types_pb2.HOTLIST_SOURCE_UNSPECIFIED:
            errors.append(("hotlist.source", "required"))
        if errors:
            await abort_invalid(context, errors)
        async with self._pool.acquire() as conn:
            try:
                saved = await store.upsert_hotlist(conn, h)
            except Exception as exc:
                if type(exc).__name__ == "UniqueViolationError":
                    await context.abort(grpc.StatusCode.ALREADY_EXISTS, "hotlist.name: a list with this name exists")
                raise
        await self._refresh()
        return matcher_pb2.UpsertHotlistResponse(hotlist=saved)

    async def ListHotlists(self, request, context):
        async with self._pool.acquire() as conn:
            return matcher_pb2.ListHotlistsResponse(hotlists=await store.list_hotlists(conn))

    async def UpsertEntry(self, request, context):
        entry = types_pb2.VoiEntry()
        entry.CopyFrom(request.entry)
        errors = validate_entry(entry)
        if errors:
            await abort_invalid(context, errors)
        entry.entry_id = entry.entry_id or str(uuid.uuid4())
        async with self._pool.acquire() as conn, conn.transaction():
            if not await store.hotlist_exists(conn, entry.hotlist_id):
                await context.abort(grpc.StatusCode.NOT_FOUND, "entry.hotlist_id: no such hotlist")
            if await store.upsert_entry(conn, entry, normalise_vrm(entry.vrm)):
                await store.queue_historical_check(conn, [entry.entry_id], current_traceparent())
        await self._refresh()
        return matcher_pb2.UpsertEntryResponse(entry=entry)

    async def DeleteEntry(self, request, context):
        async with self._pool.acquire() as conn:
            found = await store.delete_entry(conn, request.entry_id)
        if not found:
            await context.abort(grpc.StatusCode.NOT_FOUND, "entry_id: no such entry")
        await self._refresh()
        return matcher_pb2.DeleteEntryResponse()

    async def GetEntry(self, request, context):
        if not request.reason.strip():
            await abort_invalid(context, [("reason", "required: every read of an entry is audited")])
        caller = current_caller()
        async with self._pool.acquire() as conn, conn.transaction():
            entry = await store.get_entry_audited(conn, request.entry_id, caller.subject, caller.role,
                                                  request.reason)
        if entry is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "entry_id: no such entry")
        return matcher_pb2.GetEntryResponse(entry=entry)

    async def ImportEntries(self, request_iterator, context):
        errors: list[tuple[str, str]] = []
        n = 0
        async with self._pool.acquire() as conn, conn.transaction():
            job: store.HotlistImport | None = None
            async for request in request_iterator:
                if job is None:
                    if not request.hotlist_id:
                        await abort_invalid(context, [("hotlist_id", "required on the first message")])
                    if not await store.hotlist_exists(conn, request.hotlist_id):
                        await context.abort(grpc.StatusCode.NOT_FOUND, "hotlist_id: no such hotlist")
                    job = store.HotlistImport(conn, request.hotlist_id, HISTORICAL_CHECKS_PER_IMPORT)
                    await job.begin()
                records = []
                for e in request.entries:
                    entry = types_pb2.VoiEntry()
                    entry.CopyFrom(e)
                    entry.hotlist_id = job.hotlist_id
                    bad = validate_entry(entry, prefix=f"entries[{n}].")
                    if not entry.entry_id:
                        bad.append((f"entries[{n}].entry_id", "required (stable across imports)"))
                    n += 1
                    if bad:
                        errors.extend(bad)
                        continue
                    records.append(store.entry_record(entry, normalise_vrm(entry.vrm)))
                if records and not errors:
                    await job.add(records)
            if job is None:
                await abort_invalid(context, [("hotlist_id", "required on the first message")])
            if errors:
                more = len(errors) - IMPORT_VIOLATIONS_SHOWN
                shown = errors[:IMPORT_VIOLATIONS_SHOWN] + ([("entries", f"... and {more} more")] if more > 0 else [])
                await abort_invalid(context, shown)
            try:
                added_ids, added, changed, removed = await job.finish()
            except Exception as exc:
                if type(exc).__name__ == "UniqueViolationError":
                    await abort_invalid(context, [("entries", "entry_id repeated in the import")])
                raise
            if added <= HISTORICAL_CHECKS_PER_IMPORT:
                await store.queue_historical_check(conn, added_ids, current_traceparent())
            else:
                log.warning("import added too many entries for historical checks; none queued",
                            extra={"added": added, "limit": HISTORICAL_CHECKS_PER_IMPORT})
        await self._refresh()
        log.info("hotlist imported",
                 extra={"entries": n, "added": added, "changed": changed, "removed": removed})
        return matcher_pb2.ImportEntriesResponse(imported=n, hotlist_version=self._live.version)


class Matcher:
    def __init__(self, rt: Runtime, clock: Callable[[], datetime] | None = None):
        settings: MatcherSettings = rt.settings  # type: ignore[assignment]
        self._rt = rt
        self._pool = rt.pool
        self._settings = settings
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        classes = LookalikeClasses([c.strip() for c in settings.lookalike_classes.split(",") if c.strip()])
        self.live = LiveIndex(classes)
        self.hits = HitMaker(self.live, settings, lambda: self.clock())
        self._refresh_lock = asyncio.Lock()
        self.servicer = MatcherServicer(rt.pool, self.live, settings, self.hits, self.refresh)
        self._notify = notify_pb2_grpc.NotifyServiceStub(rt.channel(settings.notify_addr, settings.service_token))
        self._firearms = firearms_pb2_grpc.FirearmsServiceStub(
            rt.channel(settings.firearms_addr, settings.service_token))
        self._ingest = ingest_pb2_grpc.IngestServiceStub(rt.channel(settings.ingest_addr, settings.service_token))
        self._relays = [OutboxRelay(rt.pool, store.NOTIFY_TOPIC, self._to_notify, batch_size=50),
                        OutboxRelay(rt.pool, store.FIREARMS_TOPIC, self._to_firearms, batch_size=50),
                        OutboxRelay(rt.pool, store.HISTORICAL_TOPIC, self._check_history, batch_size=20)]
        self._tasks: list[asyncio.Task] = []
        self._changed = asyncio.Event()

    async def _deliver_each(self, records: Sequence[OutboxRecord], send) -> list[int]:
        """Send hits one by one, in order; returns the records the receiver rejected as invalid
        (dead letters). Any other failure raises, and the batch is retried from its first record."""
        dead = []
        for rec in records:
            token = otel_context.attach(context_from_traceparent(rec.traceparent))
            try:
                with tracer.start_as_current_span("anpr.deliver") as span:
                    hit = types_pb2.Hit.FromString(rec.payload)
                    span.set_attribute(ATTR_HIT_ID, hit.hit_id)
                    try:
                        await send(hit)
                    except grpc.aio.AioRpcError as err:
                        if err.code() not in PERMANENT_ERRORS:
                            raise
                        dead.append(rec.id)
            finally:
                otel_context.detach(token)
        return dead

    async def _to_notify(self, records: Sequence[OutboxRecord]) -> list[int]:
        return await self._deliver_each(records, lambda hit: self._notify.PublishAlert(
            notify_pb2.PublishAlertRequest(hit=hit), timeout=10))

    async def _to_firearms(self, records: Sequence[OutboxRecord]) -> list[int]:
        return await self._deliver_each(records, lambda hit: self._firearms.RaiseActivation(
            firearms_pb2.RaiseActivationRequest(hit=hit), timeout=10))

    async def _check_history(self, records: Sequence[OutboxRecord]) -> None:
        """Historical hits: a new entry against the reads of the last hours (ingest's search)."""
        lookback = int(self._settings.historical_lookback_h * 3600)
        for rec in records:
            if not rec.payload:
                continue
            token = otel_context.attach(context_from_traceparent(rec.traceparent))
            try:
                async with self._pool.acquire() as conn:
                    cand = await store.entry_by_entry_id(conn, rec.payload.decode())
                if cand is None:
                    continue
                resp = await self._ingest.SearchReads(ingest_pb2.SearchReadsRequest(
                    vrm=cand.entry.vrm, lookback_seconds=lookback, page_size=1000), timeout=30)
                traceparent = current_traceparent()
                found = [Found(read, Match(cand.id, True, ()), traceparent, historical=True)
                         for read in reversed(resp.reads)]  # oldest first, so dedup keeps the first
                async with self._pool.acquire() as conn, conn.transaction():
                    await self.hits.record(conn, found)
            finally:
                otel_context.detach(token)

    async def refresh(self) -> None:
        """Apply hotlist and entry changes newer than the last version applied: one by one into the
        index's overlay, or, at start and after a large change such as a national list import, by a
        full reload. Hotlists and entries are read in one snapshot (store.changes_since)."""
        async with self._refresh_lock:
            async with self._pool.acquire() as conn:
                changes = await store.changes_since(conn, self.live.version, FULL_RELOAD_AT)
            if changes.bulk is not None:
                await self.live.load(*changes.bulk)
                log.info("index reloaded", extra={"entries": len(self.live)})
            self.live.apply_hotlists(changes.hotlists)
            self.live.apply_entries(changes.entries)
        await self.live.compact_if_needed()

    async def _follow_changes(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._changed.wait(), 5.0)
            except TimeoutError:
                pass
            self._changed.clear()
            try:
                await self.refresh()
            except Exception as exc:
                log.warning("hotlist refresh failed; will retry", extra={"error": type(exc).__name__})

    async def start(self) -> None:
        await self.refresh()  # the first refresh is a full load
        log.info("hotlists loaded", extra={"entries": len(self.live), "hotlists": len(self.live.hotlists)})
        listener = await self._rt.listener()
        await listen_for_outbox(listener, self._relays)
        await listener.add_listener(store.CHANGES_CHANNEL, lambda *_: self._changed.set())
        self._tasks = [asyncio.create_task(r.run(), name=f"outbox-{r.topic}") for r in self._relays]
        self._tasks.append(asyncio.create_task(self._follow_changes(), name="follow-hotlists"))

    async def stop(self) -> None:
        for relay in self._relays:
            relay.stop()
        if self._tasks:  # not started when start failed part-way
            self._tasks[-1].cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)


SPEC = ServiceSpec(
    name="matcher",
    grpc_service="anpr.v1.MatcherService",
    schema="matcher",
    migrations=Path(__file__).parent / "migrations",
    settings_cls=MatcherSettings,
    method_roles={
        "MatchReads": frozenset({Role.SERVICE}),
        "UpsertHotlist": frozenset({Role.HOTLIST_ADMIN}),
        "ListHotlists": frozenset({Role.HOTLIST_ADMIN, Role.CONTROL_ROOM}),
        "UpsertEntry": frozenset({Role.HOTLIST_ADMIN}),
        "DeleteEntry": frozenset({Role.HOTLIST_ADMIN}),
        "GetEntry": frozenset({Role.HOTLIST_ADMIN, Role.CONTROL_ROOM}),
        "ImportEntries": frozenset({Role.HOTLIST_ADMIN}),
    },
    add_servicer=matcher_pb2_grpc.add_MatcherServiceServicer_to_server,
    build=Matcher,
)
