"""What a difference between a read and a listed VRM costs, and how sure a hit is.

Each difference has a cost (in nats: a hit's score is exp(-total cost), 1.0 for an exact read):

* a substitution by a *common* look-alike (O/0/D/Q, I/1/L, B/8, S/5, Z/2, G/6, T/7) or a *rarer*
  confusion (E/F, H/M, M/N, U/V, V/W, K/X, 3/8, C/G, P/R, A/4, ...); any other substitution is not a
  match at all;
* plus, for a substitution, what the plate-format grammar says (plate_formats.py): if the read's
  character cannot stand at that position of the listed plate's format, the camera misread it (no
  extra cost); if it can, the read may be a different car read cleanly (``fits_cost``); if the
  listed plate fits no known format, half way (``unknown_format_cost``);
* a dropped or extra character (``drop_cost``, ``extra_cost``), plus ``fits_cost`` when the read is
  itself a well-formed plate;
* the camera's evidence: its confidence scales every cost (a sure camera makes approximate matches
  less likely), an alternative reading adds ``alternative_cost`` scaled by how much less sure the
  camera was of it; make, model and colour each add ``vehicle_disagree_cost`` when they disagree
  and take off ``vehicle_agree_credit`` when they agree (approximate matches only: an exact read of
  a listed plate on another car is a cloned plate, still a hit).

A hit scoring at least ``confirm_score`` is CONFIRMED (terminals and control room); at least
``possible_score``, POSSIBLE (control room only, to confirm); below, no hit. The defaults come from
``benchmarks/quality_bench.py`` (docs/matching.md).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field, fields, replace

from anpr.v1 import types_pb2
from services.matcher import plate_formats

COMMON_CLASSES: tuple[str, ...] = ("O0DQ", "I1L", "B8", "S5", "Z2", "G6", "T7")
RARE_PAIRS: tuple[str, ...] = ("EF", "HM", "MN", "HN", "UV", "VW", "VY", "KX", "38", "CG", "PR", "A4", "17")
MAX_ALTERNATIVES = 5
CONFIRMED = types_pb2.MATCH_TIER_CONFIRMED
POSSIBLE = types_pb2.MATCH_TIER_POSSIBLE
_NO_MATCH = math.inf


@dataclass(frozen=True)
class MatchProfile:
    """One set of costs and thresholds (the default, or a force's or a list's; see ProfileTable)."""

    common: tuple[str, ...] = COMMON_CLASSES
    rare: tuple[str, ...] = RARE_PAIRS
    common_cost: float = 0.15
    rare_cost: float = 0.8
    fits_cost: float = 0.9
    unknown_format_cost: float = 0.5
    # once per approximate match whose reading is itself a well-formed plate (another car, read right?)
    clean_read_cost: float = 0.4
    drop_cost: float = 1.0
    extra_cost: float = 1.2
    # confidence at which costs are unscaled; a read at confidence c scales them by 0.5 + c / (2 * neutral)
    confidence_neutral: float = 80.0
    alternative_cost: float = 0.3
    vehicle_agree_credit: float = 0.3
    vehicle_disagree_cost: float = 0.6
    confirm_score: float = 0.6
    possible_score: float = 0.09
    max_hits: int = 3
    _costs: dict[tuple[str, str], float] = field(default=None, init=False, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        for name in ("confirm_score", "possible_score"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.max_hits < 1:
            raise ValueError("max_hits must be at least 1")
        for cls in (*self.common, *self.rare):
            if not cls or any(ch not in plate_formats.ALL for ch in cls):
                raise ValueError(f"confusion class {cls!r}: characters must be A-Z or 0-9")
        costs: dict[tuple[str, str], float] = {}
        for cls in self.rare:
            for a, b in itertools.permutations(cls, 2):
                costs[a, b] = self.rare_cost
        for cls in self.common:
            for a, b in itertools.permutations(cls, 2):
                costs[a, b] = self.common_cost
        object.__setattr__(self, "_costs", costs)

    def pairs(self) -> list[str]:
        """Every confusable pair (for the index's candidate classes)."""
        return [a + b for a, b in self._costs]

    @property
    def substitution_costs(self) -> dict[tuple[str, str], float]:
        """(read character, listed character) -> base cost of the confusion."""
        return self._costs

    def tier(self, score: float) -> int:
        """CONFIRMED, POSSIBLE or 0 (no hit)."""
        if score >= self.confirm_score:
            return CONFIRMED
        return POSSIBLE if score >= self.possible_score else 0

    @classmethod
    def from_mapping(cls, values: dict, base: MatchProfile | None = None) -> MatchProfile:
        """A profile from JSON-like settings, unset fields from `base` (or the defaults)."""
        known = {f.name for f in fields(cls) if f.init}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown match profile settings: {', '.join(sorted(unknown))}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return replace(base or cls(), **values)


def differences(read: str, entry: str, profile: MatchProfile, country: str) -> tuple[float, tuple[int, ...]]:
    """(cost, positions in `read`) of the cheapest way `read` is a misread of `entry`: substitutions
    only when of equal length, else one dropped or extra character too. inf when it is not."""
    if read == entry:
        return 0.0, ()
    if abs(len(read) - len(entry)) > 1:
        return _NO_MATCH, ()
    well_formed = plate_formats.is_well_formed(read, country)
    cost = profile.clean_read_cost if well_formed else 0.0
    allowed = plate_formats.allowed_at(entry, country)
    if len(read) == len(entry):
        subs = _aligned(read, entry, 0, profile, allowed)
        return cost + sum(subs), tuple(i for i, c in enumerate(subs) if c)
    cost += profile.drop_cost if len(read) < len(entry) else profile.extra_cost
    if well_formed:
        cost += profile.fits_cost
    # the gap at k: read[:k] against entry[:k], and the rest shifted by one
    if len(read) < len(entry):
        left, right, shift = (
            _aligned(read, entry, 0, profile, allowed),
            _aligned(read, entry[1:], 1, profile, allowed),
            0,
        )
    else:
        left, right, shift = (
            _aligned(read, entry, 0, profile, allowed),
            _aligned(read[1:], entry, 0, profile, allowed),
            1,
        )
    n = len(left)
    suffix = [0.0] * (n + 1)
    for i in range(n - 1, -1, -1):
        suffix[i] = suffix[i + 1] + right[i]
    best_k, best, prefix = 0, suffix[0], 0.0
    for k in range(1, n + 1):
        prefix += left[k - 1]
        if prefix + suffix[k] < best:
            best_k, best = k, prefix + suffix[k]
    positions = [i for i in range(best_k) if left[i]] + [best_k] + [i + shift for i in range(best_k, n) if right[i]]
    return cost + best, tuple(positions)


def _aligned(
    read: str, entry: str, entry_offset: int, profile: MatchProfile, allowed: tuple[frozenset[str], ...] | None
) -> list[float]:
    """Cost of each position of zip(read, entry) (0 where equal); entry_offset: where `entry`
    starts in the listed VRM, for the format's allowed characters."""
    costs = profile.substitution_costs
    out = []
    for i, (r, e) in enumerate(zip(read, entry, strict=False)):  # one may be a character longer
        if r == e:
            out.append(0.0)
            continue
        base = costs.get((r, e))
        if base is None:
            out.append(_NO_MATCH)
        elif allowed is None:
            out.append(base + profile.unknown_format_cost)
        else:
            out.append(base + (profile.fits_cost if r in allowed[entry_offset + i] else 0.0))
    return out


def confidence_scale(confidence: float, profile: MatchProfile) -> float:
    """How much a read's confidence scales approximate costs (1.0 when not given)."""
    if confidence <= 0:
        return 1.0
    return 0.5 + min(confidence, 100.0) / (2 * profile.confidence_neutral)


def alternative_cost(alternative_confidence: float, read_confidence: float, profile: MatchProfile) -> float:
    """Extra cost of matching through an alternative reading instead of the read's own VRM."""
    if alternative_confidence <= 0 or read_confidence <= 0:
        return 2 * profile.alternative_cost
    return profile.alternative_cost * (1 + max(0.0, 1 - alternative_confidence / read_confidence) * 3)


def vehicle_adjustment(
    read: types_pb2.VehicleDescription, entry: types_pb2.VehicleDescription, profile: MatchProfile
) -> float:
    """Cost added (or, negative, taken off) by make, model and colour, where both sides give them."""
    total = 0.0
    for name in ("make", "model", "colour"):
        a, b = getattr(read, name).strip().lower(), getattr(entry, name).strip().lower()
        if a and b:
            total += profile.vehicle_agree_credit * -1 if a == b else profile.vehicle_disagree_cost
    return total


@dataclass(frozen=True)
class ProfileTable:
    """The default profile, and overrides per force (the entry's `force`) and per list (hotlist id
    or name); a list's profile wins over its force's."""

    default: MatchProfile = field(default_factory=MatchProfile)
    by_force: dict[str, MatchProfile] = field(default_factory=dict)
    by_list: dict[str, MatchProfile] = field(default_factory=dict)

    def profile_for(self, hotlist_id: str = "", hotlist_name: str = "", force: str = "") -> MatchProfile:
        for key in (hotlist_id, hotlist_name):
            if key and key in self.by_list:
                return self.by_list[key]
        return self.by_force.get(force, self.default) if force else self.default

    def all_profiles(self) -> list[MatchProfile]:
        return [self.default, *self.by_force.values(), *self.by_list.values()]

    def candidate_classes(self) -> list[str]:
        """Every confusable pair of every profile: the index's skeleton classes (wide enough to
        find the candidates of any profile; the scorer then prices them)."""
        return sorted({p for profile in self.all_profiles() for p in profile.pairs()})

    def common_classes(self) -> list[str]:
        """The common look-alike classes of every profile: the skeleton of the dropped-character
        keys (a dropped character together with a rarer confusion is not searched for)."""
        return sorted({c for profile in self.all_profiles() for c in profile.common})

    @classmethod
    def from_settings(
        cls,
        common: str,
        rare: str,
        confirm_score: float,
        possible_score: float,
        max_hits: int,
        profiles_json: str | None = None,
    ) -> ProfileTable:
        """The table from the matcher's settings: the variables give the default profile, which the
        optional profiles file's "default" section may refine further."""
        base = {
            "common": _split(common),
            "rare": _split(rare),
            "confirm_score": confirm_score,
            "possible_score": possible_score,
            "max_hits": max_hits,
        }
        values = json.loads(profiles_json) if profiles_json else {}
        if not isinstance(values, dict):
            raise ValueError("the match profiles file must hold a JSON object")
        return cls.from_mapping({**values, "default": {**base, **values.get("default", {})}})

    @classmethod
    def from_mapping(cls, values: dict) -> ProfileTable:
        """From {"default": {...}, "forces": {name: {...}}, "lists": {id or name: {...}}}; force and
        list profiles start from the default."""
        unknown = set(values) - {"default", "forces", "lists"}
        if unknown:
            raise ValueError(f"unknown match profile sections: {', '.join(sorted(unknown))}")
        default = MatchProfile.from_mapping(values.get("default", {}))
        return cls(
            default,
            {k: MatchProfile.from_mapping(v, default) for k, v in values.get("forces", {}).items()},
            {k: MatchProfile.from_mapping(v, default) for k, v in values.get("lists", {}).items()},
        )


def _split(classes: str) -> list[str]:
    return [c.strip().upper() for c in classes.split(",") if c.strip()]
