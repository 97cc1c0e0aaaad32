"""An import's entries as columns (services/matcher/entry_columns.py): each entry encoded exactly as
the protobuf library encodes the same VoiEntry, every row the vectorised checks cannot vouch for
given the same violations as the same entry sent as a message, and columns of another name or type
refused by name."""

from __future__ import annotations

import datetime
import random
import struct

import grpc
import pyarrow as pa
import pyarrow.compute
import pytest

from anpr.runtime.errors import InvalidArgument
from anpr.v1 import types_pb2 as T
from services.matcher import entries, entry_columns
from services.matcher.store import COPY_COLUMNS
from tests.support import arrow_stream

UTC = datetime.timezone.utc
SCHEMA = pa.schema(
    [(c, pa.string()) for c in entry_columns.TEXT]
    + [
        ("action", pa.int32()),
        ("protective_marking", pa.int32()),
        ("warning_markers", pa.list_(pa.int32())),
        ("weed_at", pa.timestamp("us", "UTC")),
    ]
)


def as_message(row: dict, hotlist_id: str) -> T.VoiEntry:
    """The VoiEntry a client would send for the row."""
    entry = T.VoiEntry(hotlist_id=hotlist_id)
    for c in entry_columns.TOP_TEXT:
        setattr(entry, c, row[c] or "")
    for c, parent in entry_columns.NESTED_TEXT.items():
        if row[c]:
            setattr(getattr(entry, parent), c, row[c])
    entry.action, entry.protective_marking = row["action"] or 0, row["protective_marking"] or 0
    entry.warning_markers.extend(row["warning_markers"] or [])
    if row["weed_at"] is not None:
        entry.weed_at.FromDatetime(row["weed_at"])
    return entry


def rows(n: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)

    def text(k: int) -> str:
        return "".join(rng.choice("abc XYZ09,\u00e9\u2019\u3000") for _ in range(rng.randint(0, k)))

    out = []
    for i in range(n):
        row = {c: text(min(12, entry_columns._LIMIT[c])) for c in entry_columns.TEXT}
        row |= {
            "entry_id": f"e-{i}",
            "vrm": rng.choice(["AB12 CDE", "ab-12.cde", "X1", "  Y 2 "]),
            "reason": "R" + text(300),  # lengths past 127 and 16383 bytes take longer varints
            "information": rng.choice(["", text(2000), "ü" * 4096]),
            "action": rng.choice([1, 2, 6]),
            "protective_marking": rng.choice([0, 1, 2, 3]),
            "warning_markers": rng.sample([1, 2, 3, 4, 5], rng.randint(0, 3)) or rng.choice([None, []]),
            "weed_at": rng.choice(
                [None, datetime.datetime(2027, 6, 30, tzinfo=UTC), datetime.datetime(1601, 1, 1, 0, 0, 0, 7, UTC)]
            ),
        }
        out.append(row)
    return out


def test_each_entry_is_encoded_as_the_protobuf_library_encodes_it():
    sample = rows(2000)
    encoded = entry_columns.encode(entry_columns._Batch(pa.RecordBatch.from_pylist(sample, SCHEMA)), "L1")
    for row, data in zip(sample, encoded.to_pylist(), strict=True):
        assert data == as_message(row, "L1").SerializeToString(), row["entry_id"]


def test_good_rows_become_copy_rows_and_the_others_the_violations_a_message_gets():
    sample = rows(50)
    sample[3]["vrm"] = "AB*12"  # not letters and digits
    sample[7]["reason"] = " \u3000 "  # blank to Python's strip()
    sample[9]["action"] = 0  # required
    sample[11]["warning_markers"] = [1, 999]  # not a marker
    sample[13]["source_reference"] = "x" * 257  # over the limit
    sample[17]["area"] = "a\x00b"  # a NUL
    sample[19]["vrm"] = " ab 12 cd\u00a0"  # unusual but good: checked as a message, and kept
    staged = entry_columns.stage(pa.RecordBatch.from_pylist(sample, SCHEMA), "L1", first=100)

    expected: entries.Violations = []
    for i in (3, 7, 9, 11, 13, 17):
        message = as_message(sample[i], "L1")
        limits: list = []
        entry_columns._CHECK_ENTRY(message, f"entries[{100 + i}].", limits)
        expected += limits or entries.import_records([message], "L1", 100 + i)[1]
    assert staged.errors == expected
    assert {f for f, _ in staged.errors} == {
        "entries[103].vrm",
        "entries[107].reason",
        "entries[109].action",
        "entries[111].warning_markers[1]",
        "entries[113].source_reference",
        "entries[117].area",
    }
    assert [r[0] for r in staged.records] == ["e-19"]  # by way of the message checks
    assert staged.records[0][2] == "AB12CD"
    assert len(staged.copied_ids) == 50 - 7
    assert _copy_row_ids(staged.copy) == [
        r["entry_id"] for i, r in enumerate(sample) if i not in (3, 7, 9, 11, 13, 17, 19)
    ]
    # the copied rows' normalised VRMs, in their order, as matcher's index takes them
    assert staged.copied_vrms.dtype == "S10"
    assert [v.decode() for v in staged.copied_vrms] == [r[2] for r in _copy_rows(staged.copy)]


def test_the_copy_rows_carry_the_record_a_message_would_give():
    sample = rows(20)
    staged = entry_columns.stage(pa.RecordBatch.from_pylist(sample, SCHEMA), "L1", first=0)
    records = entries.import_records([as_message(r, "L1") for r in sample], "L1", 0)[0]
    assert _copy_rows(staged.copy) == [
        (entry_id, list_id, vrm, firearms, _pg_time(weed), data)
        for entry_id, list_id, vrm, firearms, weed, data in records
    ]


@pytest.mark.parametrize(
    ("columns", "field", "problem"),
    [
        ({"plate": pa.array(["AB12CDE"])}, "entry_columns.plate", "no such column"),
        ({"action": pa.array(["STOP"])}, "entry_columns.action", "an integer column"),
        ({"weed_at": pa.array([0], pa.timestamp("s"))}, "entry_columns.weed_at", "a timestamp with the zone UTC"),
        ({"vrm": pa.array([1])}, "entry_columns.vrm", "a string column"),
        ({"warning_markers": pa.array([[1, None]], pa.list_(pa.int32()))}, "entry_columns.warning_markers", "null"),
    ],
)
def test_a_column_of_another_name_or_type_is_refused_by_name(columns, field, problem):
    batch = pa.RecordBatch.from_pydict(columns)
    with pytest.raises(InvalidArgument) as err:
        entry_columns.read(arrow_stream(batch))
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in err.value.violations] == [field]
    assert problem in err.value.violations[0][1]


def test_dictionary_encoded_columns_are_read_as_their_values():
    sample = rows(30)
    plain = pa.RecordBatch.from_pylist(sample, SCHEMA)
    encoded = pa.RecordBatch.from_arrays(
        [pa.compute.dictionary_encode(c) if pa.types.is_string(c.type) else c for c in plain.columns],
        names=plain.schema.names,
    )
    (batch,) = entry_columns.read(arrow_stream(encoded))
    assert entry_columns.stage(batch, "L1", 0).copy == entry_columns.stage(plain, "L1", 0).copy


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_compressed_buffers_are_refused_before_they_are_decoded(codec):
    """pyarrow decompresses to the length the sender declares: a small message could ask for
    gigabytes. Refused by reading the flag from each message's metadata, dictionaries' too."""
    batch = pa.RecordBatch.from_pylist(rows(50), SCHEMA)
    for columns in (
        batch,
        pa.RecordBatch.from_arrays(
            [pa.compute.dictionary_encode(batch.column(0)), *batch.columns[1:]], names=batch.schema.names
        ),
    ):
        with pytest.raises(InvalidArgument) as err:
            entry_columns.read(arrow_stream(columns, pa.ipc.IpcWriteOptions(compression=codec)))
        assert err.value.violations == [("entry_columns", "compressed buffers are not taken: send them uncompressed")]
        assert len(entry_columns.read(arrow_stream(columns))) == 1


def test_bytes_that_are_not_arrow_are_refused():
    with pytest.raises(InvalidArgument) as err:
        entry_columns.read(b"entry_id,vrm\n1,AB12CDE\n")
    assert [f for f, _ in err.value.violations] == ["entry_columns"]


def _pg_time(value: datetime.datetime | None) -> int | None:
    if value is None:
        return None
    return (value - datetime.datetime(2000, 1, 1, tzinfo=UTC)) // datetime.timedelta(microseconds=1)


def _copy_rows(data: bytes) -> list[tuple]:
    """COPY's binary rows read back (text as str, boolean as bool, timestamptz as microseconds)."""
    out, at = [], 0
    while at < len(data):
        (count,) = struct.unpack_from("!h", data, at)
        assert count == len(COPY_COLUMNS)
        at += 2
        fields = []
        for _ in range(count):
            (length,) = struct.unpack_from("!i", data, at)
            at += 4
            fields.append(None if length < 0 else data[at : at + length])
            at += max(length, 0)
        entry_id, list_id, vrm, firearms, weed, blob = fields
        weed_us = None if weed is None else struct.unpack("!q", weed)[0]
        out.append((entry_id.decode(), list_id.decode(), vrm.decode(), firearms == b"\x01", weed_us, blob))
    return out


def _copy_row_ids(data: bytes) -> list[str]:
    return [r[0] for r in _copy_rows(data)]


@pytest.mark.parametrize("start, stop", [(0, 5), (1, 4), (2, 2)], ids=["whole", "a slice", "none"])
def test_fixed_width_gives_the_values_padded_as_numpy_reads_them(start, stop):
    values = pa.array(["AB12CDE", "X", "", "1234567890", "Q9"])[start:stop]
    fixed = entry_columns.fixed_width(values, 10)
    assert fixed.dtype == "S10" and fixed.tolist() == [v.encode() for v in values.to_pylist()]


def test_fixed_width_refuses_a_value_too_long():
    with pytest.raises(ValueError, match="longer than 3"):
        entry_columns.fixed_width(pa.array(["AB", "ABCD"]), 3)
