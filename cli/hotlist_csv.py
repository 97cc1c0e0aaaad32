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
from operator import gt, itemgetter
from pathlib import Path

from google.protobuf import timestamp_pb2

from anpr.field_limits import ID, LIMITS, compile_checkers
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
# Columns copied as they are into the entry's field of the same name.
PLAIN_COLUMNS = (
    "vrm",
    "reason",
    "information",
    "force",
    "area",
    "pnc_id",
    "cad_information",
    "operational_instructions",
    "source_reference",
)
# Each text column's limit in characters (the contract's: anpr/field_limits.py).
COLUMN_LIMITS = {
    c: LIMITS[message][c]
    for message, names in (
        ("anpr.v1.VoiEntry", ("entry_id", *PLAIN_COLUMNS)),
        ("anpr.v1.VehicleDescription", ("make", "model", "colour")),
        ("anpr.v1.IntelligenceGrading", ("source_evaluation", "intelligence_assessment", "handling_code")),
    )
    for c in names
}
MAX_MARKERS = LIMITS["anpr.v1.VoiEntry"]["warning_markers"]


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


class _Columns:
    """Where each column is in a row of this file: a column the header lacks reads as "" (the
    padding slot at `width`); fields beyond the header are ignored."""

    def __init__(self, names: list[str]):
        self.width = len(names)
        found = {name.strip().lower(): i for i, name in enumerate(names) if name.strip()}
        self.at = {c: found.get(c, self.width) for c in COLUMNS}
        self.plain = [(c, self.at[c]) for c in PLAIN_COLUMNS]
        self.vehicle_values = itemgetter(*(self.at[c] for c in ("make", "model", "colour")))
        self.grading_values = itemgetter(
            *(self.at[c] for c in ("source_evaluation", "intelligence_assessment", "handling_code"))
        )
        # each limited column's value and its limit, in the same order (_may_break_limits)
        self.limited_values = itemgetter(*(self.at[c] for c in COLUMN_LIMITS))
        self.limits = tuple(COLUMN_LIMITS.values())

    def values(self, raw: list[str]) -> list[str]:
        values = list(map(str.strip, raw[: self.width]))
        values.extend([""] * (self.width + 1 - len(values)))
        return values


def _rows(reader) -> Iterator[tuple[int, int, list[str] | str]]:
    """(first line, last line, fields or the CSV error) of each record (blank lines skipped); a
    malformed record does not end it."""
    while True:
        first = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield first, first, f"not valid CSV ({exc})"
            continue
        if row:
            yield first, reader.line_num, row


def read_entries(
    lines, hotlist_id: str, bad_lines: set[int] = frozenset()
) -> Iterator[tuple[int, T.VoiEntry | BadRow]]:
    """(line number, entry or BadRow) for each data row of a CSV extract; `bad_lines` are the
    physical lines that were not valid UTF-8 (decoded_lines)."""
    reader = csv.reader(lines)
    try:
        names = next(reader, [])
        header = check_header(names)
    except csv.Error as exc:
        names, header = [], [f"not valid CSV ({exc})"]
    if 1 in bad_lines:
        header.append("not valid UTF-8")
    if header:
        yield 1, BadRow(1, header)
        return
    columns, coded = _Columns(names), _Coded()
    first_seen: dict[str, int] = {}
    for first, line, row in _rows(reader):
        if isinstance(row, str):
            yield line, BadRow(line, [row])
            continue
        entry_or_problems = _entry(columns.values(row), columns, coded, hotlist_id)
        problems = entry_or_problems if isinstance(entry_or_problems, list) else []
        if bad_lines and any(n in bad_lines for n in range(first, line + 1)):
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


def _entry(v: list[str], columns: _Columns, coded: _Coded, hotlist_id: str) -> T.VoiEntry | list[str]:
    """The entry of one CSV record (its stripped fields), or its problems (each naming its column)."""
    at = columns.at
    problems: list[str] = []
    vrm = normalise_vrm(v[at["vrm"]])
    if not vrm:
        problems.append("vrm: required")
    elif not is_valid_vrm(vrm):
        problems.append(f"vrm: {_shown(v[at['vrm']])} is not 1-10 letters and digits")
    fields = {name: v[i] for name, i in columns.plain if v[i]}
    if not v[at["reason"]]:
        problems.append("reason: required")
    problems += coded.fields(v, at, fields)
    fields["entry_id"] = v[at["entry_id"]] or f"{hotlist_id}:{vrm}:{v[at['pnc_id']]}"
    weed = fields.pop("weed_at", None)
    entry = T.VoiEntry(hotlist_id=hotlist_id, **fields)
    # nested fields set in place (a third of the cost of building and copying messages)
    make, model, colour = columns.vehicle_values(v)
    if make or model or colour:
        vehicle = entry.vehicle
        vehicle.make, vehicle.model, vehicle.colour = make, model, colour
    evaluation, assessment, handling = columns.grading_values(v)
    if evaluation or assessment or handling:
        grading = entry.grading
        grading.source_evaluation, grading.intelligence_assessment, grading.handling_code = (
            evaluation,
            assessment,
            handling,
        )
    if weed is not None:
        entry.weed_at.CopyFrom(weed)
    if _may_break_limits(v, columns, entry):
        limits: list[tuple[str, str]] = []
        _CHECK_ENTRY(entry, "", limits)
        problems += [f"{_column(path)}: {why}" for path, why in limits]
    return problems or entry


def _may_break_limits(v: list[str], columns: _Columns, entry: T.VoiEntry) -> bool:
    """Whether the full limits check may find something (a long field, a NUL, many markers, a long
    made-up id): most rows need no more than these comparisons."""
    return (
        any(map(gt, map(len, columns.limited_values(v)), columns.limits))
        or "\x00" in "".join(v)
        or len(entry.warning_markers) > MAX_MARKERS
        or len(entry.entry_id) > ID
    )


def _column(path: str) -> str:
    """The CSV column of a VoiEntry field path ('vehicle.make' -> 'make', 'warning_markers[3]')."""
    return path.rsplit(".", 1)[-1].split("[")[0]


class _Coded:
    """Action, markers, marking and weed date from their names, each distinct text looked up once
    per file (an extract repeats a handful of them)."""

    def __init__(self):
        self._actions: dict[str, int | None] = {}
        self._markers: dict[str, int | None] = {}
        self._markings: dict[str, int | None] = {}
        self._weeds: dict[str, timestamp_pb2.Timestamp | None] = {}

    @staticmethod
    def _look(cache: dict, enum, prefix: str, text: str) -> int | None:
        if text not in cache:
            try:
                cache[text] = _enum(enum, prefix, text)
            except ValueError:
                cache[text] = None
        return cache[text]

    def action(self, text: str) -> int | None:
        return self._look(self._actions, T.Action, "ACTION_", text)

    def markers(self, text: str) -> tuple[list[int], list[str]]:
        """The markers of a ';'-separated text, and a problem for each unknown one."""
        markers, problems = [], []
        for marker in filter(None, (m.strip() for m in text.split(";"))):
            if (value := self._look(self._markers, T.WarningMarker, "WARNING_MARKER_", marker)) is not None:
                markers.append(value)
            else:
                problems.append(f"warning_markers: unknown marker {_shown(marker)}")
        return markers, problems

    def marking(self, text: str) -> int | None:
        """The marking's number (0, none, for an empty text), or None when it is not one."""
        return self._look(self._markings, T.ProtectiveMarking, "PROTECTIVE_MARKING_", text) if text else 0

    def fields(self, v: list[str], at: dict[str, int], fields: dict) -> list[str]:
        """Put action, markers, marking and weed date into `fields`; the problems found."""
        problems = []
        action = v[at["action"]]
        if (value := self.action(action)) is not None:
            fields["action"] = value
        else:
            problems.append(f"action: {_shown(action)} is not one of the actions" if action else "action: required")
        markers, unknown = self.markers(v[at["warning_markers"]])
        problems += unknown
        if markers:
            fields["warning_markers"] = markers
        if marking := v[at["protective_marking"]]:
            if (value := self.marking(marking)) is not None:
                fields["protective_marking"] = value
            else:
                problems.append(f"protective_marking: unknown marking {_shown(marking)}")
        if weed := v[at["weed_date"]]:
            if (stamp := self._weed(weed)) is not None:
                fields["weed_at"] = stamp
            else:
                problems.append(f"weed_date: {_shown(weed)} is not an ISO date within years 1-9999")
        return problems

    def _weed(self, text: str) -> timestamp_pb2.Timestamp | None:
        if text not in self._weeds:
            try:
                stamp = timestamp_pb2.Timestamp()
                stamp.FromDatetime(_weed(text))
                self._weeds[text] = stamp
            except ValueError:
                self._weeds[text] = None
        return self._weeds[text]
