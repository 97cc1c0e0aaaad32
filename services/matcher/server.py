"""Matcher servicer: match reads against the live hotlists; hotlist administration."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
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
from anpr.v1 import (firearms_pb2, firearms_pb2_grpc, matcher_pb2, matcher_pb2_grpc, notify_pb2,
                     notify_pb2_grpc, types_pb2)
from services.matcher import store
from services.matcher.config import MatcherSettings
from services.matcher.live import LiveHotlists

log = logging.getLogger(__name__)
tracer = trace.get_tracer("anpr.matcher")

HIT_NAMESPACE = uuid.UUID("6f1c9a52-7f4e-4d3b-9a53-5b8f1f0c2d11")


def hit_id_for(read_id: str, entry_id: str) -> str:
    """Deterministic: the same read and entry always give the same hit id (downstream dedup key)."""
    return str(uuid.uuid5(HIT_NAMESPACE, f"{read_id}\x1f{entry_id}"))


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
    if not entry.reason:
        errors.append((prefix + "reason", "required"))
    return errors


def vehicle_mismatches(read: types_pb2.VehicleDescription, entry: types_pb2.VehicleDescription) -> list[str]:
    out = []
    for name in ("make", "model", "colour"):
        a, b = getattr(read, name).strip().lower(), getattr(entry, name).strip().lower()
        if a and b and a != b:
            out.append(name)
    return out


class MatcherServicer(matcher_pb2_grpc.MatcherServiceServicer):
    def __init__(self, pool, live: LiveHotlists, refresh):
        self._pool = pool
        self._live = live
        self._refresh = refresh

    async def MatchReads(self, request, context):
        now = datetime.now(timezone.utc)
        matched_at = timestamp_pb2.Timestamp()
        matched_at.FromDatetime(now)
        candidates = []  # (read, candidate, traceparent)
        for item in request.reads:
            parent = context_from_traceparent(item.traceparent)
            with tracer.start_as_current_span("anpr.match", context=parent) as span:
                span.set_attribute(ATTR_READ_ID, item.read.read_id)
                found = self._live.match(normalise_vrm(item.read.vrm), now)
                span.set_attribute(ATTR_HIT_COUNT, len(found))
                for cand in found:
                    hit_id = hit_id_for(item.read.read_id, cand.entry_id)
                    with tracer.start_as_current_span("anpr.hit") as hit_span:
                        hit_span.set_attribute(ATTR_HIT_ID, hit_id)
                        candidates.append((item.read, cand, hit_id, current_traceparent()))
        hits = []
        if candidates:
            async with self._pool.acquire() as conn, conn.transaction():
                entries = await store.get_entries(conn, [c.id for _, c, _, _ in candidates])
                for read, cand, hit_id, traceparent in candidates:
                    entry = entries[cand.id]
                    hit = types_pb2.Hit(
                        hit_id=hit_id, read=read, entry=entry,
                        hotlist=self._live.hotlists.get(cand.hotlist_id),
                        match_kind=(types_pb2.MATCH_KIND_EXACT if cand.exact else types_pb2.MATCH_KIND_LOOKALIKE),
                        differing_positions=cand.differing_positions,
                        vehicle_mismatches=vehicle_mismatches(read.vehicle, entry.vehicle),
                        matched_at=matched_at)
                    hits.append((hit, cand.firearms, traceparent))
                await store.record_hits(conn, hits)
        span = trace.get_current_span()
        span.set_attribute(ATTR_READ_COUNT, len(request.reads))
        span.set_attribute(ATTR_HIT_COUNT, len(hits))
        return matcher_pb2.MatchReadsResponse(accepted=len(request.reads), hits=len(hits))

    async def UpsertHotlist(self, request, context):
        h = request.hotlist
        errors = []
        if not h.name:
            errors.append(("hotlist.name", "required"))
        if h.source == types_pb2.HOTLIST_SOURCE_UNSPECIFIED:
            errors.append(("hotlist.source", "required"))
        if errors:
            await abort_invalid(context, errors)
        async with self._pool.acquire() as conn:
            saved = await store.upsert_hotlist(conn, h)
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
            await store.upsert_entries(conn, [entry], [normalise_vrm(entry.vrm)])
        await self._refresh()
        return matcher_pb2.UpsertEntryResponse(entry=entry)

    async def DeleteEntry(self, request, context):
        async with self._pool.acquire() as conn, conn.transaction():
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
        hotlist_id = ""
        entries: list[types_pb2.VoiEntry] = []
        errors: list[tuple[str, str]] = []
        async for request in request_iterator:
            hotlist_id = hotlist_id or request.hotlist_id
            for e in request.entries:
                i = len(entries)
                entry = types_pb2.VoiEntry()
                entry.CopyFrom(e)
                entry.hotlist_id = entry.hotlist_id or hotlist_id
                entry.entry_id = entry.entry_id or str(uuid.uuid4())
                bad = validate_entry(entry, prefix=f"entries[{i}].")
                errors.extend(bad)
                entries.append(entry)
        if not hotlist_id:
            await abort_invalid(context, [("hotlist_id", "required on the first message")])
        if errors:
            await abort_invalid(context, errors)
        async with self._pool.acquire() as conn, conn.transaction():
            if not await store.hotlist_exists(conn, hotlist_id):
                await context.abort(grpc.StatusCode.NOT_FOUND, "hotlist_id: no such hotlist")
            await store.replace_hotlist_entries(conn, hotlist_id, entries,
                                                [normalise_vrm(e.vrm) for e in entries])
        await self._refresh()
        return matcher_pb2.ImportEntriesResponse(imported=len(entries), hotlist_version=self._live.version)


class Matcher:
    def __init__(self, rt: Runtime):
        settings: MatcherSettings = rt.settings  # type: ignore[assignment]
        self._pool = rt.pool
        self._rt = rt
        self.live = LiveHotlists()
        self._refresh_lock = asyncio.Lock()
        self.servicer = MatcherServicer(rt.pool, self.live, self.refresh)
        self._notify = notify_pb2_grpc.NotifyServiceStub(rt.channel(settings.notify_addr, settings.service_token))
        self._firearms = firearms_pb2_grpc.FirearmsServiceStub(
            rt.channel(settings.firearms_addr, settings.service_token))
        self._relays = [OutboxRelay(rt.pool, store.NOTIFY_TOPIC, self._to_notify, batch_size=50),
                        OutboxRelay(rt.pool, store.FIREARMS_TOPIC, self._to_firearms, batch_size=50)]
        self._tasks: list[asyncio.Task] = []
        self._listen_conn = None
        self._changed = asyncio.Event()

    async def _deliver_each(self, records: Sequence[OutboxRecord], send) -> None:
        for rec in records:
            token = otel_context.attach(context_from_traceparent(rec.traceparent))
            try:
                await send(types_pb2.Hit.FromString(rec.payload))
            finally:
                otel_context.detach(token)

    async def _to_notify(self, records: Sequence[OutboxRecord]) -> None:
        await self._deliver_each(records, lambda hit: self._notify.PublishAlert(
            notify_pb2.PublishAlertRequest(hit=hit), timeout=10))

    async def _to_firearms(self, records: Sequence[OutboxRecord]) -> None:
        await self._deliver_each(records, lambda hit: self._firearms.RaiseActivation(
            firearms_pb2.RaiseActivationRequest(hit=hit), timeout=10))

    async def refresh(self) -> None:
        """Apply hotlist and entry changes newer than the last version seen."""
        async with self._refresh_lock, self._pool.acquire() as conn:
            since = self.live.version
            self.live.apply_hotlists(await store.hotlists_since(conn, since))
            self.live.apply_entries(await store.entries_since(conn, since))

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
        await self.refresh()
        log.info("hotlists loaded", extra={"entries": len(self.live), "hotlists": len(self.live.hotlists)})
        self._listen_conn = await self._rt.listener()
        await listen_for_outbox(self._listen_conn, self._relays)
        await self._listen_conn.add_listener(store.CHANGES_CHANNEL, lambda *_: self._changed.set())
        self._tasks = [asyncio.create_task(r.run(), name=f"outbox-{r.topic}") for r in self._relays]
        self._tasks.append(asyncio.create_task(self._follow_changes(), name="follow-hotlists"))

    async def stop(self) -> None:
        for relay in self._relays:
            relay.stop()
        self._tasks[-1].cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def build(rt: Runtime) -> Matcher:
    return Matcher(rt)


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
    build=build,
)
