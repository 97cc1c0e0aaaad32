"""Vehicle registration marks: normalisation shared by ingest and matcher."""

from __future__ import annotations

import re

MAX_VRM_LENGTH = 10
_SEPARATORS = re.compile(r"[\s\-.]+")
_VALID = re.compile(r"[A-Z0-9]{1,%d}" % MAX_VRM_LENGTH)


def normalise_vrm(text: str) -> str:
    """Upper case without spaces or separators: ' ab12 cde ' -> 'AB12CDE'."""
    return _SEPARATORS.sub("", text).upper()


def is_valid_vrm(normalised: str) -> bool:
    return _VALID.fullmatch(normalised) is not None
