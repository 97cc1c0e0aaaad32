"""What the matcher knows of the fleet: how make, model and colour are spelt, how common each is on
the road, and which ones a camera or a record is likely to give for another (neighbours).

The evidence model (evidence.py) weighs a description field by how rare the camera's value is in
the fleet: two cars agreeing on "yellow" tell more than two agreeing on "grey". Shares are of the
licensed GB car fleet, rounded (DVLA vehicle licensing statistics and SMMT car parc figures, 2023):
an assumption, good to a few percent, that a force may replace through its profile
(``unknown_share`` covers every value not listed). Neighbours are values a camera's classifier
confuses in bad light or a record gets for the same car (silver and grey; a sibling badge on the
same platform): a disagreement with a neighbour is a small step, with anything else a large one.

Every value is compared in a canonical spelling (``canonical``): lower case, letters and digits,
with the usual aliases ("VW", "Volkswagon" -> "volkswagen"; "gray", "dark grey" -> "grey").
"""

from __future__ import annotations

import re
from functools import lru_cache

FIELDS = ("make", "model", "colour")

COLOUR_SHARES: dict[str, float] = {
    "black": 0.185,
    "grey": 0.18,
    "silver": 0.16,
    "white": 0.15,
    "blue": 0.14,
    "red": 0.10,
    "green": 0.02,
    "orange": 0.012,
    "brown": 0.01,
    "yellow": 0.008,
    "beige": 0.008,
    "gold": 0.006,
    "purple": 0.006,
    "bronze": 0.004,
    "turquoise": 0.002,
    "pink": 0.002,
    "multicolour": 0.002,
}
COLOUR_ALIASES = {
    "gray": "grey",
    "graphite": "grey",
    "charcoal": "grey",
    "anthracite": "grey",
    "gunmetal": "grey",
    "navy": "blue",
    "cyan": "turquoise",
    "teal": "turquoise",
    "aqua": "turquoise",
    "maroon": "red",
    "burgundy": "red",
    "cream": "beige",
    "ivory": "beige",
    "tan": "beige",
    "champagne": "beige",
    "violet": "purple",
    "mauve": "purple",
    "copper": "bronze",
    "multi": "multicolour",
    "multicolor": "multicolour",
    "multicoloured": "multicolour",
    "color": "",
    "colour": "",
}
COLOUR_NEIGHBOURS: dict[str, frozenset[str]] = {
    c: frozenset(n.split())
    for c, n in {
        "black": "grey blue",
        "grey": "black silver blue",
        "silver": "grey white",
        "white": "silver beige",
        "blue": "grey black purple turquoise",
        "red": "orange purple pink bronze",
        "green": "turquoise",
        "orange": "red yellow bronze",
        "brown": "beige bronze gold",
        "yellow": "gold orange beige",
        "beige": "white brown gold yellow",
        "gold": "beige yellow bronze brown",
        "purple": "blue red pink",
        "bronze": "brown gold orange red",
        "turquoise": "blue green",
        "pink": "red purple",
        "multicolour": "",
    }.items()
}

MAKE_SHARES: dict[str, float] = {
    "ford": 0.12,
    "vauxhall": 0.09,
    "volkswagen": 0.09,
    "toyota": 0.06,
    "bmw": 0.055,
    "mercedesbenz": 0.055,
    "audi": 0.05,
    "nissan": 0.05,
    "peugeot": 0.04,
    "kia": 0.04,
    "hyundai": 0.035,
    "renault": 0.03,
    "honda": 0.03,
    "skoda": 0.03,
    "citroen": 0.03,
    "mini": 0.025,
    "fiat": 0.02,
    "landrover": 0.02,
    "seat": 0.02,
    "mazda": 0.02,
    "volvo": 0.02,
    "suzuki": 0.015,
    "mg": 0.01,
    "dacia": 0.01,
    "jaguar": 0.01,
    "tesla": 0.008,
    "mitsubishi": 0.008,
    "lexus": 0.006,
    "porsche": 0.004,
    "jeep": 0.004,
    "cupra": 0.004,
    "ds": 0.003,
    "subaru": 0.003,
    "smart": 0.002,
    "alfaromeo": 0.002,
}
MAKE_ALIASES = {
    "vw": "volkswagen",
    "volkswagon": "volkswagen",
    "mercedes": "mercedesbenz",
    "merc": "mercedesbenz",
    "mb": "mercedesbenz",
    "rangerover": "landrover",
    "opel": "vauxhall",
    "mgmotor": "mg",
    "alfa": "alfaromeo",
    "dsautomobiles": "ds",
    "citroën": "citroen",
    "škoda": "skoda",
}
# Makes built on shared platforms, with the same bodies under other badges.
MAKE_FAMILIES = (
    "volkswagen audi skoda seat cupra porsche",
    "peugeot citroen ds vauxhall fiat jeep alfaromeo",
    "renault dacia nissan mitsubishi",
    "kia hyundai",
    "toyota lexus",
    "jaguar landrover",
    "bmw mini",
    "mercedesbenz smart",
)
MAKE_NEIGHBOURS: dict[str, frozenset[str]] = {
    make: frozenset(family.split()) - {make} for family in MAKE_FAMILIES for make in family.split()
}

_WORD = re.compile(r"[^0-9a-zà-ÿ]+")


@lru_cache(maxsize=4096)
def canonical(field: str, text: str) -> str:
    """The canonical spelling of a description value ("" when empty or meaningless)."""
    words = [w for w in _WORD.split(text.lower()) if w]
    if not words:
        return ""
    if field == "colour":
        return _colour(words)
    if field == "make":
        joined = "".join(words)
        return MAKE_ALIASES.get(joined, MAKE_ALIASES.get(words[0], joined))
    return words[0]  # model: the family name ("FOCUS ZETEC EDITION" -> "focus")


def _colour(words: list[str]) -> str:
    """The colour a phrase names: its last colour word ("dark blue metallic" -> "blue")."""
    for word in reversed(words):
        name = COLOUR_ALIASES.get(word, word)
        if name in COLOUR_SHARES:
            return name
    joined = " ".join(w for w in (COLOUR_ALIASES.get(w, w) for w in words) if w)
    return joined


def same_model(a: str, b: str) -> bool:
    """Whether two canonical model names name one family: equal, or one a prefix of the other that
    ends in a digit or is followed by one ("3" and "320d", "c" and "c220"; not "c" and "cla")."""
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    return bool(short) and long_.startswith(short) and (short[-1].isdigit() or long_[len(short)].isdigit())


def share(field: str, value: str, unknown_share: float) -> float:
    """The share of the fleet with this canonical value (`unknown_share` for a value not listed)."""
    table = COLOUR_SHARES if field == "colour" else MAKE_SHARES if field == "make" else {}
    return table.get(value, unknown_share)


def neighbours(field: str, value: str) -> frozenset[str]:
    table = COLOUR_NEIGHBOURS if field == "colour" else MAKE_NEIGHBOURS if field == "make" else {}
    return table.get(value, frozenset())
