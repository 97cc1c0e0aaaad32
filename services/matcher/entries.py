"""VOI entries as hotlist administrators send them: what makes one valid, and an import's entries
made into store records."""

from __future__ import annotations

from collections.abc import Iterable

from anpr.v1 import types_pb2
from anpr.vrm import MAX_VRM_LENGTH, is_valid_vrm, normalise_vrm
from services.matcher import store

IMPORT_VIOLATIONS_SHOWN = 200
Violations = list[tuple[str, str]]


def validate_entry(entry: types_pb2.VoiEntry, prefix: str = "entry.", vrm: str | None = None) -> Violations:
    """What is wrong with an entry (`vrm`: its VRM normalised, when the caller has it already)."""
    errors = []
    if not entry.hotlist_id:
        errors.append((prefix + "hotlist_id", "required"))
    vrm = normalise_vrm(entry.vrm) if vrm is None else vrm
    if not vrm:
        errors.append((prefix + "vrm", "required"))
    elif not is_valid_vrm(vrm):
        errors.append((prefix + "vrm", f"must be 1-{MAX_VRM_LENGTH} letters A-Z or digits 0-9 after removing spaces"))
    if entry.action == types_pb2.ACTION_UNSPECIFIED:
        errors.append((prefix + "action", "required"))
    if not entry.reason.strip():
        errors.append((prefix + "reason", "required"))
    return errors


def import_records(
    entries: Iterable[types_pb2.VoiEntry], hotlist_id: str, first: int
) -> tuple[list[tuple], Violations]:
    """The store records of one import message's entries (numbered from `first` in the import,
    all put on list `hotlist_id`), and the violations of those that are not valid."""
    records, errors = [], []
    weeds = store.WeedDates()
    firearms = types_pb2.WARNING_MARKER_FIREARMS
    for n, entry in enumerate(entries, first):  # the request's own messages: put on the list in place
        if entry.hotlist_id != hotlist_id:
            entry.hotlist_id = hotlist_id
        vrm = normalise_vrm(entry.vrm)
        entry_id = entry.entry_id
        # what validate_entry asks, in one expression for the valid entry (nearly all of them)
        if entry_id and is_valid_vrm(vrm) and entry.action and entry.reason.strip():
            weed = weeds.of(entry)
            records.append(
                (entry_id, hotlist_id, vrm, firearms in entry.warning_markers, weed, entry.SerializeToString())
            )
            continue
        errors.extend(validate_entry(entry, f"entries[{n}].", vrm))
        if not entry_id:
            errors.append((f"entries[{n}].entry_id", "required (stable across imports)"))
    return records, errors


def shown(errors: Violations) -> Violations:
    """An import's violations as the administrator is told them: the first ones, and how many more."""
    more = len(errors) - IMPORT_VIOLATIONS_SHOWN
    return errors[:IMPORT_VIOLATIONS_SHOWN] + ([("entries", f"... and {more} more")] if more > 0 else [])
