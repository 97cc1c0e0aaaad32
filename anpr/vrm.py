"""Vehicle registration marks: normalisation shared by ingest and matcher."""

from __future__ import annotations

import re

MAX_VRM_LENGTH = 10
_SEPARATORS = re.compile(r"[\s\-.]+")
_VALID = re.compile(r"[A-Z0-9]{1,%d}" % MAX_VRM_LENGTH)


def normalise_vrm(text: str) -> str:
    """Upper case without white space, hyphens or dots: ' ab-12 cde ' -> 'AB12CDE'.

    Anything else stays, so that a read like 'AB12*CDE' is rejected rather than silently repaired;
    non-ASCII letters stay too, and fail validation."""
    joined = text.replace(" ", "")
    if joined.isascii() and joined.isalnum():  # letters and digits once spaces are gone: nothing else to drop
        return joined.upper()
    return _SEPARATORS.sub("", text).upper()


def is_valid_vrm(normalised: str) -> bool:
    """1-10 characters of A-Z and 0-9 (a normalised VRM)."""
    return isinstance(normalised, str) and _VALID.fullmatch(normalised) is not None
