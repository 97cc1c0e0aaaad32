"""VOI entries as hotlist administrators send them: what makes one valid."""

from __future__ import annotations

from anpr.v1 import types_pb2
from anpr.vrm import is_valid_vrm, normalise_vrm


def validate_entry(entry: types_pb2.VoiEntry, prefix: str = "entry.") -> list[tuple[str, str]]:
    errors = []
    if not entry.hotlist_id:
        errors.append((prefix + "hotlist_id", "required"))
    vrm = normalise_vrm(entry.vrm)
    if not vrm:
        errors.append((prefix + "vrm", "required"))
    elif not is_valid_vrm(vrm):
        errors.append((prefix + "vrm", "must be 1-10 letters A-Z or digits 0-9 after removing spaces"))
    if entry.action == types_pb2.ACTION_UNSPECIFIED:
        errors.append((prefix + "action", "required"))
    if not entry.reason.strip():
        errors.append((prefix + "reason", "required"))
    return errors
