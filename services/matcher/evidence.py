"""The evidence that a read is of a listed vehicle, as log-odds contributions that explain a hit.

A hit's log-odds are the sum of its contributions (``Contribution``): the VRM (an exact reading, or a
misread and what each difference takes off: scoring.py), the camera's confidence, an alternative
reading, make, model and colour against the licensing record, and what outcomes taught about the
camera and the list (calibration.py). Its score is the probability of those log-odds; its tier
follows from the profile's thresholds (docs/matching.md).

Description fields are likelihood ratios, P(what the camera says | the listed car) / P(what the
camera says | another car), from how often cameras and records are right (the profile) and how
common the value is (vehicles.py):

* agree:                   (r c + (1 - r) s_v) / s_v
* a neighbour w of v:      r (1 - c) n / s_N(v) + (1 - r)
* anything else:           r (1 - c) (1 - n) / (1 - s_v - s_N(v)) + (1 - r)

with r the record right, c the camera right, n the share of camera errors that name a neighbour,
s the fleet shares (of the value, of its neighbours). So agreement on a rare colour tells more than
on a common one; one disagreement among agreements is a small step, two independent ones a large
step, a missing field none. A model is weighed only when the makes do not disagree (a different
make already says it is another model).

A POSSIBLE hit through a rarer confusion, a dropped or an extra character on a read that is itself
a well-formed plate is likelier another car read right; it needs support beyond the VRM (the
camera's confidence, the description, a calibration: ``support_log_odds``), or it is withheld:
counted per list and camera, not alerted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from anpr.v1 import types_pb2
from services.matcher import plate_formats, vehicles
from services.matcher.scoring import (
    CONFIRMED,
    POSSIBLE,
    MatchProfile,
    best_gap,
    confidence_log_odds,
    gapped,
    probability,
)

# contributions that are evidence beyond the VRM (support for a POSSIBLE that needs it)
BEYOND_VRM = frozenset({"confidence", "colour", "make", "model", "calibration"})
ORDINALS = ("1st", "2nd", "3rd", "4th", "5th", "6th")


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one piece of evidence did to a hit's log-odds, with a line for people; `key` names
    what outcomes recalibrate ("confusion:T7": a listed T read as 7; "dropped", "extra"; "colour",
    "make", "model" when they disagree), empty for the rest."""

    factor: str
    log_odds: float
    detail: str
    key: str = ""

    def message(self) -> types_pb2.EvidenceContribution:
        return types_pb2.EvidenceContribution(
            factor=self.factor, log_odds=round(self.log_odds, 3), detail=self.detail, key=self.key
        )


class Calibration(Protocol):
    def adjustments(self, camera_id: str, hotlist_id: str, keys: Sequence[str]) -> list[Contribution]: ...


class Weighed(NamedTuple):
    log_odds: float
    score: float
    tier: int  # types_pb2.MatchTier; 0: no hit
    contributions: tuple[Contribution, ...]
    withheld: bool  # a near miss that needs support and has none: counted, never alerted
    exact: bool  # the read's own VRM is the listed one
    positions: tuple[int, ...] = ()  # in the reading, as Hit.differing_positions


def _confusion(read_ch: str, listed_ch: str, position: int, cost: float, note: str, common: bool) -> Contribution:
    kind = "common look-alike" if common else "rarer confusion"
    return Contribution(
        "confusion",
        -cost,
        f"{listed_ch} read as {read_ch} at {position + 1}: {kind}{note}",
        f"confusion:{listed_ch}{read_ch}",
    )


def is_common(profile: MatchProfile, a: str, b: str) -> bool:
    """Whether two characters are in one of the profile's common look-alike classes."""
    return (a, b) in profile.common_pairs


def _substitutions(
    read: str, entry: str, read_offset: int, entry_offset: int, profile: MatchProfile, allowed
) -> list[Contribution]:
    costs, out = profile.substitution_costs, []
    for i, (r, e) in enumerate(zip(read, entry, strict=False)):
        if r == e:
            continue
        base = costs[r, e]
        common = is_common(profile, r, e)
        if allowed is None:
            note, extra = "; the listed plate fits no known format", profile.unknown_format_cost
        elif r in allowed[entry_offset + i]:
            note, extra = f"; {r} may stand there in the listed plate's format", profile.fits_cost
        else:
            note, extra = f"; {r} cannot stand there: a misread", 0.0
        out.append(_confusion(r, e, read_offset + i, base + extra, note, common))
    return out


def vrm_contributions(read: str, entry: str, profile: MatchProfile, country: str) -> tuple[list[Contribution], bool]:
    """The differences of a reading from the listed VRM as contributions (they sum to minus its
    cost in scoring.differences), and whether they need support (a rarer confusion, a dropped or
    extra character on a well-formed read)."""
    well_formed = plate_formats.is_well_formed(read, country)
    allowed = plate_formats.allowed_at(entry, country)
    if len(read) == len(entry):
        out = _substitutions(read, entry, 0, 0, profile, allowed)
        clean = profile.clean_read_cost
    else:
        out = _gap_contributions(read, entry, profile, allowed)
        clean = profile.drop_clean_cost if len(read) < len(entry) else profile.extra_clean_cost
    mixed = any(_needs_support(c, profile) for c in out)
    needs = well_formed and mixed
    if len(out) > 1:
        more = profile.another_difference_cost * (len(out) - 1) + (profile.mixed_difference_cost if mixed else 0.0)
        out.append(Contribution("differences", -more, f"{len(out)} differences in one read"))
    if well_formed:
        out.insert(0, Contribution("well_formed_read", -clean, "the read is itself a well-formed plate: another car?"))
    return out, needs


def _needs_support(c: Contribution, profile: MatchProfile) -> bool:
    """A rarer confusion, a look-alike to a character the listed plate's format allows there (the
    read may be that other plate), or a dropped or extra character."""
    if c.factor == "confusion":
        listed, read = c.key[-2], c.key[-1]
        return not is_common(profile, read, listed) or "may stand there" in c.detail
    return c.factor in ("dropped_character", "extra_character")


def _gap_contributions(read: str, entry: str, profile: MatchProfile, allowed) -> list[Contribution]:
    left, right, _ = gapped(read, entry, profile, allowed)
    k = best_gap(left, right)
    dropped = len(read) < len(entry)
    gap = Contribution(
        "dropped_character" if dropped else "extra_character",
        -(profile.drop_cost if dropped else profile.extra_cost),
        f"a character dropped at {k + 1}" if dropped else f"an extra character at {k + 1}",
        "dropped" if dropped else "extra",
    )
    before = _substitutions(read[:k], entry[:k], 0, 0, profile, allowed)
    if dropped:
        after = _substitutions(read[k:], entry[k + 1 :], k, k + 1, profile, allowed)
    else:
        after = _substitutions(read[k + 1 :], entry[k:], k + 1, k, profile, allowed)
    return [*before, gap, *after]


def field_log_odds(name: str, camera: str, record: str, profile: MatchProfile) -> tuple[float, str] | None:
    """The log-likelihood ratio of one description field (module docstring) and its explanation;
    None when either side does not give it."""
    cam, rec = vehicles.canonical(name, camera), vehicles.canonical(name, record)
    if not cam or not rec:
        return None
    if name == "model":
        return _model_log_odds(cam, rec, profile)
    r, c = getattr(profile, f"record_{name}_right"), getattr(profile, f"camera_{name}_right")
    n = getattr(profile, f"{name}_neighbour_errors")
    s_cam = vehicles.share(name, cam, profile.unknown_share)
    near = vehicles.neighbours(name, rec)
    s_near = sum(vehicles.share(name, v, profile.unknown_share) for v in near)
    if cam == rec:
        ratio, how = (r * c + (1 - r) * s_cam) / s_cam, f"agrees ({cam}, {100 * s_cam:.1f}% of cars)"
    elif cam in near:
        ratio, how = r * (1 - c) * n / s_near + (1 - r), f"a neighbour of the record's ({cam} for {rec})"
    else:
        s_rec = vehicles.share(name, rec, profile.unknown_share)
        rest = max(1 - s_rec - s_near, profile.unknown_share)
        ratio, how = r * (1 - c) * (1 - n if near else 1) / rest + (1 - r), f"disagrees ({cam} for {rec})"
    return _capped(math.log(ratio), profile), how


def _model_log_odds(cam: str, rec: str, profile: MatchProfile) -> tuple[float, str]:
    r, c = profile.record_model_right, profile.camera_model_right
    if vehicles.same_model(cam, rec):
        ratio, how = (r * c + (1 - r) * profile.model_share) / profile.model_share, f"agrees ({cam})"
    else:
        ratio, how = r * (1 - c) + (1 - r), f"disagrees ({cam} for {rec})"
    return _capped(math.log(ratio), profile), how


def _capped(value: float, profile: MatchProfile) -> float:
    return max(-profile.description_cap, min(profile.description_cap, value))


def description_contributions(
    read: types_pb2.VehicleDescription, entry: types_pb2.VehicleDescription, profile: MatchProfile
) -> list[Contribution]:
    """Make, colour and model of the read against the licensing record's, each where both give it."""
    out = []
    for name in ("make", "colour", "model"):
        if name == "model" and out and out[0].factor == "make" and out[0].key:
            break  # the makes disagree: the model says nothing more
        weighed = field_log_odds(name, getattr(read, name), getattr(entry, name), profile)
        if weighed is not None:
            value, how = weighed
            key = "" if how.startswith("agrees") else name
            out.append(Contribution(name, value, f"{name} {how}", key))
    return out


def reading_contribution(
    reading: int, exact: bool, alternative_cost: float, read: types_pb2.Read, profile: MatchProfile
) -> Contribution:
    """Where a reading starts: an exact read of the listed VRM, or a misread (through the camera's
    own reading or one of its alternatives)."""
    if reading == 0:
        if exact:
            return Contribution("exact_read", profile.exact_log_odds, "the read is the listed VRM")
        return Contribution("misread", profile.misread_log_odds, "the read differs from the listed VRM")
    alt = read.alternatives[reading - 1] if reading - 1 < len(read.alternatives) else None
    sure = f" (confidence {alt.confidence:.0f} against {read.confidence:.0f})" if alt and alt.confidence else ""
    return Contribution(
        "alternative",
        profile.misread_log_odds - alternative_cost,
        f"through the camera's {ORDINALS[min(reading, 5)]} reading{sure}",
    )


def weigh(
    read: types_pb2.Read,
    reading: tuple[str, int, float],
    entry_vrm: str,
    entry_vehicle: types_pb2.VehicleDescription,
    profile: MatchProfile,
    calibration: Calibration | None = None,
    hotlist_id: str = "",
) -> Weighed:
    """The hit of `read` on a listed VRM through `reading` ((its VRM, its index: 0 the read's own,
    i its alternative i, and its alternative cost)): every contribution, the sum, the tier, and
    whether it is withheld for want of support."""
    vrm, index, alt_cost = reading
    country = plate_formats.country_of(read.plate_country)
    exact = index == 0 and vrm == entry_vrm
    out = [reading_contribution(index, vrm == entry_vrm, alt_cost, read, profile)]
    needs_support = False
    if vrm != entry_vrm:
        differences, needs_support = vrm_contributions(vrm, entry_vrm, profile, country)
        out += differences
    if not exact:
        moved = confidence_log_odds(read.confidence, profile)
        if moved:
            out.append(Contribution("confidence", moved, f"the camera was {read.confidence:.0f}% sure"))
    out += description_contributions(read.vehicle, entry_vehicle, profile)
    if calibration is not None:
        out += calibration.adjustments(read.camera_id, hotlist_id, [c.key for c in out if c.key])
    log_odds = sum(c.log_odds for c in out)
    tier = profile.tier(log_odds)
    if exact and not tier:
        tier = POSSIBLE  # an exact read of a listed plate on another car (a cloned plate?) stays a hit
    support = sum(c.log_odds for c in out if c.factor in BEYOND_VRM)
    withheld = tier != CONFIRMED and needs_support and support < profile.support_log_odds
    if withheld:
        tier = POSSIBLE  # what it would have been: counted, never alerted
    return Weighed(log_odds, probability(log_odds), tier, tuple(out), withheld, exact)
