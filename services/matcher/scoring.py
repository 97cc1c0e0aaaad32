"""How far a read is from a listed VRM, in log-odds, and the profile of weights and thresholds.

A hit's score is the probability that the read is of the listed vehicle, from its log-odds: the sum
of what each piece of evidence contributes (evidence.py assembles and explains them;
docs/matching.md). This module prices the VRM part:

* an exact reading starts at ``exact_log_odds``; a reading that differs at ``misread_log_odds``,
  less what each difference takes off:
* a substitution by a *common* look-alike (O/0/D/Q, I/1/L, B/8, S/5, Z/2, G/6, T/7) or a *rarer*
  confusion (E/F, H/M, M/N, U/V, V/W, K/X, 3/8, C/G, P/R, A/4, ...), or a pair's own weight
  (``pair_costs``, the confusion's frequency); any other substitution is not a match at all;
* plus, for a substitution, what the plate-format grammar says (plate_formats.py): if the read's
  character cannot stand at that position of the listed plate's format, the camera misread it
  (nothing more); if it can, the read may be a different car read cleanly (``fits_cost``); if the
  listed plate fits no known format, part way (``unknown_format_cost``);
* a dropped or extra character (``drop_cost``, ``extra_cost``);
* once, when the reading is itself a well-formed plate (another car, read right?):
  ``clean_read_cost``, or ``drop_clean_cost`` / ``extra_clean_cost`` for a dropped or extra one;
* each difference beyond the first ``another_difference_cost``, and ``mixed_difference_cost`` once
  when one of several is a rarer confusion or a dropped or extra character;
* through one of the camera's alternative readings, ``alternative_cost`` scaled by how much less
  sure the camera was of it.

The defaults are log-odds measured on the tune split of ``benchmarks/quality_bench.py`` (an exact
read is the listed car about e^6 to 1, taken a little higher so that make and colour disagreeing do
not take it from terminals; a read that is no plate, one common look-alike from a listed
one, about e^4.5 to 1; a well-formed read one rarer confusion away about 1 in e^3). A hit with
log-odds of at least logit(``confirm_score``) is CONFIRMED (terminals and control room); at least
logit(``possible_score``), POSSIBLE (control room only, to confirm); below, no hit.
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


def logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def probability(log_odds: float) -> float:
    """The score shown with a hit: the probability of its log-odds, to 4 places."""
    if log_odds >= 30:
        return 1.0
    return round(1 / (1 + math.exp(-log_odds)), 4)


@dataclass(frozen=True)
class MatchProfile:
    """One set of weights and thresholds (the default, or a force's or a list's; see ProfileTable).
    Every weight is in nats of log-odds (docs/matching.md has the table and where each comes from)."""

    # the VRM: what a reading of each kind starts from, and what each difference takes off
    common: tuple[str, ...] = COMMON_CLASSES
    rare: tuple[str, ...] = RARE_PAIRS
    exact_log_odds: float = 6.5
    # a reading with differences, before what they cost: a read that is no plate at all, one common
    # look-alike away from a listed one, is that car misread (log-odds about 4.5)
    misread_log_odds: float = 5.0
    common_cost: float = 0.5
    rare_cost: float = 1.5
    # a confusion's own weight, by its two characters ("T7": 0.3): how often cameras make it
    pair_costs: dict[str, float] = field(default_factory=dict)
    fits_cost: float = 1.5
    unknown_format_cost: float = 0.75
    # once for a reading that is itself a well-formed plate (another car, read right?)
    clean_read_cost: float = 5.0
    drop_cost: float = 5.5
    extra_cost: float = 2.5
    # instead of clean_read_cost for a dropped or extra character on a well-formed reading
    drop_clean_cost: float = 1.5
    extra_clean_cost: float = 6.5
    # for each difference beyond the first (two misreads in one read are rarer), and once more when
    # one of them is a rarer confusion or a dropped or extra character
    another_difference_cost: float = 1.2
    mixed_difference_cost: float = 3.0
    alternative_cost: float = 0.3
    # the camera's confidence c (0-100): an approximate reading gains weight x (neutral - c), at most cap either way
    confidence_neutral: float = 85.0
    confidence_weight: float = 0.06
    confidence_cap: float = 1.5
    # make, model, colour: how often a camera that reports the field gets it right, how often the
    # licensing record is right, and the share of the errors that name a neighbour (silver/grey,
    # a sibling badge); see evidence.py and vehicles.py
    camera_colour_right: float = 0.85
    camera_make_right: float = 0.9
    camera_model_right: float = 0.75
    record_colour_right: float = 0.92
    record_make_right: float = 0.98
    record_model_right: float = 0.9
    colour_neighbour_errors: float = 0.6
    make_neighbour_errors: float = 0.4
    model_share: float = 0.15  # share of one model among its make's cars
    unknown_share: float = 0.01  # fleet share of a make or colour not in vehicles.py's tables
    description_cap: float = 3.0  # most one field can move the odds, either way
    # a POSSIBLE hit through a rarer confusion, a look-alike the listed format allows, or a dropped
    # or extra character, on a read that is itself a well-formed plate, needs at least this much
    # from evidence beyond the VRM (else it is withheld: counted, not alerted)
    support_log_odds: float = 0.5
    # how far below the POSSIBLE line a candidate's VRM (and confidence) may be and still be weighed
    # with the entry's description and the calibration (or counted as withheld)
    evidence_reach: float = 3.0
    confirm_score: float = 0.85
    possible_score: float = 0.3
    max_hits: int = 3
    _costs: dict[tuple[str, str], float] = field(default=None, init=False, repr=False, compare=False)  # type: ignore[assignment]
    _common_pairs: frozenset[tuple[str, str]] = field(default=frozenset(), init=False, repr=False, compare=False)
    _confirm: float = field(default=0.0, init=False, repr=False, compare=False)
    _possible: float = field(default=0.0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._check()
        costs: dict[tuple[str, str], float] = {}
        for classes, cost in ((self.rare, self.rare_cost), (self.common, self.common_cost)):
            for cls in classes:
                for a, b in itertools.permutations(cls, 2):
                    costs[a, b] = cost
        for pair, cost in self.pair_costs.items():
            a, b = pair
            costs[a, b] = costs[b, a] = float(cost)
        object.__setattr__(self, "_costs", costs)
        common = {(a, b) for cls in self.common for a, b in itertools.permutations(cls, 2)}
        object.__setattr__(self, "_common_pairs", frozenset(common))
        object.__setattr__(self, "_confirm", logit(self.confirm_score))
        object.__setattr__(self, "_possible", logit(self.possible_score))

    def _check(self) -> None:
        for name in ("confirm_score", "possible_score", *(f.name for f in fields(self) if f.name.endswith("_right"))):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.possible_score > self.confirm_score:
            raise ValueError("possible_score must not be above confirm_score")
        if self.max_hits < 1:
            raise ValueError("max_hits must be at least 1")
        for cls in (*self.common, *self.rare, *self.pair_costs):
            if not cls or any(ch not in plate_formats.ALL for ch in cls):
                raise ValueError(f"confusion class {cls!r}: characters must be A-Z or 0-9")
        for pair, cost in self.pair_costs.items():
            if len(pair) != 2 or not isinstance(cost, (int, float)) or cost < 0:
                raise ValueError(f"pair_costs: {pair!r} must be two characters with a cost of at least 0")

    def pairs(self) -> list[str]:
        """Every confusable pair (for the index's candidate classes)."""
        return [a + b for a, b in self._costs]

    @property
    def substitution_costs(self) -> dict[tuple[str, str], float]:
        """(read character, listed character) -> base cost of the confusion."""
        return self._costs

    @property
    def common_pairs(self) -> frozenset[tuple[str, str]]:
        """(read character, listed character) pairs of the common look-alike classes."""
        return self._common_pairs

    @property
    def confirm_log_odds(self) -> float:
        return self._confirm

    @property
    def possible_log_odds(self) -> float:
        return self._possible

    def tier(self, log_odds: float) -> int:
        """CONFIRMED, POSSIBLE or 0 (no hit) for a hit's log-odds."""
        if log_odds >= self._confirm:
            return CONFIRMED
        return POSSIBLE if log_odds >= self._possible else 0

    @classmethod
    def from_mapping(cls, values: dict, base: MatchProfile | None = None) -> MatchProfile:
        """A profile from JSON-like settings, unset fields from `base` (or the defaults)."""
        known = {f.name for f in fields(cls) if f.init}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown match profile settings: {', '.join(sorted(unknown))}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        if "pair_costs" in values and not isinstance(values["pair_costs"], dict):
            raise ValueError("pair_costs must be an object of pairs and costs")
        return replace(base or cls(), **values)


def differences(read: str, entry: str, profile: MatchProfile, country: str) -> tuple[float, tuple[int, ...]]:
    """(cost, positions in `read`) of the cheapest way `read` is a misread of `entry`: substitutions
    only when of equal length, else one dropped or extra character too. inf when it is not."""
    if read == entry:
        return 0.0, ()
    if abs(len(read) - len(entry)) > 1:
        return _NO_MATCH, ()
    well_formed = plate_formats.is_well_formed(read, country)
    allowed = plate_formats.allowed_at(entry, country)
    if len(read) == len(entry):
        subs = _aligned(read, entry, 0, profile, allowed)
        positions = tuple(i for i, c in enumerate(subs) if c)
        cost = sum(subs) + (profile.clean_read_cost if well_formed else 0.0)
        if len(positions) > 1:
            cost += profile.another_difference_cost * (len(positions) - 1)
            if any((read[i], entry[i]) not in profile.common_pairs for i in positions):
                cost += profile.mixed_difference_cost
        return cost, positions
    dropped = len(read) < len(entry)
    cost = profile.drop_cost if dropped else profile.extra_cost
    if well_formed:
        cost += profile.drop_clean_cost if dropped else profile.extra_clean_cost
    left, right, shift = gapped(read, entry, profile, allowed)
    best_k, best = _gap(left, right)
    n = len(left)
    positions = [i for i in range(best_k) if left[i]] + [best_k] + [i + shift for i in range(best_k, n) if right[i]]
    if len(positions) > 1:
        cost += profile.another_difference_cost * (len(positions) - 1) + profile.mixed_difference_cost
    return cost + best, tuple(positions)


def gapped(
    read: str, entry: str, profile: MatchProfile, allowed: tuple[frozenset[str], ...] | None
) -> tuple[list[float], list[float], int]:
    """For a read one character shorter or longer than `entry`: the costs of each position with the
    gap after it (left) and before it (right), and the shift of the read's positions on the right."""
    if len(read) < len(entry):
        return _aligned(read, entry, 0, profile, allowed), _aligned(read, entry[1:], 1, profile, allowed), 0
    return _aligned(read, entry, 0, profile, allowed), _aligned(read[1:], entry, 0, profile, allowed), 1


def _gap(left: list[float], right: list[float]) -> tuple[int, float]:
    """(k, cost) of the cheapest gap: read[:k] against entry[:k], and the rest shifted by one."""
    n = len(left)
    suffix = [0.0] * (n + 1)
    for i in range(n - 1, -1, -1):
        suffix[i] = suffix[i + 1] + right[i]
    best_k, best, prefix = 0, suffix[0], 0.0
    for k in range(1, n + 1):
        prefix += left[k - 1]
        if prefix + suffix[k] < best:
            best_k, best = k, prefix + suffix[k]
    return best_k, best


def best_gap(left: list[float], right: list[float]) -> int:
    return _gap(left, right)[0]


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


def reading_log_odds(cost: float, alternative: float, profile: MatchProfile) -> float:
    """The VRM's log-odds of a reading priced at `cost` (0: the listed VRM itself), through an
    alternative reading costing `alternative` (0 for the read's own VRM)."""
    if cost == 0 and alternative == 0:
        return profile.exact_log_odds
    return profile.misread_log_odds - cost - alternative


def confidence_log_odds(confidence: float, profile: MatchProfile) -> float:
    """What the camera's confidence says about an approximate reading: a low confidence makes a
    misread likelier, a high one less likely (0 when not given)."""
    if confidence <= 0:
        return 0.0
    moved = profile.confidence_weight * (profile.confidence_neutral - min(confidence, 100.0))
    return max(-profile.confidence_cap, min(profile.confidence_cap, moved))


def alternative_cost(alternative_confidence: float, read_confidence: float, profile: MatchProfile) -> float:
    """Extra cost of matching through an alternative reading instead of the read's own VRM."""
    if alternative_confidence <= 0 or read_confidence <= 0:
        return 2 * profile.alternative_cost
    return profile.alternative_cost * (1 + max(0.0, 1 - alternative_confidence / read_confidence) * 3)


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
