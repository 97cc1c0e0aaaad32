"""Reading a hotlist extract (CSV) into VOI entries, with every bad row reported by line number.

Columns (header row, names case-insensitive; only vrm, action and reason are required):

    entry_id, vrm, make, model, colour, action, warning_markers, reason, source_evaluation,
    intelligence_assessment, handling_code, information, force, area, weed_date, pnc_id,
    protective_marking, cad_information, operational_instructions, source_reference

- action: STOP_VEHICLE, STOP_AND_SEARCH, ARREST_OCCUPANT, DO_NOT_STOP_REPORT_SIGHTING,
  OBSERVE_AND_FOLLOW or INFORM_CONTROL_ROOM
- warning_markers: names separated by ';' (FIREARMS;VIOLENT), from anpr.v1.WarningMarker
- weed_date: an ISO date (2027-01-31, the entry lapses at its start, UTC) or date-time with zone
- protective_marking: OFFICIAL, OFFICIAL_SENSITIVE or SECRET
- entry_id: stable id of the entry across extracts; when empty it is made from the list, the VRM
  and the PNC id, so that re-importing an unchanged extract changes nothing.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from anpr.vrm import is_valid_vrm, normalise_vrm
from anpr.v1 import types_pb2 as T

COLUMNS = ("entry_id", "vrm", "make", "model", "colour", "action", "warning_markers", "reason",
           "source_evaluation", "intelligence_assessment", "handling_code", "information", "force", "area",
           "weed_date", "pnc_id", "protective_marking", "cad_information", "operational_instructions",
           "source_reference")
REQUIRED = ("vrm", "action", "reason")


@dataclass(frozen=True)
class BadRow:
    line: int
    problems: list[str]

    def __str__(self) -> str:
        return f"line {self.line}: " + "; ".join(self.problems)


def _enum(enum, prefix: str, text: str) -> int:
    return enum.Value(prefix + text.strip().upper().replace(" ", "_").replace("-", "_"))


def _weed(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def check_header(fieldnames: list[str] | None) -> list[str]:
    names = [f.strip().lower() for f in fieldnames or []]
    problems = [f"missing column {c!r}" for c in REQUIRED if c not in names]
    problems += [f"unknown column {c!r}" for c in names if c and c not in COLUMNS]
    return problems


def read_entries(lines, hotlist_id: str) -> Iterator[tuple[int, T.VoiEntry | BadRow]]:
    """(line number, entry or BadRow) for each data row of a CSV extract."""
    reader = csv.DictReader(lines)
    header = check_header(reader.fieldnames)
    if header:
        yield 1, BadRow(1, header)
        return
    for row in reader:
        line = reader.line_num
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if k}
        problems = []
        vrm = normalise_vrm(row.get("vrm", ""))
        if not vrm:
            problems.append("vrm: required")
        elif not is_valid_vrm(vrm):
            problems.append(f"vrm: {row['vrm']!r} is not 1-10 letters and digits")
        entry = T.VoiEntry(hotlist_id=hotlist_id, vrm=row.get("vrm", ""), reason=row.get("reason", ""),
                           vehicle=T.VehicleDescription(make=row.get("make", ""), model=row.get("model", ""),
                                                        colour=row.get("colour", "")))
        for name in ("information", "force", "area", "pnc_id", "cad_information", "operational_instructions",
                     "source_reference"):
            setattr(entry, name, row.get(name, ""))
        entry.grading.source_evaluation = row.get("source_evaluation", "")
        entry.grading.intelligence_assessment = row.get("intelligence_assessment", "")
        entry.grading.handling_code = row.get("handling_code", "")
        if not entry.reason:
            problems.append("reason: required")
        try:
            entry.action = _enum(T.Action, "ACTION_", row.get("action", ""))
        except ValueError:
            problems.append(f"action: {row.get('action', '')!r} is not one of the actions"
                            if row.get("action") else "action: required")
        for marker in filter(None, (m.strip() for m in row.get("warning_markers", "").split(";"))):
            try:
                entry.warning_markers.append(_enum(T.WarningMarker, "WARNING_MARKER_", marker))
            except ValueError:
                problems.append(f"warning_markers: unknown marker {marker!r}")
        if row.get("protective_marking"):
            try:
                entry.protective_marking = _enum(T.ProtectiveMarking, "PROTECTIVE_MARKING_", row["protective_marking"])
            except ValueError:
                problems.append(f"protective_marking: unknown marking {row['protective_marking']!r}")
        if row.get("weed_date"):
            try:
                entry.weed_at.FromDatetime(_weed(row["weed_date"]))
            except ValueError:
                problems.append(f"weed_date: {row['weed_date']!r} is not an ISO date")
        entry.entry_id = row.get("entry_id") or f"{hotlist_id}:{vrm}:{entry.pnc_id}"
        yield line, (BadRow(line, problems) if problems else entry)
