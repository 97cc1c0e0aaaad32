"""Matcher servicer: match reads against the live index; hotlist administration; historical hits."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import grpc
import numpy as np
from google.protobuf import timestamp_pb2
from opentelemetry import context as otel_context
from opentelemetry import trace

from anpr.runtime import metrics
from anpr.runtime.auth import Role, current_caller
from anpr.runtime.config import ConfigError
from anpr.runtime.errors import abort_invalid
from anpr.runtime.outbox import Outbox, OutboxRecord, Refused
from anpr.runtime.server import Runtime, ServiceSpec
from anpr.runtime.telemetry import (
    ATTR_HIT_COUNT,
    ATTR_READ_COUNT,
    ATTR_READ_ID,
    context_from_traceparent,
    current_traceparent,
)
from anpr.v1 import firearms_pb2, ingest_pb2, ingest_pb2_grpc, matcher_pb2, matcher_pb2_grpc, notify_pb2, types_pb2
from anpr.vrm import is_valid_vrm, normalise_vrm
from services.matcher import matching, store
from services.matcher.config import MatcherSettings
from services.matcher.index import LookalikeClasses
from services.matcher.live import LiveIndex
from services.matcher.scoring import ProfileTable

log = logging.getLogger(__name__)
tracer = trace.get_tracer("anpr.matcher")

HIT_NAMESPACE = uuid.UUID("6f1c9a52-7f4e-4d3b-9a53-5b8f1f0c2d11")
IMPORT_VIOLATIONS_SHOWN = 200
# A list import that adds more entries than this (a full national extract) is checked by one bulk
# job (a scan of the recent reads against the index) rather than a search of the read store per entry.
HISTORICAL_CHECKS_PER_IMPORT = 10_000
BULK_SCAN_PAGE = 1000  # reads per ScanReads page: matched, and their hits recorded, together
BULK_SCAN_TIMEOUT_S = 6 * 3600  # the whole scan; a job that fails is run again from the start
BULK_LOG_EVERY = 100_000  # reads between progress log lines
# More changes than this since the last refresh: rebuild the index rather than apply them one by one.
FULL_RELOAD_AT = 100_000


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
    match: matching.ScoredMatch
    traceparent: str
    historical: bool = False
    over_cap: int = 0  # the read's further matches, beyond the cap
    force: str = ""  # the camera's force
    location: types_pb2.GeoPoint | None = None  # the read's, else its camera's position
    location_from_camera: bool = False

    @classmethod
    def of(
        cls, item: matcher_pb2.MatchRead, match: matching.ScoredMatch, traceparent: str, over_cap: int = 0
    ) -> "Found":
        return cls(
            item.read,
            match,
            traceparent,
            over_cap=over_cap,
            force=item.force,
            location=item.location if item.HasField("location") else None,
            location_from_camera=item.location_from_camera,
        )


class HitMaker:
    """Turns index matches into hits: re-checks each entry as stored (deleted, weed date, list policy),
    marks vehicle mismatches and repeats, and queues the hits for delivery, in one transaction."""

    def __init__(
        self, live: LiveIndex, settings: MatcherSettings, clock: Callable[[], datetime], profiles: ProfileTable
    ):
        self._live = live
        self._settings = settings
        self._clock = clock
        self._profiles = profiles

    async def record(self, conn, found: Sequence[Found]) -> int:
        """In the caller's transaction: store the hits not made before, count repeats, and queue
        them for notify and firearms. Returns how many hits are new."""
        if not found:
            return 0
        now = self._clock()
        matched_at = timestamp_pb2.Timestamp()
        matched_at.FromDatetime(now)
        cands = await store.candidates(conn, [f.match.entry_id for f in found])
        hits = [h for f in found if (h := self._hit(f, cands.get(f.match.entry_id), now, matched_at))]
        hits = await self._within_cap(conn, hits)
        if not hits:
            return 0
        await store.lock_entry_partitions(conn, [h.entry.entry_id for h, _, _ in hits])
        new_ids = await store.insert_hits(conn, [h for h, _, _ in hits])
        fresh = [(h, firearms, t) for h, firearms, t in hits if h.hit_id in new_ids]
        if not fresh:
            return 0
        cell_km = self._settings.dedup_cell_km
        repeats = await store.count_repeats(
            conn,
            [
                store.Sighting(
                    h.entry.entry_id,
                    normalise_vrm(h.read.vrm),
                    area_cell(h.location, cell_km),
                    h.read.captured_at.ToDatetime(tzinfo=timezone.utc),
                )
                for h, _, _ in fresh
            ],
            timedelta(seconds=self._settings.dedup_window_s),
        )
        for (hit, _, _), count in zip(fresh, repeats, strict=True):
            hit.repeat_count = count
        await store.queue_hits(conn, fresh)
        metrics.count_hits(h for h, _, _ in fresh)
        return len(fresh)

    async def _within_cap(
        self, conn, hits: list[tuple[types_pb2.Hit, bool, str]]
    ) -> list[tuple[types_pb2.Hit, bool, str]]:
        """Historical hits only while their read stays within the cap of hits per read (a read's live
        hits are capped when it is matched); the rest are dropped."""
        historical = [h.read.read_id for h, _, _ in hits if h.historical]
        if not historical:
            return hits
        made = await store.hits_per_read(conn, historical)
        cap = self._profiles.default.max_hits
        kept = []
        for item in hits:
            read_id = item[0].read.read_id
            if item[0].historical:
                if made.get(read_id, 0) >= cap:
                    continue
                made[read_id] = made.get(read_id, 0) + 1
            kept.append(item)
        return kept

    def _hit(
        self, f: Found, cand: store.Candidate | None, now: datetime, matched_at: timestamp_pb2.Timestamp
    ) -> tuple[types_pb2.Hit, bool, str] | None:
        """The hit of one match, or None when the entry was deleted since, lapsed at its weed
        date, its list allows exact matches only, or it is no hit under the profile of its list or
        force with its make, model and colour (the final score and tier)."""
        if cand is None or (cand.weed_at is not None and cand.weed_at <= now):
            return None
        hotlist = self._live.hotlists.get(cand.hotlist_id, types_pb2.Hotlist(hotlist_id=cand.hotlist_id))
        profile = self._profiles.profile_for(cand.hotlist_id, hotlist.name, cand.entry.force)
        m = matching.score_hit(f.read, cand.id, normalise_vrm(cand.entry.vrm), cand.entry.vehicle, profile)
        if m is None or (not m.exact and hotlist.match_policy == types_pb2.MATCH_POLICY_EXACT):
            return None
        hit = types_pb2.Hit(
            hit_id=hit_id_for(f.read.read_id, cand.entry.entry_id),
            read=f.read,
            entry=cand.entry,
            hotlist=hotlist,
            match_kind=types_pb2.MATCH_KIND_EXACT if m.exact else types_pb2.MATCH_KIND_LOOKALIKE,
            differing_positions=m.differing_positions,
            vehicle_mismatches=vehicle_mismatches(f.read.vehicle, cand.entry.vehicle),
            historical=f.historical,
            matched_at=matched_at,
            force=f.force,
            location_from_camera=f.location_from_camera,
            score=m.score,
            tier=m.tier,
            hits_over_cap=f.over_cap,
        )
        location = f.location if f.location is not None else (f.read.location if f.read.HasField("location") else None)
        if location is not None:
            hit.location.CopyFrom(location)
        return hit, cand.firearms, f.traceparent


class MatcherServicer(matcher_pb2_grpc.MatcherServiceServicer):
    def __init__(
        self, pool, live: LiveIndex, settings: MatcherSettings, hits: HitMaker, refresh, matcher: matching.Matcher
    ):
        self._pool = pool
        self._live = live
        self._matcher = matcher
        self._settings = settings
        self._hits = hits
        self._refresh = refresh

    async def MatchReads(self, request, context):
        """Match a batch of reads. Traced per batch (the server span); a read that hits gets a span
        of its own in the camera's trace, whose context travels on with its hits."""
        found: list[Found] = []
        results = self._matcher.match_many([item.read for item in request.reads])
        for item, result in zip(request.reads, results, strict=True):
            read = item.read
            if result.matches:
                with tracer.start_as_current_span(
                    "anpr.match", context=context_from_traceparent(item.traceparent)
                ) as span:
                    span.set_attribute(ATTR_READ_ID, read.read_id)
                    span.set_attribute(ATTR_HIT_COUNT, len(result.matches))
                    traceparent = current_traceparent()
                found.extend(Found.of(item, m, traceparent, result.over_cap) for m in result.matches)
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
            entry = await store.get_entry_audited(conn, request.entry_id, caller.subject, caller.role, request.reason)
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
                done = await job.finish()
            except Exception as exc:
                if type(exc).__name__ == "UniqueViolationError":
                    await abort_invalid(context, [("entries", "entry_id repeated in the import")])
                raise
            await queue_import_checks(conn, job.hotlist_id, done)
        await self._refresh()
        log.info(
            "hotlist imported",
            extra={"entries": n, "added": done.added, "changed": done.changed, "removed": done.removed},
        )
        return matcher_pb2.ImportEntriesResponse(imported=n, hotlist_version=self._live.version)


async def queue_import_checks(conn, hotlist_id: str, done: store.ImportResult) -> None:
    """Historical checks of an import's new entries: one per entry, or one bulk job for them all
    when there are more than HISTORICAL_CHECKS_PER_IMPORT."""
    if done.added <= HISTORICAL_CHECKS_PER_IMPORT:
        await store.queue_historical_check(conn, done.added_ids, current_traceparent())
        return
    await store.queue_bulk_check(conn, store.BulkCheck(hotlist_id, done.first_version), current_traceparent())
    log.info(
        "import checked against recent reads by one bulk job",
        extra={"hotlist_id": hotlist_id, "added": done.added, "limit": HISTORICAL_CHECKS_PER_IMPORT},
    )


def _in_sorted(ids: np.ndarray, entry: int) -> bool:
    i = int(np.searchsorted(ids, entry))
    return i < len(ids) and int(ids[i]) == entry


def _check_count(receiver: str, answered: int, records: Sequence[OutboxRecord]) -> None:
    sent = sum(r.records for r in records)
    if answered != sent:  # a malformed record: the receiver could not read it as hits
        raise Refused(f"{receiver} answered for {answered} of {sent} hits")


def match_profiles(settings: MatcherSettings) -> ProfileTable:
    """The matching profiles from the settings and the optional profiles file; a bad file stops
    the service at start with a message naming the variable."""
    try:
        text = settings.match_profiles_file.read_text() if settings.match_profiles_file else None
        return ProfileTable.from_settings(
            settings.lookalike_classes,
            settings.match_rare_pairs,
            settings.match_confirm_score,
            settings.match_possible_score,
            settings.match_max_hits,
            text,
        )
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"configuration error: ANPR_MATCH_PROFILES_FILE or ANPR_MATCH_*: {exc}") from None


class Matcher:
    def __init__(self, rt: Runtime, clock: Callable[[], datetime] | None = None):
        settings: MatcherSettings = rt.settings  # type: ignore[assignment]
        self._rt = rt
        self._pool = rt.pool
        self._settings = settings
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        profiles = self._profiles = match_profiles(settings)
        self.live = LiveIndex(
            LookalikeClasses(profiles.candidate_classes()),
            settings.match_dropped_characters,
            LookalikeClasses(profiles.common_classes()),
        )
        self.hits = HitMaker(self.live, settings, lambda: self.clock(), profiles)
        self._refresh_lock = asyncio.Lock()
        self.matching = matching.Matcher(self.live, profiles.default)
        self.servicer = MatcherServicer(rt.pool, self.live, settings, self.hits, self.refresh, self.matching)
        notify = rt.channel(settings.notify_addr, settings.service_token)
        firearms = rt.channel(settings.firearms_addr, settings.service_token)
        # Hits go on with their requests already encoded: outbox rows concatenate into one request.
        self._publish_alerts = notify.unary_unary(
            "/anpr.v1.NotifyService/PublishAlerts",
            request_serializer=None,
            response_deserializer=notify_pb2.PublishAlertsResponse.FromString,
        )
        self._raise_activations = firearms.unary_unary(
            "/anpr.v1.FirearmsService/RaiseActivations",
            request_serializer=None,
            response_deserializer=firearms_pb2.RaiseActivationsResponse.FromString,
        )
        self._ingest = ingest_pb2_grpc.IngestServiceStub(rt.channel(settings.ingest_addr, settings.service_token))
        self.outbox = Outbox(
            rt.pool,
            {
                store.NOTIFY_TOPIC: (self._to_notify, {"max_records": 500}),
                store.FIREARMS_TOPIC: (self._to_firearms, {"max_records": 500}),
                store.HISTORICAL_TOPIC: (self._check_history, {"max_records": 20, "concurrency": 2}),
            },
        )
        self._tasks: list[asyncio.Task] = []
        self._changed = asyncio.Event()

    async def _to_notify(self, records: Sequence[OutboxRecord]) -> None:
        resp = await self._publish_alerts(b"".join(r.payload for r in records), timeout=10, wait_for_ready=True)
        _check_count("notify", len(resp.alerts), records)

    async def _to_firearms(self, records: Sequence[OutboxRecord]) -> None:
        resp = await self._raise_activations(b"".join(r.payload for r in records), timeout=10, wait_for_ready=True)
        _check_count("firearms", len(resp.activations), records)

    async def _check_history(self, records: Sequence[OutboxRecord]) -> None:
        """Historical hits: each record is a new entry (its id), or the new entries of an import
        too large to check one by one (a store.BulkCheck)."""
        for rec in records:
            if not rec.payload:
                continue
            token = otel_context.attach(context_from_traceparent(rec.traceparent))
            try:
                job = store.BulkCheck.parse(rec.payload)
                await (self._check_entry(rec.payload.decode()) if job is None else self._check_bulk(job))
            finally:
                otel_context.detach(token)

    async def _check_entry(self, entry_id: str) -> None:
        """One new entry against the reads of the last hours: ingest's search for its VRM and its
        likely misreadings, scored like live reads."""
        async with self._pool.acquire() as conn:
            cand = await store.entry_by_entry_id(conn, entry_id)
        if cand is None:
            return
        vrm = normalise_vrm(cand.entry.vrm)
        resp = await self._ingest.SearchReads(
            ingest_pb2.SearchReadsRequest(
                vrm=vrm,
                vrms=matching.misreadings(vrm, self._profiles.default),
                lookback_seconds=self._lookback_s(),
                page_size=1000,
            ),
            timeout=30,
            wait_for_ready=True,
        )
        await self.refresh()
        await self._record_historical(resp.reads, lambda entry: entry == cand.id)

    async def _check_bulk(self, job: store.BulkCheck) -> None:
        """The entries an import added or changed against every read of the last hours: one scan of
        the read store (ingest's ScanReads), each page matched against the whole index and its
        hits on those entries kept. A re-run (after a crash) makes the same hit ids: no new alert."""
        started, scanned, hits = time.monotonic(), 0, 0
        await self.refresh()
        async with self._pool.acquire() as conn:
            wanted = await store.entry_ids_since(conn, job.hotlist_id, job.first_version)
        if not len(wanted):  # deleted since
            return
        stream = self._ingest.ScanReads(
            ingest_pb2.ScanReadsRequest(lookback_seconds=self._lookback_s(), page_size=BULK_SCAN_PAGE),
            timeout=BULK_SCAN_TIMEOUT_S,
            wait_for_ready=True,
        )
        async for page in stream:
            hits += await self._record_historical(page.reads, lambda entry: _in_sorted(wanted, entry))
            if (scanned + len(page.reads)) // BULK_LOG_EVERY > scanned // BULK_LOG_EVERY:
                log.info(
                    "historical bulk check progress",
                    extra={"hotlist_id": job.hotlist_id, "reads": scanned + len(page.reads), "hits": hits},
                )
            scanned += len(page.reads)
        seconds = round(time.monotonic() - started, 3)
        log.info(
            "historical bulk check done",
            extra={
                "hotlist_id": job.hotlist_id,
                "entries": len(wanted),
                "reads": scanned,
                "hits": hits,
                "seconds": seconds,
            },
        )
        span = trace.get_current_span()
        span.set_attribute(ATTR_READ_COUNT, scanned)
        span.set_attribute(ATTR_HIT_COUNT, hits)

    async def _record_historical(self, reads: Sequence[types_pb2.Read], keep: Callable[[int], bool]) -> int:
        """Match reads as they would match now, live, and record their hits on the entries `keep`
        wants as historical, in one transaction; returns how many hits are new. A read whose live
        answer does not include an entry (it is exactly another listed vehicle, or the entry is
        beyond its cap) makes no historical hit on it either."""
        reads = sorted(reads, key=lambda r: (r.captured_at.seconds, r.captured_at.nanos))  # dedup keeps the first
        traceparent = current_traceparent()
        found = [
            Found(read, m, traceparent, historical=True, over_cap=result.over_cap)
            for read, result in zip(reads, self.matching.match_many(reads), strict=True)
            for m in result.matches
            if keep(m.entry_id)
        ]
        if not found:
            return 0
        async with self._pool.acquire() as conn, conn.transaction():
            return await self.hits.record(conn, found)

    def _lookback_s(self) -> int:
        return int(self._settings.historical_lookback_h * 3600)

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
        await listener.add_listener(store.CHANGES_CHANNEL, lambda *_: self._changed.set())
        await self.outbox.start(listener)
        self._tasks = [asyncio.create_task(self._follow_changes(), name="follow-hotlists")]

    async def stop(self) -> None:
        await self.outbox.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


SPEC = ServiceSpec(
    name="matcher",
    module=__package__,
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
