"""Matcher servicer and component: match reads against the live index (hits.py makes the hits),
hotlist administration (entries.py), the outbox to notify and firearms and of historical checks
(historical.py), and the follower that keeps the index current."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timezone

from opentelemetry import trace

import services
from anpr.runtime.auth import Role, current_caller
from anpr.runtime.errors import ConfigError, DeadlineExceeded, InvalidArgument, NotFound, PermissionDenied
from anpr.runtime.failures import keep_running
from anpr.runtime.metrics import count_outcomes
from anpr.runtime.outbox import Outbox
from anpr.runtime.server import Runtime
from anpr.runtime.telemetry import (
    ATTR_HIT_COUNT,
    ATTR_READ_COUNT,
    ATTR_READ_ID,
    context_from_traceparent,
    current_traceparent,
)
from anpr.scope import check_scoped, in_scope
from anpr.v1 import firearms_pb2, ingest_pb2_grpc, matcher_pb2, matcher_pb2_grpc, notify_pb2, types_pb2
from anpr.vrm import normalise_vrm
from anpr.windows import stats_window
from services.matcher import entries, entry_columns, evidence_store, historical, matching, store
from services.matcher.calibration import CAMERA, LIST, CalibrationTable, Outcome, label
from services.matcher.config import MatcherSettings
from services.matcher.hits import Found, HitMaker
from services.matcher.index import LookalikeClasses
from services.matcher.live import LiveIndex
from services.matcher.scoring import ProfileTable

log = logging.getLogger(__name__)
tracer = trace.get_tracer("anpr.matcher")

# More changes than this since the last refresh: rebuild the index rather than apply them one by one.
FULL_RELOAD_AT = 100_000
REFRESH_BACKSTOP_S = 5.0  # a refresh at least this often, should a notification be lost
FOLLOWER_TASK = "follow-hotlists"


SCOPES = {
    matcher_pb2.CALIBRATION_SCOPE_UNSPECIFIED: CAMERA,
    matcher_pb2.CALIBRATION_SCOPE_CAMERA: CAMERA,
    matcher_pb2.CALIBRATION_SCOPE_LIST: LIST,
}


class MatcherServicer(matcher_pb2_grpc.MatcherServiceServicer):
    def __init__(
        self,
        pool,
        live: LiveIndex,
        hits: HitMaker,
        refresh,
        imports: "Imports",
        matcher: matching.Matcher,
        calibration: CalibrationTable,
        outbox: Outbox,
        import_idle_s: float = 30.0,
    ):
        self._pool = pool
        self._import_idle_s = import_idle_s
        self._outbox = outbox
        self._live = live
        self._matcher = matcher
        self._hits = hits
        self._refresh = refresh
        self._imports = imports
        self._calibration = calibration

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
        if found:  # one statement (its own transaction); then its rows go to the relays from memory
            async with self._pool.acquire() as conn:
                recorded = await self._hits.record(conn, found, self._outbox.leases.owned)
            for topic, queued in recorded.queued.items():
                self._outbox.handoff(topic, queued)
            new_hits = len(recorded.repeats)
        span = trace.get_current_span()
        span.set_attribute(ATTR_READ_COUNT, len(request.reads))
        span.set_attribute(ATTR_HIT_COUNT, new_hits)
        return matcher_pb2.MatchReadsResponse(accepted=len(request.reads), hits=new_hits)

    async def UpsertHotlist(self, request, context):
        h = request.hotlist
        _check_hotlist(h, "hotlist")
        async with self._pool.acquire() as conn:
            saved = await store.upsert_hotlist(conn, h)
        await self._refresh()
        return matcher_pb2.UpsertHotlistResponse(hotlist=saved)

    async def ListHotlists(self, request, context):
        """Every list; covert ones only to an identity with covert clearance."""
        cleared = current_caller().covert
        async with self._pool.acquire() as conn:
            lists = await store.list_hotlists(conn)
        return matcher_pb2.ListHotlistsResponse(hotlists=[h for h in lists if cleared or not h.covert])

    async def UpsertEntry(self, request, context):
        entry = types_pb2.VoiEntry()
        entry.CopyFrom(request.entry)
        errors = entries.validate_entry(entry)
        if errors:
            raise InvalidArgument(errors)
        entry.entry_id = entry.entry_id or str(uuid.uuid4())
        async with self._pool.acquire() as conn, conn.transaction():
            if not await store.hotlist_exists(conn, entry.hotlist_id):
                raise NotFound("entry.hotlist_id: no such hotlist")
            if await store.upsert_entry(conn, entry, normalise_vrm(entry.vrm)):
                await store.queue_historical_check(conn, [entry.entry_id], current_traceparent())
        await self._refresh()
        return matcher_pb2.UpsertEntryResponse(entry=entry)

    async def DeleteEntry(self, request, context):
        async with self._pool.acquire() as conn:
            found = await store.delete_entry(conn, request.entry_id)
        if not found:
            raise NotFound("entry_id: no such entry")
        await self._refresh()
        return matcher_pb2.DeleteEntryResponse()

    async def GetEntry(self, request, context):
        if not request.reason.strip():
            raise InvalidArgument.of("reason", "required: every read of an entry is audited")
        caller = current_caller()
        check_scoped(caller)
        async with self._pool.acquire() as conn, conn.transaction():  # the attempt is audited too
            entry = await store.get_entry_audited(conn, request.entry_id, caller.subject, caller.role, request.reason)
        if entry is None or not self._may_see(caller, entry):
            raise NotFound("entry_id: no such entry")  # another force's or a covert entry is not told of
        return matcher_pb2.GetEntryResponse(entry=entry)

    def _may_see(self, caller, entry: types_pb2.VoiEntry) -> bool:
        """An entry of the caller's force (`national`: any), of a covert list only with clearance."""
        hotlist = self._live.hotlists.get(entry.hotlist_id)
        return in_scope(caller, entry.force) and (caller.covert or (hotlist is not None and not hotlist.covert))

    async def ImportEntries(self, request_iterator, context):
        with contextlib.ExitStack() as holding:  # this replica's refreshes, from the writers' lock on (Imports)
            async with self._pool.acquire() as conn, conn.transaction():
                job, n = await self._stage_import(conn, request_iterator, holding)
                done = await job.finish()
                await historical.queue_import_checks(conn, job.hotlist_id, done)
            await self._imports.refresh(done.bulk)
        log.info(
            "hotlist imported",
            extra={"entries": n, "added": done.added, "changed": done.changed, "removed": done.removed},
        )
        return matcher_pb2.ImportEntriesResponse(
            imported=n,
            hotlist_version=self._live.version,
            hotlist_id=job.hotlist_id,
            added=done.added,
            changed=done.changed,
            removed=done.removed,
        )

    async def _stage_import(self, conn, requests, holding: contextlib.ExitStack) -> tuple[store.HotlistImport, int]:
        """Stage an import's entries (the list is named by the first message); returns the job and
        how many entries it has. Any invalid entry refuses the whole import, naming each. Once the
        import holds the writers' lock, `holding` holds this replica's other refreshes off."""
        job: store.HotlistImport | None = None
        errors: entries.Violations = []
        n, copying = 0, _Copying()  # a message's COPY runs while the next one is read and checked
        complete = False
        async with copying:
            async for request in _at_most_apart(requests, self._import_idle_s):
                if complete:
                    raise InvalidArgument.of("complete", "no message may follow the one that completes the import")
                complete = request.complete
                if job is None:
                    job = await self._begin_import(conn, request)
                    holding.enter_context(self._imports.holding())
                async for staged in _staged(request, job.hotlist_id, n):
                    n += staged.rows
                    errors.extend(staged.errors)
                    await copying.wait()
                    if not errors and (staged.records or staged.copy):
                        copying.start(job.add(staged.records, staged.copy, staged.copied_ids, staged.copied_vrms))
        if job is None:
            raise InvalidArgument.of("hotlist_id", "required on the first message")
        if not complete:  # (what a cancelled call or a dropped connection also looks like)
            raise InvalidArgument.of(
                "complete", "required on the last message: the stream ended without it, so nothing is imported"
            )
        if errors:
            raise InvalidArgument(entries.shown(errors))
        return job, n

    async def RecordOutcomes(self, request, context):
        """Outcomes from notify's outbox: each counted once per alert for its camera and its list."""
        missing = [(f"outcomes[{i}].alert_id", "required") for i, o in enumerate(request.outcomes) if not o.alert_id]
        if missing:
            raise InvalidArgument(missing)
        outcomes = [Outcome.of(o.alert_id, o.outcome, o.reason_code, o.hit) for o in request.outcomes]
        decided = [o for o in outcomes if o is not None]
        applied = 0
        if decided:
            async with self._pool.acquire() as conn, conn.transaction():
                applied = await evidence_store.apply_outcomes(conn, decided)
        count_outcomes(decided)
        return matcher_pb2.RecordOutcomesResponse(accepted=len(request.outcomes), applied=applied)

    async def _calibration_seen(self, conn, scope: str, scope_id: str) -> bool:
        """Whether the caller sees a camera's or list's calibration: a camera's is its force's (the
        force its outcomes' hits named; national: every camera's), a list's every force's (it is
        learnt from all their outcomes), a covert list's only with clearance. One it may not see is
        answered as one with nothing learnt (docs/scope.md: not told of)."""
        caller = current_caller()
        check_scoped(caller)
        if scope == CAMERA:
            force = await evidence_store.camera_force(conn, scope_id)
            return force is None or in_scope(caller, force)
        return caller.covert or not await evidence_store.list_covert(conn, scope_id)

    async def GetCalibration(self, request, context):
        scope = _scope(request.scope, request.scope_id)
        async with self._pool.acquire() as conn:
            tallies = []
            if await self._calibration_seen(conn, scope, request.scope_id):
                tallies, _ = await evidence_store.tallies(conn, scope, request.scope_id)
        table = self._calibration
        return matcher_pb2.GetCalibrationResponse(
            entries=[
                matcher_pb2.CalibrationEntry(
                    key=t.key,
                    label=label(t.key),
                    accepted=t.accepted,
                    rejected=t.rejected,
                    predicted=t.predicted / t.outcomes if t.outcomes else 0.0,
                    log_odds=round(t.adjustment(table.prior, table.most), 3),
                )
                for t in tallies[:1000]
            ],
            max_log_odds=table.most,
        )

    async def ResetCalibration(self, request, context):
        scope = _scope(request.scope, request.scope_id)
        if scope == LIST and not current_caller().national:
            raise PermissionDenied(
                "a list's calibration is learnt from every force's outcomes: a national identity resets it"
            )
        async with self._pool.acquire() as conn:
            removed = 0
            if await self._calibration_seen(conn, scope, request.scope_id):
                removed = await evidence_store.reset(conn, scope, request.scope_id)
        log.info("calibration reset", extra={"scope": scope, "keys": removed})
        await self._refresh()
        return matcher_pb2.ResetCalibrationResponse(removed=removed)

    async def GetMatchStats(self, request, context):
        window = stats_window(request.window_seconds)
        c = current_caller()
        check_scoped(c)
        async with self._pool.acquire() as conn:
            return await evidence_store.withheld_stats(conn, window, evidence_store.Seen(c.national, c.force, c.covert))

    @staticmethod
    async def _begin_import(conn, first: matcher_pb2.ImportEntriesRequest) -> store.HotlistImport:
        """The import's job, on the list its first message names, or on the one it makes
        (`new_hotlist`, in the import's transaction: a refused import leaves no list)."""
        hotlist_id = first.hotlist_id
        if first.HasField("new_hotlist"):
            if hotlist_id:
                raise InvalidArgument.of("new_hotlist", "give hotlist_id (a list that exists) or new_hotlist, not both")
            _check_hotlist(first.new_hotlist, "new_hotlist")
            hotlist_id = (await store.upsert_hotlist(conn, first.new_hotlist, "new_hotlist", new=True)).hotlist_id
        elif not hotlist_id:
            raise InvalidArgument.of("hotlist_id", "required on the first message (or new_hotlist)")
        elif not await store.hotlist_exists(conn, hotlist_id):
            raise NotFound("hotlist_id: no such hotlist")
        job = store.HotlistImport(conn, hotlist_id, historical.HISTORICAL_CHECKS_PER_IMPORT)
        await job.begin()
        return job


def _check_hotlist(h: types_pb2.Hotlist, field: str) -> None:
    """What a list needs to be made or changed: a name and a source."""
    errors = []
    if not h.name.strip():
        errors.append((f"{field}.name", "required"))
    if h.source == types_pb2.HOTLIST_SOURCE_UNSPECIFIED:
        errors.append((f"{field}.source", "required"))
    if errors:
        raise InvalidArgument(errors)


async def _staged(request, hotlist_id: str, first: int):
    """An import message's entries made ready to stage (entry_columns.Staged), numbered from
    `first`: each record batch of its columns, then its VoiEntry messages."""
    batches = await asyncio.to_thread(entry_columns.read, request.entry_columns) if request.entry_columns else ()
    for batch in batches:
        # numpy and Arrow let go of the GIL: matching goes on meanwhile
        staged = await asyncio.to_thread(entry_columns.stage, batch, hotlist_id, first)
        first += staged.rows
        yield staged
    if request.entries:
        records, errors = entries.import_records(request.entries, hotlist_id, first)
        yield entry_columns.Staged(rows=len(request.entries), records=records, errors=errors)


async def _at_most_apart(requests, seconds: float):
    """The stream's messages, ending the call (DEADLINE_EXCEEDED) when the next one takes longer
    than `seconds`: an import holds the hotlist writers' lock, and a stalled client must not hold it."""
    requests = aiter(requests)
    while True:
        try:
            yield await asyncio.wait_for(anext(requests), seconds)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise DeadlineExceeded(f"entries: no message for {seconds:g} s; the import is abandoned") from None


def _scope(scope: int, scope_id: str) -> str:
    if scope not in SCOPES:
        raise InvalidArgument.of("scope", "CAMERA or LIST")
    if not scope_id.strip():
        raise InvalidArgument.of("scope_id", "required: the camera (or hotlist) id")
    return SCOPES[scope]


class _Copying:
    """At most one COPY of an import in flight on the import's connection: `wait` for it before the
    next; on leaving, the last is awaited, or cancelled when the import failed (the connection is
    then free for the rollback)."""

    def __init__(self):
        self._task: asyncio.Future | None = None

    def start(self, copy) -> None:
        self._task = asyncio.ensure_future(copy)

    async def wait(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await task

    async def __aenter__(self) -> "_Copying":
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            await self.wait()
        elif self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


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


class Imports:
    """The imports of this replica's that hold the hotlist writers' lock. While any does, the
    replica's other refreshes wait: no other writer can commit meanwhile (a refresh would only
    look through the import's uncommitted rows, 0.3 s at half a million), and once the import has
    committed, `refresh` adds its entries from memory (store.ImportedBulk) instead of reading them
    back (a million entries just written take 2 s to read: their rows' hint bits are set, and
    logged), which a refresh that came first would do."""

    def __init__(self, apply_changes):
        self._apply_changes = apply_changes
        self._holding = 0
        self.none = asyncio.Event()  # set while no import holds the lock
        self.none.set()

    @contextlib.contextmanager
    def holding(self):
        self._holding += 1
        self.none.clear()
        try:
            yield
        finally:
            self._holding -= 1
            if not self._holding:
                self.none.set()

    async def refresh(self, imported: store.ImportedBulk | None) -> None:
        """The refresh after an import has committed (with its entries, if it gave them)."""
        await self._apply_changes(imported)


class MatcherComponent:
    def __init__(self, rt: Runtime, clock: Callable[[], datetime] | None = None):
        settings: MatcherSettings = rt.settings  # type: ignore[assignment]
        self._rt = rt
        self._pool = rt.pool
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        profiles = match_profiles(settings)
        self.live = LiveIndex(
            LookalikeClasses(profiles.candidate_classes()),
            settings.match_dropped_characters,
            LookalikeClasses(profiles.common_classes()),
        )
        self.calibration = CalibrationTable(settings.calibration_prior_outcomes, settings.calibration_max_log_odds)
        self.hits = HitMaker(self.live, settings, lambda: self.clock(), profiles, self.calibration)
        self._refresh_lock = asyncio.Lock()
        self.imports = Imports(self._apply_changes)
        self.matching = matching.Matcher(self.live, profiles.default)
        ingest = ingest_pb2_grpc.IngestServiceStub(rt.channel(settings.ingest_addr))
        lookback_s = int(settings.historical_lookback_h * 3600)
        self.historical = historical.HistoricalChecks(
            rt.pool, ingest, lookback_s, self.matching, self.hits, self.refresh
        )
        # hits and lists go on as queued, their requests already encoded
        publish_alerts = rt.relay_call(
            settings.notify_addr,
            "/anpr.v1.NotifyService/PublishAlerts",
            notify_pb2.PublishAlertsResponse.FromString,
            answered=lambda r: len(r.alerts),
        )
        publish_hotlists = rt.relay_call(
            settings.notify_addr,
            "/anpr.v1.NotifyService/PublishHotlists",
            notify_pb2.PublishHotlistsResponse.FromString,
            answered=lambda r: r.accepted,
        )
        raise_activations = rt.relay_call(
            settings.firearms_addr,
            "/anpr.v1.FirearmsService/RaiseActivations",
            firearms_pb2.RaiseActivationsResponse.FromString,
            answered=lambda r: len(r.activations),
        )
        self.outbox = Outbox(
            rt.pool,
            {
                store.NOTIFY_TOPIC: (publish_alerts, {"max_records": 500}),
                store.HOTLISTS_TOPIC: (publish_hotlists, {"max_records": 100}),
                store.FIREARMS_TOPIC: (raise_activations, {"max_records": 500}),
                store.HISTORICAL_TOPIC: (self.historical.deliver, {"max_records": 20, "concurrency": 2}),
            },
        )
        self.servicer = MatcherServicer(
            rt.pool,
            self.live,
            self.hits,
            self.refresh,
            self.imports,
            self.matching,
            self.calibration,
            self.outbox,
            settings.import_idle_s,
        )
        self._changed = asyncio.Event()

    async def refresh(self) -> None:
        """Apply hotlist and entry changes newer than the last version applied: one by one into the
        index's overlay, or, at start and after a large change such as a national list import, by a
        full reload. Hotlists and entries are read in one snapshot (store.changes_since). Waits
        while an import of this replica's holds the writers' lock (Imports)."""
        await self.imports.none.wait()
        await self._apply_changes(None)

    async def _apply_changes(self, imported: store.ImportedBulk | None) -> None:
        """refresh(), without waiting; first, with an import's `imported` entries, the changes below
        the import and then its entries from memory, unless the index has moved past them."""
        async with self._refresh_lock:
            if imported is not None and self.live.version < imported.first_version:
                async with self._pool.acquire() as conn:
                    before = await store.changes_before(conn, self.live.version, imported.first_version, FULL_RELOAD_AT)
                if before is not None:
                    self.live.apply_hotlists(before.hotlists)
                    self.live.apply_entries(before.entries)
                    await self.live.add_bulk(imported.last_version, imported.ids, imported.vrms)
                    log.info("index took an import's entries", extra={"entries": len(self.live)})
            async with self._pool.acquire() as conn:
                changes = await store.changes_since(conn, self.live.version, FULL_RELOAD_AT, self._pool)
            if changes.bulk is not None:
                await self.live.load(*changes.bulk)
                log.info("index reloaded", extra={"entries": len(self.live)})
            self.live.apply_hotlists(changes.hotlists)
            self.live.apply_entries(changes.entries)
            await self._refresh_calibration()
        await self.live.compact_if_needed()

    async def _refresh_calibration(self) -> None:
        """Reload the calibration when any replica changed it (its version moved)."""
        async with self._pool.acquire() as conn:
            if await evidence_store.calibration_version(conn) == self.calibration.version:
                return
            tallies, version = await evidence_store.tallies(conn)
        self.calibration.replace(tallies, version)
        log.info("calibration loaded", extra={"adjustments": len(self.calibration)})

    async def _follow_changes(self) -> None:
        """One refresh, once told of a change (or after the backstop interval): a step of keep_running."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), REFRESH_BACKSTOP_S)
        self._changed.clear()
        await self.refresh()

    async def start(self) -> None:
        await self.refresh()  # the first refresh is a full load
        log.info("hotlists loaded", extra={"entries": len(self.live), "hotlists": len(self.live.hotlists)})
        listener = await self._rt.listener()
        await listener.add_listener(store.CHANGES_CHANNEL, lambda *_: self._changed.set())
        await listener.add_listener(evidence_store.CALIBRATION_CHANNEL, lambda *_: self._changed.set())
        await self.outbox.start(listener, self._rt.tasks, self._rt.instance)
        self._rt.tasks.start(FOLLOWER_TASK, keep_running(self._follow_changes, log, "hotlist refresh"))

    async def stop(self) -> None:
        await self.outbox.stop(self._rt.settings.shutdown_grace_s)
        await self._rt.tasks.cancel(FOLLOWER_TASK)
        await self.live.settled()


ROLES = {  # who may call which RPC
    Role.SERVICE: ("MatchReads", "RecordOutcomes"),
    Role.HOTLIST_ADMIN: (
        "UpsertHotlist",
        "ListHotlists",
        "UpsertEntry",
        "DeleteEntry",
        "GetEntry",
        "ImportEntries",
        "GetCalibration",
        "ResetCalibration",
        "GetMatchStats",
    ),
    Role.CONTROL_ROOM: ("ListHotlists", "GetEntry", "GetCalibration", "GetMatchStats"),
    Role.CAMERA_ADMIN: ("GetCalibration", "ResetCalibration"),
}
SPEC = services.declare(
    "matcher", MatcherSettings, matcher_pb2_grpc.add_MatcherServiceServicer_to_server, MatcherComponent, ROLES
)
