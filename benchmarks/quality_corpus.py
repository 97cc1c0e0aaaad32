"""The quality benchmark's corpus: plates, a hotlist, traffic, an OCR confusion model, and the
vehicles (quality_vehicles.py: fleet, licensing records, what cameras report).

Reproducible from a seed. Independent of the matcher's own tables on purpose: the OCR model below
includes confusions the matcher does not model, and its weights are not the matcher's costs; the
fleet shares and error rates of quality_vehicles.py are not the matcher's either.

Assumptions (besides quality_vehicles.py's):
- the list: 1,000,000 marks (by default) drawn like the traffic's, each once, each a car of the
  fleet with its licensing record;
- traffic: 5% of reads are of listed vehicles, 1% of the rest of a well-formed plate one confusion
  away from a listed one (the cars a loose rule stops), the rest any car;
- plate formats: GB current 74%, prefix 10%, suffix 4%, dateless 4%, Northern Ireland 3%, FR, DE, ES
  5% (the camera reporting the country 80% of the time), uniform over each format's marks;
- OCR: 80% of reads right; 8% one common look-alike (T/7 among them), 4% one rarer confusion (a fifth
  of them confusions the matcher does not model), 3% a dropped character (twice as likely at either
  end), 2% an extra one (a 1 40% of the time, a doubled character 30%), 3% two common look-alikes;
- the camera's confidence: N(90, 5) for a right read, N(72, 10) for a misread; a misread lists the
  truth among its alternatives 60% of the time; a right read has a look-alike alternative 30% of
  the time (vendors publish none of this: assumed).
"""

from __future__ import annotations

import random
import string
from collections import Counter
from collections.abc import Container
from dataclasses import dataclass, field

from anpr.v1 import types_pb2
from benchmarks import quality_vehicles
from services.matcher import plate_formats

KINDS = ("exact", "common1", "rare1", "dropped", "extra", "common2")
KIND_LABELS = {
    "exact": "exact read",
    "common1": "1 common look-alike",
    "rare1": "1 rare confusion",
    "dropped": "1 dropped character",
    "extra": "1 extra character",
    "common2": "2 common look-alikes",
}
# share of reads per kind of misread
KIND_SHARES = {"exact": 0.80, "common1": 0.08, "rare1": 0.04, "dropped": 0.03, "extra": 0.02, "common2": 0.03}

# OCR: what a character is misread as (common look-alikes), with weights
COMMON_MISREAD = {
    "O": {"0": 0.6, "D": 0.25, "Q": 0.15},
    "0": {"O": 0.7, "D": 0.3},
    "D": {"0": 0.6, "O": 0.4},
    "Q": {"O": 0.6, "0": 0.4},
    "I": {"1": 0.6, "L": 0.4},
    "1": {"I": 0.7, "L": 0.3},
    "L": {"I": 0.5, "1": 0.5},
    "B": {"8": 1},
    "8": {"B": 1},
    "S": {"5": 1},
    "5": {"S": 1},
    "Z": {"2": 1},
    "2": {"Z": 1},
    "G": {"6": 1},
    "6": {"G": 1},
    "T": {"7": 1},
    "7": {"T": 1},
}
# rarer confusions; the second group is not in the matcher's model (an honest share of misses)
RARE_MODELLED = ("EF", "HM", "MN", "UV", "VW", "KX", "38", "CG", "PR", "A4", "17", "HN", "VY")
RARE_UNMODELLED = ("BR", "68", "08", "27", "JU", "EB", "WN")
UNMODELLED_SHARE = 0.2

_NOT_IQ = "".join(c for c in string.ascii_uppercase if c not in "IQ")
_TAG = _NOT_IQ.replace("Z", "")
_YEAR = "".join(c for c in string.ascii_uppercase if c not in "IOQUZ")
_FR = "".join(c for c in string.ascii_uppercase if c not in "IOU")
_ES = "BCDFGHJKLMNPRSTVWXYZ"
_AGES = [f"{y:02d}" for y in [*range(2, 27), *range(51, 76)]]
# share of each plate format on the road (and in the list), with the country cameras report
FORMAT_SHARES = {
    "current": 0.74,
    "prefix": 0.10,
    "suffix": 0.04,
    "dateless": 0.04,
    "ni": 0.03,
    "fr": 0.02,
    "de": 0.02,
    "es": 0.01,
}
COUNTRY = {"fr": "FR", "de": "DE", "es": "ES"}
COUNTRY_REPORTED = 0.8  # a foreign plate's country is known to the camera this often


# Every mark of a format is equally likely (each is issued once): a number of up to 4 digits is
# uniform over 1-9999, and a group of 1-3 letters has 3 letters as often as there are more such marks.
def _number(rng: random.Random, most_digits: int) -> str:
    return str(rng.randint(1, 10**most_digits - 1))


def _letters(rng: random.Random, pool: str, k: int) -> str:
    return "".join(rng.choice(pool) for _ in range(k))


def _some_letters(rng: random.Random, pool: str, fewest: int, most: int) -> str:
    counts = range(fewest, most + 1)
    return _letters(rng, pool, rng.choices(counts, [len(pool) ** k for k in counts])[0])


def plate(rng: random.Random, fmt: str) -> str:
    if fmt == "current":
        return _letters(rng, _TAG, 2) + rng.choice(_AGES) + _letters(rng, _NOT_IQ, 3)
    if fmt == "prefix":
        return rng.choice(_YEAR) + _number(rng, 3) + _letters(rng, _NOT_IQ, 3)
    if fmt == "suffix":
        return _letters(rng, _NOT_IQ, 3) + _number(rng, 3) + rng.choice(_YEAR)
    if fmt == "dateless":
        letters, digits = _some_letters(rng, _NOT_IQ, 1, 3), _number(rng, 4)
        return letters + digits if rng.random() < 0.7 else digits + letters
    if fmt == "ni":
        code = rng.choice(_NOT_IQ) + rng.choice("IZ")
        return (rng.choice(_NOT_IQ) if rng.random() < 0.7 else "") + code + _number(rng, 4)
    if fmt == "fr":
        return _letters(rng, _FR, 2) + f"{rng.randint(1, 999):03d}" + _letters(rng, _FR, 2)
    if fmt == "de":
        return (
            _some_letters(rng, string.ascii_uppercase, 1, 3)
            + _some_letters(rng, string.ascii_uppercase, 1, 2)
            + _number(rng, 4)
        )
    return f"{rng.randint(0, 9999):04d}" + _letters(rng, _ES, 3)


def random_vehicle(rng: random.Random) -> tuple[str, str]:
    fmt = rng.choices(list(FORMAT_SHARES), list(FORMAT_SHARES.values()))[0]
    return plate(rng, fmt), COUNTRY.get(fmt, "")


def _rare_pairs(rng: random.Random) -> tuple[str, ...]:
    return RARE_UNMODELLED if rng.random() < UNMODELLED_SHARE else RARE_MODELLED


def _rare_target(ch: str, pairs: tuple[str, ...], rng: random.Random) -> str | None:
    options = [p[1 - p.index(ch)] for p in pairs if ch in p]
    return rng.choice(options) if options else None


def _substitute(rng: random.Random, vrm: str, count: int, common: bool) -> str | None:
    """`vrm` with `count` characters misread (None when it has too few that can be)."""
    pairs = _rare_pairs(rng)
    able = [
        i for i, ch in enumerate(vrm) if (ch in COMMON_MISREAD if common else _rare_target(ch, pairs, rng) is not None)
    ]
    if len(able) < count:
        return None
    chars = list(vrm)
    for i in rng.sample(able, count):
        if common:
            targets = COMMON_MISREAD[chars[i]]
            chars[i] = rng.choices(list(targets), list(targets.values()))[0]
        else:
            chars[i] = _rare_target(chars[i], pairs, rng) or chars[i]
    return "".join(chars)


def misread(rng: random.Random, vrm: str, kind: str) -> tuple[str, str]:
    """(what the camera reads, the kind of misread actually made)."""
    if kind in ("common1", "common2", "rare1"):
        out = _substitute(rng, vrm, 2 if kind == "common2" else 1, kind != "rare1")
        return (out, kind) if out is not None else (vrm, "exact")
    if kind == "dropped" and len(vrm) > 2:
        weights = [2 if i in (0, len(vrm) - 1) else 1 for i in range(len(vrm))]
        i = rng.choices(range(len(vrm)), weights)[0]
        return vrm[:i] + vrm[i + 1 :], kind
    if kind == "extra" and len(vrm) < 10:
        i = rng.randint(0, len(vrm))
        r = rng.random()
        ch = (
            "1"
            if r < 0.4
            else vrm[min(i, len(vrm) - 1)]
            if r < 0.7
            else rng.choice(string.ascii_uppercase + string.digits)
        )
        return vrm[:i] + ch + vrm[i:], kind
    return vrm, "exact"


def near_neighbour(rng: random.Random, vrm: str, country: str, listed: Container[str]) -> str | None:
    """An unlisted, well-formed VRM one confusion (common or rarer) away from the listed `vrm`."""
    grammar = plate_formats.country_of(country)
    for _ in range(10):
        out = _substitute(rng, vrm, 1, rng.random() < 0.5)
        if (
            out
            and out not in listed
            and (not plate_formats.has_grammar(grammar) or plate_formats.is_well_formed(out, grammar))
        ):
            return out
    return None


def with_evidence(rng: random.Random, read: types_pb2.Read, truth: str) -> types_pb2.Read:
    """The read as a camera that also reports its confidence and alternative readings sends it: a
    right read is surer than a misread, and a misread lists the truth among its alternatives 60% of
    the time (assumed figures: vendors publish none)."""
    out = types_pb2.Read()
    out.CopyFrom(read)
    right = read.vrm == truth
    out.confidence = max(1.0, min(100.0, rng.gauss(90, 5) if right else rng.gauss(72, 10)))
    if not right and rng.random() < 0.6:
        out.alternatives.add(vrm=truth, confidence=max(1.0, out.confidence - rng.uniform(0, 15)))
    elif rng.random() < 0.3:
        other = _substitute(rng, read.vrm, 1, True)
        if other:
            out.alternatives.add(vrm=other, confidence=max(1.0, out.confidence - rng.uniform(20, 50)))
    return out


@dataclass
class Corpus:
    entries: list[str]
    records: list[types_pb2.VehicleDescription] = field(default_factory=list)  # each entry's licensing record
    reads: list[types_pb2.Read] = field(default_factory=list)
    # the same, with confidence, alternatives and the camera's description of the vehicle
    evidence_reads: list[types_pb2.Read] = field(default_factory=list)
    truth: list[str] = field(default_factory=list)  # the VRM of the vehicle each read is of
    kinds: list[str] = field(default_factory=list)  # the misread made, for reads of listed vehicles
    listed_by_kind: Counter[str] = field(default_factory=Counter)


def make_corpus(seed: int, n_entries: int, n_reads: int, listed_share: float, near_share: float) -> Corpus:
    rng = random.Random(seed)
    listed_country: dict[str, str] = {}
    while len(listed_country) < n_entries:
        vrm, country = random_vehicle(rng)
        listed_country.setdefault(vrm, country)
    entries = list(listed_country)
    # the vehicles from a generator of their own: the plates and misreads are those of the corpus without them
    vrng = random.Random(seed + 1)
    cars = {vrm: quality_vehicles.random_car(vrng) for vrm in entries}
    corpus = Corpus(entries, [quality_vehicles.record(vrng, cars[vrm]) for vrm in entries])
    kinds, shares = list(KIND_SHARES), list(KIND_SHARES.values())
    for i in range(n_reads):
        vrm, country, is_listed = _vehicle(rng, entries, listed_country, listed_share, near_share)
        seen, kind = misread(rng, vrm, rng.choices(kinds, shares)[0])
        reported = country if rng.random() < COUNTRY_REPORTED else ""
        corpus.reads.append(types_pb2.Read(read_id=str(i), vrm=seen, plate_country=reported))
        corpus.evidence_reads.append(with_evidence(rng, corpus.reads[-1], vrm))
        car = cars[vrm] if is_listed else quality_vehicles.random_car(vrng)
        corpus.evidence_reads[-1].vehicle.CopyFrom(quality_vehicles.camera_view(vrng, car))
        corpus.truth.append(vrm)
        corpus.kinds.append(kind if is_listed else "")
        if is_listed:
            corpus.listed_by_kind[kind] += 1
    return corpus


def _vehicle(
    rng: random.Random, entries: list[str], listed_country: dict[str, str], listed_share: float, near_share: float
) -> tuple[str, str, bool]:
    if rng.random() < listed_share:
        vrm = rng.choice(entries)
        return vrm, listed_country[vrm], True
    if rng.random() < near_share:
        base = rng.choice(entries)
        near = near_neighbour(rng, base, listed_country[base], listed_country)
        if near is not None:
            return near, listed_country[base], False
    while True:
        vrm, country = random_vehicle(rng)
        if vrm not in listed_country:
            return vrm, country, False
