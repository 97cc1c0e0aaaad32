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

# A format is a sequence of slots: (allowed characters, fewest, most).
Slot = tuple[frozenset[str], int, int]

FORMATS: dict[str, tuple[tuple[str, tuple[Slot, ...]], ...]] = {
    "GB": (
        ("current", ((_GB_TAG, 2, 2), (DIGITS, 2, 2), (_GB_RANDOM, 3, 3))),
        ("prefix", ((_GB_YEAR, 1, 1), (DIGITS, 1, 3), (_GB_RANDOM, 3, 3))),
        ("suffix", ((_GB_RANDOM, 3, 3), (DIGITS, 1, 3), (_GB_YEAR, 1, 1))),
        ("dateless", ((_GB_RANDOM, 1, 3), (DIGITS, 1, 4))),
        ("dateless-reversed", ((DIGITS, 1, 4), (_GB_RANDOM, 1, 3))),
        ("northern-ireland", ((_NI_LETTER, 2, 3), (DIGITS, 1, 4))),
    ),
    "FR": (("siv", ((_FR_LETTER, 2, 2), (DIGITS, 3, 3), (_FR_LETTER, 2, 2))),),
    "DE": (("standard", ((LETTERS, 2, 5), (DIGITS, 1, 4), (frozenset("EH"), 0, 1))),),
    "ES": (("current", ((DIGITS, 4, 4), (_ES_LETTER, 3, 3))),),
    "IE": (("current", ((DIGITS, 2, 3), (LETTERS, 1, 2), (DIGITS, 1, 6))),),
}
ALIASES = {"": "GB", "UK": "GB", "GBR": "GB", "GBM": "GB", "GG": "GB", "JE": "GB", "IM": "GB"}


def _charset(chars: frozenset[str]) -> str:
    return "[" + "".join(sorted(chars)) + "]"


_COMPILED = {
    country: tuple(
        (re.compile("".join(f"({_charset(c)}{{{lo},{hi}}})" for c, lo, hi in slots)), tuple(c for c, _, _ in slots))
        for _, slots in formats
    )
    for country, formats in FORMATS.items()
}


def country_of(plate_country: str) -> str:
    """The grammar a read's `plate_country` selects ("" and "UK" are GB)."""
    code = plate_country.strip().upper()
    return ALIASES.get(code, code)


def has_grammar(country: str) -> bool:
    return country in _COMPILED


@lru_cache(maxsize=1 << 16)
def allowed_at(vrm: str, country: str = "GB") -> tuple[frozenset[str], ...] | None:
    """Per position of `vrm`, the characters its format allows there (the union over every format of
    `country` that `vrm` fits), or None when it fits none (a personalised or foreign mark, or a
    country without a grammar here): then nothing can be said about its characters."""
    per_position: list[set[str]] | None = None
    for regex, sets in _COMPILED.get(country, ()):
        m = regex.fullmatch(vrm)
        if m is None:
            continue
        if per_position is None:
            per_position = [set() for _ in vrm]
        for group, chars in enumerate(sets, start=1):
            for i in range(*m.span(group)):
                per_position[i] |= chars
    return None if per_position is None else tuple(frozenset(s) for s in per_position)


def is_well_formed(vrm: str, country: str = "GB") -> bool:
    """True when `vrm` fits one of `country`'s formats."""
    return allowed_at(vrm, country) is not None
