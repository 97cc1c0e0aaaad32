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
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from anpr.v1 import types_pb2
from anpr.vrm import is_valid_vrm, normalise_vrm
from services.matcher import plate_formats
from services.matcher.evidence import Calibration, Weighed, weigh
from services.matcher.indels import DeletionIndex, deletion_keys
from services.matcher.index import VoiIndex, decode_vrm
from services.matcher.scoring import (
    MAX_ALTERNATIVES,
    MatchProfile,
    alternative_cost,
    confidence_log_odds,
    differences,
    probability,
    reading_log_odds,
)

MAX_SUBSTITUTIONS = 2  # same-length candidates differ in at most this many positions


class ScoredMatch(NamedTuple):
    entry_id: int
    score: float
    tier: int  # types_pb2.MatchTier; 0 for a candidate only the entry's description or a calibration may lift
    exact: bool
    # positions in the normalised reading that matched (see Hit.differing_positions)
    differing_positions: tuple[int, ...]
    # 0: the read's VRM; i: read.alternatives[i - 1]
    reading: int
    entry_vrm: str
    log_odds: float = 0.0


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


def price(
    options: list[Reading], entry_vrm: str, profile: MatchProfile, country: str
) -> tuple[float, tuple[int, ...], int]:
    """(VRM log-odds, positions, reading index) of the likeliest of a read's readings as
    `entry_vrm`, in the grammar of the read's `country` (-inf when none is near it)."""
    best: tuple[float, tuple[int, ...], int] = (-math.inf, (), -1)
    misread = profile.misread_log_odds
    for i, option in enumerate(options):
        if misread - option.extra_cost <= best[0]:
            continue
        cost, positions = differences(option.vrm, entry_vrm, profile, country)
        # (reading_log_odds, inline: this runs for every candidate of every read)
        log_odds = profile.exact_log_odds if cost == 0 and not option.extra_cost else misread - cost - option.extra_cost
        if log_odds > best[0]:  # never for inf cost: -inf is not above -inf
            best = (log_odds, positions, i)
    return best


def floor(profile: MatchProfile) -> float:
    """The least log-odds (VRM and confidence) of a candidate worth weighing with the entry's
    description and the calibration (or counting as withheld): ``evidence_reach`` below POSSIBLE."""
    return profile.possible_log_odds - profile.evidence_reach


def _scored(
    entry_id: int,
    entry_vrm: str,
    log_odds: float,
    positions: tuple[int, ...],
    reading: int,
    profile: MatchProfile,
    exact: bool,
) -> ScoredMatch:
    return ScoredMatch(
        entry_id, probability(log_odds), profile.tier(log_odds), exact, positions, reading, entry_vrm, log_odds
    )


def final(
    read: types_pb2.Read,
    entry_vrm: str,
    entry_vehicle: types_pb2.VehicleDescription,
    profile: MatchProfile,
    calibration: Calibration | None = None,
    hotlist_id: str = "",
) -> Weighed | None:
    """The hit of `read` on one entry under the entry's profile, with its description and the
    calibration (evidence.weigh); None when no reading of the read is near the entry."""
    options = readings(read, profile)
    _, positions, index = price(options, entry_vrm, profile, plate_formats.country_of(read.plate_country))
    if index < 0:
        return None
    option = options[index]
    weighed = weigh(
        read, (option.vrm, index, option.extra_cost), entry_vrm, entry_vehicle, profile, calibration, hotlist_id
    )
    return weighed._replace(positions=positions)


MAX_MISREADINGS = 256


def misreadings(entry_vrm: str, profile: MatchProfile, limit: int = MAX_MISREADINGS) -> list[str]:
    """The reads most likely to be misreads of `entry_vrm` (GB grammar, no camera evidence), cheapest
    first, at most `limit`: one or two confusions, or one character dropped, that may still be
    weighed (``floor``, with the most the camera's confidence may add). For historical hits, which search the read store by VRM (an extra character is
    left out: 36 characters at every position is too many to search for)."""
    partners: dict[str, list[str]] = {}
    for read_ch, entry_ch in profile.substitution_costs:
        partners.setdefault(entry_ch, []).append(read_ch)
    near = {entry_vrm[:i] + entry_vrm[i + 1 :] for i in range(len(entry_vrm))} if len(entry_vrm) > 1 else set()
    singles = [entry_vrm[:i] + c + entry_vrm[i + 1 :] for i, ch in enumerate(entry_vrm) for c in partners.get(ch, ())]
    near.update(singles)
    for v in singles:
        for i, ch in enumerate(v):
            if ch == entry_vrm[i]:
                near.update(v[:i] + c + v[i + 1 :] for c in partners.get(ch, ()))
    priced = []
    least = floor(profile) - profile.confidence_cap
    for v in near:
        cost, _ = differences(v, entry_vrm, profile, "GB")
        if reading_log_odds(cost, 0.0, profile) >= least:
            priced.append((cost, v))
    return [v for _, v in sorted(priced)[:limit]]


_NO_HITS = MatchResult([], 0)


class Matcher:
    """Scored, capped matching against a live index (``source.index`` and ``source.deletions`` are
    read on every call, so an index swapped by a refresh is used at once)."""

    def __init__(self, source: IndexSource, profile: MatchProfile):
        self._source = source
        self.profile = profile
        # worked out once: the exact hit's score and tier, the floor, the best a well-formed read
        # with one character too many can do
        self._exact = (probability(profile.exact_log_odds), profile.tier(profile.exact_log_odds))
        self._least = floor(profile)
        self._extra_most = reading_log_odds(profile.extra_cost + profile.extra_clean_cost, 0.0, profile)

    def candidates_many(self, vrms: list[str]) -> list[dict[int, int]]:
        """Per normalised, valid VRM: entry id -> packed VRM of every entry the index finds near it
        (up to MAX_SUBSTITUTIONS confusions, or one character dropped or extra)."""
        if not vrms:
            return []
        codes, skels = self._source.index.classes.encode_many(vrms)
        near = self._near(vrms, codes, skels, lambda k: None)
        return [near.get(k, {}) for k in range(len(vrms))]

    def candidates(self, vrm: str) -> dict[int, int]:
        return self.candidates_many([vrm])[0]

    def _near(
        self, vrms: list[str], codes: np.ndarray, skels: np.ndarray, read_of: Callable[[int], types_pb2.Read | None]
    ) -> dict[int, dict[int, int]]:
        """k -> {entry id: packed VRM} for the VRMs (``vrms[k]``, packed as ``codes[k]`` and
        ``skels[k]``) that have candidates. Vectorised over the VRMs: each array is searched once
        for all of them, behind a presence filter. ``read_of(k)``: the read of ``vrms[k]`` (its
        country and confidence), to leave out the extra-character search where it cannot score."""
        source = self._source
        index = source.index
        found: dict[int, dict[int, int]] = {}
        present, lo = index.locate(skels)
        ks = np.flatnonzero(present)
        for k, code, skel, at in zip(ks.tolist(), codes[ks].tolist(), skels[ks].tolist(), lo[ks].tolist(), strict=True):
            for m in index.match_encoded(code, skel, MAX_SUBSTITUTIONS, at):
                found.setdefault(k, {})[m.entry_id] = m.code
        for k, eid, code in source.deletions.lookup(codes, index):
            found.setdefault(k, {})[eid] = code
        keys, owner = deletion_keys(skels)
        longer = index.present(keys)
        if longer.any():
            keys, owner = keys[longer], owner[longer]
            searched = {k: self._extra_may_score(vrms[k], read_of(k)) for k in set(owner.tolist())}
            if not all(searched.values()):
                keep = np.fromiter((searched[k] for k in owner.tolist()), dtype=bool, count=owner.size)
                keys, owner = keys[keep], owner[keep]
            for j, eid, code in index.groups(keys):
                found.setdefault(int(owner[j]), {})[eid] = code
        return found

    def _extra_may_score(self, vrm: str, read: types_pb2.Read | None) -> bool:
        """Whether a read of `vrm` with one character too many can still score a hit: a
        well-formed read (in its country's grammar) pays the clean-read and format costs on top
        (docs/matching.md), which under the default costs is below POSSIBLE, so that
        search is skipped."""
        profile = self.profile
        country = plate_formats.country_of(read.plate_country) if read is not None else "GB"
        if not plate_formats.is_well_formed(vrm, country):
            return True
        most = self._extra_most + (confidence_log_odds(read.confidence, profile) if read is not None else 0.0)
        return most >= self._least

    def match_many(self, reads: list[types_pb2.Read]) -> list[MatchResult]:
        """``match`` for a batch of reads (what MatchReads gets), with the index searched once for all."""
        profile = self.profile
        vrms = [read.vrm for read in reads]
        owner = list(range(len(reads)))  # the read of each VRM searched
        results = [_NO_HITS] * len(reads)
        if not vrms:
            return results
        codes, skels, bad = self._source.index.classes.encode_checked(vrms)
        # the usual read is one reading, normalised by ingest; the others are worked out here
        unusual = {i for i, read in enumerate(reads) if read.alternatives}
        unusual.update(np.flatnonzero(bad).tolist())
        options: dict[int, list[Reading]] = {i: readings(reads[i], profile) for i in unusual}
        if options:
            vrms, owner = [], []
            for i, read in enumerate(reads):
                for o in options.get(i) or (Reading(read.vrm, 0.0),):
                    if is_valid_vrm(o.vrm):
                        vrms.append(o.vrm)
                        owner.append(i)
            if not vrms:
                return results
            codes, skels = self._source.index.classes.encode_many(vrms)
        near = self._near(vrms, codes, skels, lambda k: reads[owner[k]])
        found: dict[int, dict[int, int]] = {}
        for k, entries in near.items():
            found.setdefault(owner[k], {}).update(entries)
        first = {}  # read -> its VRM's packed code, for the reads of one reading
        if not options:
            first = dict(zip(found, codes[list(found)].tolist(), strict=True))
        for i, entries in found.items():
            read = reads[i]
            results[i] = self._rank(read, options.get(i) or [Reading(read.vrm, 0.0)], entries, first.get(i))
        return results

    def match(self, read: types_pb2.Read) -> MatchResult:
        return self.match_many([read])[0]

    def _rank(
        self, read: types_pb2.Read, options: list[Reading], found: dict[int, int], read_code: int | None = None
    ) -> MatchResult:
        if not found:
            return MatchResult([], 0)
        profile = self.profile
        if len(found) == 1 and read_code is not None:
            ((eid, code),) = found.items()
            if code == read_code:  # the usual hit: an exact read, nothing near it
                score, tier = self._exact
                return MatchResult(
                    [ScoredMatch(eid, score, tier, True, (), 0, options[0].vrm, profile.exact_log_odds)], 0
                )
        country = plate_formats.country_of(read.plate_country)
        confidence = confidence_log_odds(read.confidence, profile)
        least = self._least
        scored = []
        for eid, code in found.items():
            entry_vrm = decode_vrm(code)
            log_odds, positions, reading = price(options, entry_vrm, profile, country)
            exact = reading == 0 and options[0].vrm == entry_vrm
            if not exact:
                log_odds += confidence
            if log_odds >= least:
                scored.append(_scored(eid, entry_vrm, log_odds, positions, reading, profile, exact))
        if len(scored) > 1:
            scored.sort(key=lambda m: (-m.log_odds, m.entry_id))
        # a read that is exactly a listed VRM is that car: its approximate matches are only counted
        best = [m for m in scored if m.exact] or scored
        kept = best[: profile.max_hits]
        return MatchResult(kept, sum(1 for m in scored if m.tier) - sum(1 for m in kept if m.tier))
