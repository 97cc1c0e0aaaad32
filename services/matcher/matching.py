"""Scored matching of one read: candidates from the index, priced by the scorer, ranked and capped.

``Matcher.match(read)`` is what ``MatchReads`` calls per read. Candidates come from three lookups, all
on the look-alike skeleton of the widest profile's confusions (so the index finds what any profile
might accept): the read's own skeleton (exact, look-alike and rarer confusions, up to two
differences), its deletions (an extra character) and the deletion keys (a dropped character); each
reading of the camera (the read's VRM and up to MAX_ALTERNATIVES alternatives) is looked up. Then
every candidate is priced (scoring.py) and the best ``max_hits`` are kept; the rest are counted.

``score_hit`` prices one read against one entry with the entry's own profile and its vehicle
description, once the entry is known (HitMaker), so that per-list and per-force profiles and make,
model and colour have the last word (ranking and the cap use the default profile and the VRM).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from anpr.v1 import types_pb2
from anpr.vrm import is_valid_vrm, normalise_vrm
from services.matcher import plate_formats
from services.matcher.index import VoiIndex, decode_vrm
from services.matcher.indels import DeletionIndex, deletion_keys
from services.matcher.scoring import (MAX_ALTERNATIVES, MatchProfile, alternative_cost, confidence_scale,
                                      differences, vehicle_adjustment)

MAX_SUBSTITUTIONS = 2  # same-length candidates differ in at most this many positions


class ScoredMatch(NamedTuple):
    entry_id: int
    score: float
    tier: int  # types_pb2.MatchTier
    exact: bool
    # positions in the normalised reading that matched (see Hit.differing_positions)
    differing_positions: tuple[int, ...]
    # 0: the read's VRM; i: read.alternatives[i - 1]
    reading: int
    entry_vrm: str


@dataclass(frozen=True)
class MatchResult:
    matches: list[ScoredMatch]  # best first, at most the profile's max_hits
    over_cap: int  # further matches not returned


class IndexSource(Protocol):
    index: VoiIndex
    deletions: DeletionIndex


class Reading(NamedTuple):
    vrm: str
    extra_cost: float  # 0 for the read's own VRM


def readings(read: types_pb2.Read, profile: MatchProfile) -> list[Reading]:
    """The read's VRM and its valid alternatives (at most MAX_ALTERNATIVES), each once."""
    out = [Reading(normalise_vrm(read.vrm), 0.0)]
    if not read.alternatives:
        return out
    seen = {out[0].vrm}
    for alt in read.alternatives[:MAX_ALTERNATIVES]:
        vrm = normalise_vrm(alt.vrm)
        if vrm not in seen and is_valid_vrm(vrm):
            seen.add(vrm)
            out.append(Reading(vrm, alternative_cost(alt.confidence, read.confidence, profile)))
    return out


def price(read: types_pb2.Read, options: list[Reading], entry_vrm: str,
          profile: MatchProfile) -> tuple[float, tuple[int, ...], int]:
    """(cost, positions, reading index) of the cheapest reading of `read` as `entry_vrm`; the
    vehicle description is left out (the caller knows whether it has the entry's)."""
    country = plate_formats.country_of(read.plate_country)
    scale = confidence_scale(read.confidence, profile)
    best: tuple[float, tuple[int, ...], int] = (math.inf, (), -1)
    for i, option in enumerate(options):
        if option.extra_cost >= best[0]:
            continue
        cost, positions = differences(option.vrm, entry_vrm, profile, country)
        cost = cost * scale + option.extra_cost
        if cost < best[0]:
            best = (cost, positions, i)
    return best


def _scored(entry_id: int, entry_vrm: str, cost: float, positions: tuple[int, ...], reading: int,
            profile: MatchProfile) -> ScoredMatch | None:
    score = math.exp(-cost)
    tier = profile.tier(score)
    if not tier:
        return None
    return ScoredMatch(entry_id, round(score, 4), tier, cost == 0 and reading == 0, positions, reading, entry_vrm)


def score_hit(read: types_pb2.Read, entry_id: int, entry_vrm: str, entry_vehicle: types_pb2.VehicleDescription,
              profile: MatchProfile) -> ScoredMatch | None:
    """The final score and tier of `read` against one entry under the entry's profile, with make,
    model and colour; None when it is no hit under that profile."""
    cost, positions, reading = price(read, readings(read, profile), entry_vrm, profile)
    if cost > 0 or reading > 0:  # an exact read on another car is a cloned plate: still a hit
        cost = max(0.0, cost + vehicle_adjustment(read.vehicle, entry_vehicle, profile))
        if cost == 0:
            cost = 1e-6  # approximate stays below an exact read
    return _scored(entry_id, entry_vrm, cost, positions, reading, profile)


MAX_MISREADINGS = 256


def misreadings(entry_vrm: str, profile: MatchProfile, limit: int = MAX_MISREADINGS) -> list[str]:
    """The reads most likely to be misreads of `entry_vrm` (GB grammar, no camera evidence), cheapest
    first, at most `limit`: one or two confusions, or one character dropped, that still score at
    least POSSIBLE. For historical hits, which search the read store by VRM (an extra character is
    left out: 36 characters at every position is too many to search for)."""
    partners: dict[str, list[str]] = {}
    for read_ch, entry_ch in profile.substitution_costs:
        partners.setdefault(entry_ch, []).append(read_ch)
    near = {entry_vrm[:i] + entry_vrm[i + 1:] for i in range(len(entry_vrm))} if len(entry_vrm) > 1 else set()
    singles = [entry_vrm[:i] + c + entry_vrm[i + 1:] for i, ch in enumerate(entry_vrm) for c in partners.get(ch, ())]
    near.update(singles)
    for v in singles:
        for i, ch in enumerate(v):
            if ch == entry_vrm[i]:
                near.update(v[:i] + c + v[i + 1:] for c in partners.get(ch, ()))
    priced = []
    for v in near:
        cost, _ = differences(v, entry_vrm, profile, "GB")
        if profile.tier(math.exp(-cost)):
            priced.append((cost, v))
    return [v for _, v in sorted(priced)[:limit]]


class Matcher:
    """Scored, capped matching against a live index (``source.index`` and ``source.deletions`` are
    read on every call, so an index swapped by a refresh is used at once)."""

    def __init__(self, source: IndexSource, profile: MatchProfile):
        self._source = source
        self.profile = profile

    def candidates_many(self, vrms: list[str]) -> list[dict[int, int]]:
        """Per normalised, valid VRM: entry id -> packed VRM of every entry the index finds near it
        (up to MAX_SUBSTITUTIONS confusions, or one character dropped or extra). Vectorised over
        the VRMs: one search of each array for all of them."""
        source = self._source
        index = source.index
        found: list[dict[int, int]] = [{} for _ in vrms]
        if not vrms:
            return found
        codes, skels = index.classes.encode_many(vrms)
        for k in np.flatnonzero(index.present(skels)).tolist():
            for m in index.match_encoded(int(codes[k]), int(skels[k]), MAX_SUBSTITUTIONS):
                found[k][m.entry_id] = m.code
        for k, eid, code in source.deletions.lookup(skels, index):
            found[k][eid] = code
        keys, owner = deletion_keys(skels)
        for j, eid, code in index.groups(keys):
            found[owner[j]][eid] = code
        return found

    def candidates(self, vrm: str) -> dict[int, int]:
        return self.candidates_many([vrm])[0]

    def match_many(self, reads: list[types_pb2.Read]) -> list[MatchResult]:
        """``match`` for a batch of reads (what MatchReads gets), with the index searched once for all."""
        options = [readings(read, self.profile) for read in reads]
        flat = [(i, o.vrm) for i, opts in enumerate(options) for o in opts if is_valid_vrm(o.vrm)]
        found: list[dict[int, int]] = [{} for _ in reads]
        for (i, _), near in zip(flat, self.candidates_many([vrm for _, vrm in flat])):
            found[i].update(near)
        return [self._rank(read, opts, near) for read, opts, near in zip(reads, options, found)]

    def match(self, read: types_pb2.Read) -> MatchResult:
        return self.match_many([read])[0]

    def _rank(self, read: types_pb2.Read, options: list[Reading], found: dict[int, int]) -> MatchResult:
        if not found:
            return MatchResult([], 0)
        profile = self.profile
        scored = []
        for eid, code in found.items():
            entry_vrm = decode_vrm(code)
            cost, positions, reading = price(read, options, entry_vrm, profile)
            m = _scored(eid, entry_vrm, cost, positions, reading, profile)
            if m is not None:
                scored.append((cost, eid, m))
        scored.sort(key=lambda t: (t[0], t[1]))
        # a read that is exactly a listed VRM is that car: its approximate matches are only counted
        best = [m for _, _, m in scored if m.exact] or [m for _, _, m in scored]
        kept = best[:profile.max_hits]
        return MatchResult(kept, len(scored) - len(kept))
