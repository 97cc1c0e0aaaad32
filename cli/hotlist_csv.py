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
  and the PNC id, so that re-importing an unchanged extract changes nothing. An id may appear once.
- every field within the contract's limits (anpr/field_limits.py: e.g. reason and information 4096
  characters, VRM 32), UTF-8 without NUL characters.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from anpr.field_limits import compile_checkers
from anpr.v1 import types_pb2 as T
from anpr.vrm import is_valid_vrm, normalise_vrm

_CHECK_ENTRY = compile_checkers()["anpr.v1.VoiEntry"]

COLUMNS = (
    "entry_id",
    "vrm",
    "make",
    "model",
    "colour",
    "action",
    "warning_markers",
    "reason",
    "source_evaluation",
    "intelligence_assessment",
    "handling_code",
    "information",
    "force",
    "area",
    "weed_date",
    "pnc_id",
    "protective_marking",
    "cad_information",
    "operational_instructions",
    "source_reference",
)
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
    """The weed date in UTC; ValueError if it is not an ISO date or lies outside years 1-9999."""
    try:
        value = datetime.fromisoformat(text.strip())
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError("out of range") from None


def decoded_lines(raw: Iterable[bytes], bad_lines: set[int]) -> Iterator[str]:
    """Each physical line as text; a line that is not valid UTF-8 is replaced (U+FFFD) and its
    number added to `bad_lines`. A leading byte-order mark is dropped."""
    for n, line in enumerate(raw, start=1):
        if n == 1:
            line = line.removeprefix(b"\xef\xbb\xbf")
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError:
            bad_lines.add(n)
            yield line.decode("utf-8", errors="replace")


def read_file(path: Path, hotlist_id: str) -> Iterator[tuple[int, T.VoiEntry | BadRow]]:
    """read_entries over a file, line-numbered problems for bytes that are not UTF-8 included."""
    bad_lines: set[int] = set()
    with open(path, "rb") as raw:
        yield from read_entries(decoded_lines(raw, bad_lines), hotlist_id, bad_lines)


def check_header(fieldnames: list[str] | None) -> list[str]:
    names = [f.strip().lower() for f in fieldnames or []]
    problems = [f"missing column {c!r}" for c in REQUIRED if c not in names]
    problems += [f"unknown column {c!r}" for c in names if c and c not in COLUMNS]
    return problems


def _rows(reader: csv.DictReader) -> Iterator[tuple[int, int, dict | str]]:
    """(first line, last line, row or the CSV error) of each record; a malformed one does not end it."""
    while True:
        first = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield first, first, f"not valid CSV ({exc})"
            continue
        yield first, reader.line_num, row


def read_entries(
    lines, hotlist_id: str, bad_lines: set[int] = frozenset()
) -> Iterator[tuple[int, T.VoiEntry | BadRow]]:
    """(line number, entry or BadRow) for each data row of a CSV extract; `bad_lines` are the
    physical lines that were not valid UTF-8 (decoded_lines)."""
    reader = csv.DictReader(lines)
    try:
        header = check_header(reader.fieldnames)
    except csv.Error as exc:
        header = [f"not valid CSV ({exc})"]
    if 1 in bad_lines:
        header.append("not valid UTF-8")
    if header:
        yield 1, BadRow(1, header)
        return
    first_seen: dict[str, int] = {}
    for first, line, row in _rows(reader):
        if isinstance(row, str):
            yield line, BadRow(line, [row])
            continue
        entry_or_problems = _entry(row, hotlist_id)
        problems = entry_or_problems if isinstance(entry_or_problems, list) else []
        if any(n in bad_lines for n in range(first, line + 1)):
            problems.insert(0, "not valid UTF-8")
        if not problems:
            entry = entry_or_problems
            if entry.entry_id in first_seen:
                problems.append(f"entry_id: repeats the entry of line {first_seen[entry.entry_id]}")
            else:
                first_seen[entry.entry_id] = line
        yield line, (BadRow(line, problems) if problems else entry_or_problems)


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _entry(row: dict, hotlist_id: str) -> T.VoiEntry | list[str]:
    """The entry of one CSV record, or its problems (each naming its column)."""
    row = {(k or "").strip().lower(): (v or "").strip() if isinstance(v, str) else "" for k, v in row.items() if k}
    problems: list[str] = []
    vrm = normalise_vrm(row.get("vrm", ""))
    if not vrm:
        problems.append("vrm: required")
    elif not is_valid_vrm(vrm):
        problems.append(f"vrm: {_shown(row['vrm'])} is not 1-10 letters and digits")
    entry = T.VoiEntry(
        hotlist_id=hotlist_id,
        vrm=row.get("vrm", ""),
        reason=row.get("reason", ""),
        vehicle=T.VehicleDescription(
            make=row.get("make", ""), model=row.get("model", ""), colour=row.get("colour", "")
        ),
    )
    for name in (
        "information",
        "force",
        "area",
        "pnc_id",
        "cad_information",
        "operational_instructions",
        "source_reference",
    ):
        setattr(entry, name, row.get(name, ""))
    for name in ("source_evaluation", "intelligence_assessment", "handling_code"):
        setattr(entry.grading, name, row.get(name, ""))
    if not entry.reason:
        problems.append("reason: required")
    problems += _coded_fields(row, entry)
    entry.entry_id = row.get("entry_id") or f"{hotlist_id}:{vrm}:{entry.pnc_id}"
    limits: list[tuple[str, str]] = []
    _CHECK_ENTRY(entry, "", limits)
    problems += [f"{_column(path)}: {why}" for path, why in limits]
    return problems or entry


def _column(path: str) -> str:
    """The CSV column of a VoiEntry field path ('vehicle.make' -> 'make', 'warning_markers[3]')."""
    return path.rsplit(".", 1)[-1].split("[")[0]


def _coded_fields(row: dict, entry: T.VoiEntry) -> list[str]:
    """Set action, markers, marking and weed date from their names; the problems found."""
    problems = []
    try:
        entry.action = _enum(T.Action, "ACTION_", row.get("action", ""))
    except ValueError:
        problems.append(
            f"action: {_shown(row.get('action', ''))} is not one of the actions"
            if row.get("action")
            else "action: required"
        )
    for marker in filter(None, (m.strip() for m in row.get("warning_markers", "").split(";"))):
        try:
            entry.warning_markers.append(_enum(T.WarningMarker, "WARNING_MARKER_", marker))
        except ValueError:
            problems.append(f"warning_markers: unknown marker {_shown(marker)}")
    if row.get("protective_marking"):
        try:
            entry.protective_marking = _enum(T.ProtectiveMarking, "PROTECTIVE_MARKING_", row["protective_marking"])
        except ValueError:
            problems.append(f"protective_marking: unknown marking {_shown(row['protective_marking'])}")
    if row.get("weed_date"):
        try:
            entry.weed_at.FromDatetime(_weed(row["weed_date"]))
        except ValueError:
            problems.append(f"weed_date: {_shown(row['weed_date'])} is not an ISO date within years 1-9999")
    return problems
