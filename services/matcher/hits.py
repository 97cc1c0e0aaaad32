"""Hits: index matches made into hits (re-checked against the entries as stored, weighed under
their list's profile with the vehicle description and what outcomes taught, deduplicated per entry
and area) and queued for notify and firearms; a POSSIBLE without the support it needs is withheld:
recorded and counted, not alerted (evidence.py)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from google.protobuf import timestamp_pb2

from anpr.runtime import metrics
from anpr.v1 import ingest_pb2, matcher_pb2, types_pb2
from anpr.vrm import normalise_vrm
from services.matcher import evidence_store, matching, store, vehicles
from services.matcher.config import MatcherSettings
from services.matcher.evidence import Calibration, Weighed
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
    """The fields both give and spell differently (aliases and a model's family aside)."""
    out = []
    for name in ("make", "model", "colour"):
        a, b = vehicles.canonical(name, getattr(read, name)), vehicles.canonical(name, getattr(entry, name))
        if a and b and not (vehicles.same_model(a, b) if name == "model" else a == b):
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

    @classmethod
    def historical_of(
        cls,
        read: types_pb2.Read,
        place: ingest_pb2.ReadPlace | None,
        match: matching.ScoredMatch,
        traceparent: str,
        over_cap: int = 0,
    ) -> "Found":
        """A historical hit's read, routed by its place (the camera's force and position) as a live one."""
        if place is None:
            return cls(read, match, traceparent, historical=True, over_cap=over_cap)
        return cls(
            read,
            match,
            traceparent,
            historical=True,
            over_cap=over_cap,
            force=place.force,
            location=place.location if place.HasField("location") else None,
            location_from_camera=place.location_from_camera,
        )


class HitMaker:
    """Turns index matches into hits: re-checks each entry as stored (deleted, weed date, list policy),
    marks vehicle mismatches and repeats, and queues the hits for delivery, in one transaction."""

    def __init__(
        self,
        live: LiveIndex,
        settings: MatcherSettings,
        clock: Callable[[], datetime],
        profiles: ProfileTable,
        calibration: Calibration | None = None,
    ):
        self._live = live
        self._settings = settings
        self._clock = clock
        self._profiles = profiles
        self._calibration = calibration

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
        hits, withheld = self._decide(found, cands, now, matched_at)
        if withheld:
            metrics.possible_held(await evidence_store.record_withheld(conn, withheld), evidence_store.UNSUPPORTED)
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

    def _decide(
        self,
        found: Sequence[Found],
        cands: dict[int, store.Candidate],
        now: datetime,
        matched_at: timestamp_pb2.Timestamp,
    ) -> tuple[list[tuple[types_pb2.Hit, bool, str]], list[evidence_store.Withheld]]:
        """The hits of the matches, and those withheld for want of support (never a firearms-marked
        entry's)."""
        hits, withheld = [], []
        for f in found:
            cand = cands.get(f.match.entry_id)
            decided = self._weigh(f, cand, now)
            if decided is None:
                continue
            if decided[1].withheld and not cand.firearms:
                hit_id = hit_id_for(f.read.read_id, cand.entry.entry_id)
                withheld.append(evidence_store.Withheld.of(hit_id, f.read, f.force, cand.entry, decided[1].log_odds))
            else:
                hits.append(self._hit(f, cand, *decided, matched_at))
        return hits, withheld

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

    def _weigh(self, f: Found, cand: store.Candidate | None, now: datetime) -> tuple[types_pb2.Hotlist, Weighed] | None:
        """The list and the weighed hit of one match, or None when the entry was deleted since,
        lapsed at its weed date, its list allows exact matches only, or it is no hit under the
        profile of its list or force with its make, model and colour and the calibration."""
        if cand is None or (cand.weed_at is not None and cand.weed_at <= now):
            return None
        hotlist = self._live.hotlists.get(cand.hotlist_id, types_pb2.Hotlist(hotlist_id=cand.hotlist_id))
        profile = self._profiles.profile_for(cand.hotlist_id, hotlist.name, cand.entry.force)
        weighed = matching.final(
            f.read, normalise_vrm(cand.entry.vrm), cand.entry.vehicle, profile, self._calibration, cand.hotlist_id
        )
        if weighed is None or not weighed.tier:
            return None
        if not weighed.exact and hotlist.match_policy == types_pb2.MATCH_POLICY_EXACT:
            return None
        return hotlist, weighed

    def _hit(
        self,
        f: Found,
        cand: store.Candidate,
        hotlist: types_pb2.Hotlist,
        m: Weighed,
        matched_at: timestamp_pb2.Timestamp,
    ) -> tuple[types_pb2.Hit, bool, str]:
        hit = types_pb2.Hit(
            hit_id=hit_id_for(f.read.read_id, cand.entry.entry_id),
            read=f.read,
            entry=cand.entry,
            hotlist=hotlist,
            match_kind=types_pb2.MATCH_KIND_EXACT if m.exact else types_pb2.MATCH_KIND_LOOKALIKE,
            differing_positions=m.positions,
            vehicle_mismatches=vehicle_mismatches(f.read.vehicle, cand.entry.vehicle),
            historical=f.historical,
            matched_at=matched_at,
            force=f.force,
            location_from_camera=f.location_from_camera,
            score=m.score,
            tier=m.tier,
            hits_over_cap=f.over_cap,
            evidence=[c.message() for c in m.contributions],
        )
        location = f.location if f.location is not None else (f.read.location if f.read.HasField("location") else None)
        if location is not None:
            hit.location.CopyFrom(location)
        return hit, cand.firearms, f.traceparent
