"""Hits: index matches made into hits (re-checked against the entries as stored, scored under
their list's profile, deduplicated per entry and area) and queued for notify and firearms."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from google.protobuf import timestamp_pb2

from anpr.runtime import metrics
from anpr.v1 import matcher_pb2, types_pb2
from anpr.vrm import normalise_vrm
from services.matcher import matching, store
from services.matcher.config import MatcherSettings
from services.matcher.live import LiveIndex
from services.matcher.scoring import ProfileTable

HIT_NAMESPACE = uuid.UUID("6f1c9a52-7f4e-4d3b-9a53-5b8f1f0c2d11")


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

    async def record(
        self, conn, found: Sequence[Found], local: Callable[[str], frozenset[int]] = lambda _topic: frozenset()
    ) -> store.Recorded:
        """Store the hits not made before, count repeats, and queue them for notify and firearms, in
        one statement after reading the entries (run it in the caller's transaction or on its own).
        Returns what was recorded: `len(recorded.repeats)` hits are new; hand `recorded.queued` to
        the outbox once committed. `local`: see store.record_hits."""
        if not found:
            return store.Recorded()
        now = self._clock()
        matched_at = timestamp_pb2.Timestamp()
        matched_at.FromDatetime(now)
        cands = await store.candidates(conn, [f.match.entry_id for f in found])
        hits = [h for f in found if (h := self._hit(f, cands.get(f.match.entry_id), now, matched_at))]
        hits = await self._within_cap(conn, hits)
        if not hits:
            return store.Recorded()
        cell_km = self._settings.dedup_cell_km
        sightings = [
            store.Sighting(
                h.entry.entry_id,
                normalise_vrm(h.read.vrm),
                area_cell(h.location, cell_km),
                h.read.captured_at.ToDatetime(tzinfo=timezone.utc),
            )
            for h, _, _ in hits
        ]
        window = timedelta(seconds=self._settings.dedup_window_s)
        recorded = await store.record_hits(conn, hits, sightings, window, local)
        new = [h for h, _, _ in hits if h.hit_id in recorded.repeats]
        for hit in new:
            hit.repeat_count = recorded.repeats[hit.hit_id]
        metrics.count_hits(new)
        return recorded

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
