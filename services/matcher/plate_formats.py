"""Plate-format grammar: which characters a registration may hold at each position.

A camera that reads "AB1ZCDE" has misread something: a current British mark has digits in its third
and fourth places. A character that breaks the format of the plate we compare it with is almost
certainly a misread; a character the format allows may just as well be a different car read cleanly.
The scorer (scoring.py) prices a difference by this.

Formats are per country (`Read.plate_country`, ISO 3166-1 alpha-2; empty means GB). A country with no
grammar here gives no evidence either way (every character allowed everywhere).
"""

from __future__ import annotations

import re
import string
from functools import lru_cache

LETTERS = frozenset(string.ascii_uppercase)
DIGITS = frozenset(string.digits)
ALL = LETTERS | DIGITS


def _letters_except(excluded: str) -> frozenset[str]:
    return LETTERS - set(excluded)


# GB: I and Q are never issued in the letter groups below; Z is not a memory-tag letter.
_GB_TAG = _letters_except("IQZ")
_GB_RANDOM = _letters_except("IQ")
_GB_YEAR = _letters_except("IOQUZ")
_NI_LETTER = _letters_except("Q")
_FR_LETTER = _letters_except("IOU")
_ES_LETTER = frozenset("BCDFGHJKLMNPRSTVWXYZ")

NUMBER = DIGITS - {"0"}  # marks the first digit of a number, which is never 0 (except the GB age)

# A format is a sequence of slots: (allowed characters, fewest, most). A slot of NUMBER is a number
# without leading zero: NUMBER for the first digit, DIGITS for the others.
Slot = tuple[frozenset[str], int, int]

FORMATS: dict[str, tuple[tuple[str, tuple[Slot, ...]], ...]] = {
    "GB": (
        ("current", ((_GB_TAG, 2, 2), (DIGITS, 2, 2), (_GB_RANDOM, 3, 3))),
        ("prefix", ((_GB_YEAR, 1, 1), (NUMBER, 1, 3), (_GB_RANDOM, 3, 3))),
        ("suffix", ((_GB_RANDOM, 3, 3), (NUMBER, 1, 3), (_GB_YEAR, 1, 1))),
        ("dateless", ((_GB_RANDOM, 1, 3), (NUMBER, 1, 4))),
        ("dateless-reversed", ((NUMBER, 1, 4), (_GB_RANDOM, 1, 3))),
        ("northern-ireland", ((_NI_LETTER, 2, 3), (NUMBER, 1, 4))),
    ),
    "FR": (("siv", ((_FR_LETTER, 2, 2), (DIGITS, 3, 3), (_FR_LETTER, 2, 2))),),
    "DE": (("standard", ((LETTERS, 2, 5), (NUMBER, 1, 4), (frozenset("EH"), 0, 1))),),
    "ES": (("current", ((DIGITS, 4, 4), (_ES_LETTER, 3, 3))),),
    "IE": (("current", ((DIGITS, 2, 3), (LETTERS, 1, 2), (NUMBER, 1, 6))),),
}
ALIASES = {"": "GB", "UK": "GB", "GBR": "GB", "GBM": "GB", "GG": "GB", "JE": "GB", "IM": "GB"}


def _charset(chars: frozenset[str]) -> str:
    return "[" + "".join(sorted(chars)) + "]"


def _slot_regex(chars: frozenset[str], lo: int, hi: int) -> str:
    if chars is NUMBER:
        rest = f"{_charset(DIGITS)}{{{max(lo - 1, 0)},{hi - 1}}}"
        return f"({_charset(NUMBER)}{rest})" if lo else f"((?:{_charset(NUMBER)}{rest})?)"
    return f"({_charset(chars)}{{{lo},{hi}}})"


def _compile(formats, relax: bool) -> tuple:
    """(regex, slot character sets) per format; `relax`: any letter where letters go, any digit
    where digits go (the shapes only, for lists holding marks outside the issued alphabets)."""
    out = []
    for _, slots in formats:
        if relax:
            slots = tuple((LETTERS if c <= LETTERS else DIGITS if c <= DIGITS else ALL, lo, hi) for c, lo, hi in slots)
        out.append((re.compile("".join(_slot_regex(c, lo, hi) for c, lo, hi in slots)), tuple(c for c, _, _ in slots)))
    return tuple(out)


_COMPILED = {country: _compile(formats, relax=False) for country, formats in FORMATS.items()}
_RELAXED = {country: _compile(formats, relax=True) for country, formats in FORMATS.items()}


def country_of(plate_country: str) -> str:
    """The grammar a read's `plate_country` selects ("" and "UK" are GB)."""
    code = plate_country.strip().upper()
    return ALIASES.get(code, code)


def has_grammar(country: str) -> bool:
    return country in _COMPILED


@lru_cache(maxsize=1 << 16)
def allowed_at(vrm: str, country: str = "GB") -> tuple[frozenset[str], ...] | None:
    """Per position of `vrm`, the characters its format allows there (the union over every format of
    `country` that `vrm` fits; failing that, over the formats' shapes with any letter or digit), or
    None when it fits none (a personalised or foreign mark, or a country without a grammar here):
    then nothing can be said about its characters."""
    return _allowed(vrm, _COMPILED.get(country, ())) or _allowed(vrm, _RELAXED.get(country, ()))


def _allowed(vrm: str, compiled: tuple) -> tuple[frozenset[str], ...] | None:
    fitted = []
    for f, (regex, _) in enumerate(compiled):
        m = regex.fullmatch(vrm)
        if m is not None:
            fitted.append((f, m.regs[1:]))
    return _positions(compiled, tuple(fitted)) if fitted else None


@lru_cache(maxsize=4096)
def _positions(compiled: tuple, fitted: tuple) -> tuple[frozenset[str], ...]:
    """Per position, the union of the characters allowed by each (format, group spans) fitted."""
    per_position: dict[int, set[str]] = {}
    for f, spans in fitted:
        for chars, (start, end) in zip(compiled[f][1], spans, strict=True):
            for i in range(start, end):
                per_position.setdefault(i, set()).update(DIGITS if chars is NUMBER and i > start else chars)
    return tuple(frozenset(per_position[i]) for i in range(len(per_position)))


@lru_cache(maxsize=1 << 16)
def is_well_formed(vrm: str, country: str = "GB") -> bool:
    """True when `vrm` fits one of `country`'s formats as issued."""
    return any(regex.fullmatch(vrm) for regex, _ in _COMPILED.get(country, ()))
