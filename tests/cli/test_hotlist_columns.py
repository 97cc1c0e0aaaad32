"""The import's column reader (cli/hotlist_columns.py) against the row-by-row reader it stands in
for (cli/hotlist_csv.py), on files meant to tell them apart: for every file, either the column
reader gives up (Unsuitable, and the import reads the file row by row) or it sends exactly the
entries the row reader makes, and it never takes a file in which the row reader finds a bad row."""

from __future__ import annotations

import csv
import io
import random

import pyarrow as pa
import pytest

from anpr.v1 import matcher_pb2
from anpr.v1 import types_pb2 as T
from benchmarks.fuzzing import columns_as_entries
from cli import hotlist_columns
from cli.hotlist_csv import COLUMN_LIMITS, COLUMNS, BadRow, read_file

LIST = "11111111-2222-3333-4444-555555555555"


def by_rows(path) -> list[T.VoiEntry] | None:
    """The row reader's entries, or None when it finds a bad row."""
    out = []
    for _, item in read_file(path, LIST):
        if isinstance(item, BadRow):
            return None
        out.append(item)
    return out


def by_columns(path) -> list[T.VoiEntry] | None:
    """The column reader's entries (as matcher would store them), or None when it gives up."""
    return columns_as_entries(path, LIST)


def same(path) -> bool:
    """Whether the column reader took the file (then with the row reader's entries)."""
    rows, columns = by_rows(path), by_columns(path)
    if rows is None:
        assert columns is None, "the column reader took a file with a bad row"
        return False
    if columns is not None:
        assert sorted(e.SerializeToString() for e in columns) == sorted(e.SerializeToString() for e in rows)
    return columns is not None


WORDS = [
    "Ford",
    "focus",
    "  Blue ",
    "a, b",
    'say "hi"',
    "line\nbreak",
    "\u00a0nbsp",
    "tab\t",
    "caf\u00e9",
    "\u3000",
    "x\x1f",
]
ACTIONS = ["STOP_VEHICLE", "stop vehicle", " Arrest-Occupant ", "INFORM_CONTROL_ROOM", "", "PURSUE"]
MARKERS = ["", "FIREARMS", "firearms; violent", "DRUGS;;WEAPONS", "LASERS", ";".join(["VIOLENT"] * 17)]
WEEDS = [
    "",
    "2027-06-30",
    "2027-06-30T12:00:00+01:00",
    " 2030-01-01 ",
    "0001-01-01",
    "not a date",
    "9999-12-31T23:00:00-05:00",
]
VRMS = ["KX19 ZTB", "kx19ztb", "AB-12.CD", " Y2 ", "AB12*CD", "", "ABCDEFGHIJK", "\u00c012", "A\u00a0B1"]
MARKINGS = ["", "OFFICIAL", "official sensitive", "SECRET", "TOP"]


def filler(rng: random.Random, column: str) -> str:
    if rng.random() < 0.3:
        return ""
    if COLUMN_LIMITS.get(column, 0) < 16:  # the grading's codes: at most 8 characters
        return rng.choice(["B", " 2", "1 ", "\u00a0x", "E\t"])
    return rng.choice(WORDS)


def random_extract(rng: random.Random, rows: int, clean: float) -> str:
    """A CSV extract whose rows are good with probability about `clean`."""
    columns = list(COLUMNS)
    rng.shuffle(columns)
    columns = columns[: rng.randint(5, len(columns))]
    for needed in ("vrm", "action", "reason", "pnc_id"):  # (pnc_id: the made-up ids differ)
        if needed not in columns:
            columns.append(needed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=rng.choice(["\n", "\r\n"]))
    writer.writerow([c.upper() if rng.random() < 0.2 else c for c in columns])
    for i in range(rows):
        good = rng.random() < clean
        value = {
            "entry_id": rng.choice(["", f"id-{i}", f" id-{i} "]),
            "vrm": "KX19 ZTB" if good else rng.choice(VRMS),
            "action": "STOP_VEHICLE" if good else rng.choice(ACTIONS),
            "warning_markers": rng.choice(MARKERS[:3] if good else MARKERS),
            "reason": rng.choice(WORDS) + "!" if good else rng.choice([*WORDS, " ", ""]),
            "weed_date": rng.choice(WEEDS[:4] if good else WEEDS),
            "protective_marking": rng.choice(MARKINGS[:4] if good else MARKINGS),
            "pnc_id": f"{i:06d}K",
        }
        writer.writerow([value.get(c, filler(rng, c)) for c in columns])
    return out.getvalue()


@pytest.mark.parametrize("seed", range(12))
def test_random_extracts_read_as_columns_give_the_row_readers_entries_or_are_read_row_by_row(tmp_path, seed):
    rng = random.Random(seed)
    path = tmp_path / "extract.csv"
    clean = rng.choice([1.0, 0.99, 0.8])
    path.write_text(random_extract(rng, rows=rng.choice([5, 300, 3000]), clean=clean), newline="")
    taken = same(path)
    if clean == 1.0:  # good rows, some of them odd: still read as columns
        assert by_rows(path) is not None and taken


def test_a_clean_extract_is_read_as_columns_with_each_unusual_row_read_alone(tmp_path):
    path = tmp_path / "extract.csv"
    rows = [
        "entry_id,vrm,make,action,warning_markers,reason,weed_date,protective_marking\n",
        "a,KX19 ZTB,Ford,STOP_VEHICLE,FIREARMS,Wanted,2027-06-30,OFFICIAL\n",
        "b,kx-19.ztc , Ford ,stop vehicle,firearms; violent,  Wanted  ,2027-06-30T12:00:00+01:00,\n",
        'c,KX19ZTD,"Ford, Focus",INFORM_CONTROL_ROOM,,"Two lines\nof reason",,\n',
        "d,KX19ZTE,\u00a0Ford\u3000,STOP_VEHICLE,,caf\u00e9\u00a0,,\n",  # Python's strip() takes these spaces
    ]
    path.write_text("".join(rows), newline="")
    columns = by_columns(path)
    assert columns is not None
    assert sorted(e.SerializeToString() for e in columns) == sorted(e.SerializeToString() for e in by_rows(path))
    assert {e.entry_id: e.vehicle.make for e in columns}["d"] == "Ford"


@pytest.mark.parametrize(
    "content",
    [
        b"\xef\xbb\xbfvrm,action,reason\nKX19ZTB,STOP_VEHICLE,Wanted\n",  # a byte-order mark
        b"vrm,action,reason\nKX19ZTB,STOP_VEHICLE,Wanted\rKX19ZTC,STOP_VEHICLE,Wanted\n",  # a lone CR
        b"vrm,action,reason\nKX19ZTB,STOP_VEHICLE,Wanted,extra\n",  # more fields than the header
        b"vrm,action,reason\nKX19ZTB,STOP_VEHICLE\n",  # fewer
        b'"vrm",action,reason\nKX19ZTB,STOP_VEHICLE,Wanted\n',  # quotes in the header
        b"vrm,action,reason\nKX19ZTB,STOP_VEHICLE,Bad \xff bytes\n",  # not UTF-8
        b"vrm,action,reason\nKX19ZTB,STOP_VEHICLE,Wanted\nKX19ZTB,STOP_VEHICLE,Wanted\n",  # a repeated entry
    ],
)
def test_what_python_might_read_otherwise_or_a_bad_row_is_left_to_the_row_reader(tmp_path, content):
    path = tmp_path / "extract.csv"
    path.write_bytes(content)
    assert by_columns(path) is None


def test_messages_stay_within_the_contracts_limits(tmp_path, monkeypatch):
    monkeypatch.setattr(hotlist_columns, "MESSAGE_BYTES", 64 * 1024)
    path = tmp_path / "extract.csv"
    with open(path, "w", newline="") as f:
        f.write("entry_id,vrm,action,reason,information\n")
        for i in range(3000):
            f.write(f"e{i},KX{i % 90 + 10}ZTB,STOP_VEHICLE,Wanted {i},{'i' * (i % 500)}\n")
    messages = list(hotlist_columns.messages(path, LIST))
    assert len(messages) > 10
    for message in messages:
        request = matcher_pb2.ImportEntriesRequest.FromString(message)
        assert len(request.entry_columns) <= 64 * 1024
        assert sum(b.num_rows for b in pa.ipc.open_stream(request.entry_columns)) >= 1
    assert len(by_columns(path)) == 3000


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        (b"vrm,action\r\nKX19ZTB,STOP_VEHICLE\r\n", True),  # CRLF throughout
        (b"vrm,action\nKX19ZTB,STOP_VEHICLE\n", True),
        (b"vrm,action\r\nKX19ZTB,STOP\rVEHICLE\r\n", False),  # a lone CR between CRLFs
        (b"vrm,action\r\nKX19ZTB,STOP_VEHICLE\r\r\n", False),  # a CR before a CRLF
        (b"vrm,action\r\nKX19ZTB,STOP_VEHICLE\r", False),  # a CR ending the file
        (b"\xef\xbb\xbfvrm,action\n", False),  # a byte-order mark
        (b"vrm,action\nKX19\x00ZTB,STOP_VEHICLE\n", False),  # a NUL
    ],
)
def test_a_file_is_plain_without_a_lone_cr_a_nul_or_a_byte_order_mark(tmp_path, text, plain):
    path = tmp_path / "extract.csv"
    path.write_bytes(text)
    assert hotlist_columns.plain_file(path) is plain
    # the same after a CRLF split between the file's 16 MiB pieces (the CR ends the first)
    first = b"vrm,action\r\n" + b"x" * ((1 << 24) - 13) + b"\r"
    path.write_bytes(first + b"\n" + text[text.index(b"\n") + 1 :])
    assert hotlist_columns.plain_file(path) is (plain or text.startswith(b"\xef\xbb\xbf"))


def test_a_cr_ending_a_piece_of_the_file_is_lone_unless_an_lf_begins_the_next(tmp_path):
    path = tmp_path / "extract.csv"
    first = b"vrm,action\r\n" + b"x" * ((1 << 24) - 13) + b"\r"
    path.write_bytes(first + b"KX19ZTB,STOP_VEHICLE\r\n")
    assert not hotlist_columns.plain_file(path)
    path.write_bytes(first + b"\nKX19ZTB,STOP_VEHICLE\r\n")
    assert hotlist_columns.plain_file(path)
