"""An import's entries as columns (`ImportEntriesRequest.entry_columns`, Apache Arrow): checked and
made into the rows the import stages (PostgreSQL's binary COPY format, each entry's VoiEntry
encoded in it) a batch at a time, without a Python object per entry.

The vectorised checks only vouch for rows they are sure of: every string within its limit and
without a NUL, a VRM of ASCII letters, digits, spaces, hyphens and dots that normalises to 1-10
characters, a reason with a visible character, an action, markers and marking the contract defines,
a weed date within years 1-9999. Any other row is made into a VoiEntry and takes the path of
`ImportEntriesRequest.entries` (the contract's limits checker, then `entries.import_records`): the
same answer, and the same violations, at a Python object's cost for the few rows that need it.

The encoding is protobuf's, field by field in field-number order as the Python library writes it
(tests/services/test_entry_columns.py compares the two byte for byte), so an entry imported as
columns and the same entry upserted or imported as a message are stored alike."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anpr.field_limits import LIMITS, compile_checkers
from anpr.runtime.errors import InvalidArgument
from anpr.v1 import types_pb2 as T
from anpr.vrm import MAX_VRM_LENGTH, normalise_vrm_column
from services.matcher import entries
from services.matcher.store import COPY_COLUMNS

_CHECK_ENTRY = compile_checkers()["anpr.v1.VoiEntry"]
_ENTRY = T.VoiEntry.DESCRIPTOR
_NESTED = {
    "vehicle": ("make", "model", "colour"),
    "grading": ("source_evaluation", "intelligence_assessment", "handling_code"),
}
# the string fields of VoiEntry a column may carry (not hotlist_id: the import's list is the server's)
TOP_TEXT = ("entry_id", "vrm", "reason", "information", "force", "area", "pnc_id", "cad_information",
            "operational_instructions", "source_reference")  # fmt: skip
NESTED_TEXT = {c: parent for parent, names in _NESTED.items() for c in names}
TEXT = TOP_TEXT + tuple(NESTED_TEXT)
ENUMS = {"action": T.Action, "protective_marking": T.ProtectiveMarking}
COLUMNS = (*TEXT, *ENUMS, "warning_markers", "weed_at")
_LIMIT = {c: LIMITS["anpr.v1.VoiEntry"][c] for c in TOP_TEXT} | {
    c: LIMITS[_ENTRY.fields_by_name[parent].message_type.full_name][c] for c, parent in NESTED_TEXT.items()
}
MAX_MARKERS = LIMITS["anpr.v1.VoiEntry"]["warning_markers"]
_DEFINED = {
    name: pa.array(sorted(v.number for v in enum.DESCRIPTOR.values), pa.int64()) for name, enum in ENUMS.items()
}
_ACTIONS = pa.array(sorted(v.number for v in T.Action.DESCRIPTOR.values if v.number), pa.int64())
_MARKERS = pa.array(sorted(v.number for v in T.WarningMarker.DESCRIPTOR.values), pa.int64())
_FIREARMS = T.WARNING_MARKER_FIREARMS
_MIN_S, _MAX_S = -62135596800, 253402300799  # 0001-01-01 .. 9999-12-31T23:59:59 UTC
_PG_EPOCH_US = 946684800 * 1_000_000  # PostgreSQL's timestamps count from 2000-01-01
_PER_SECOND = {"s": 1, "ms": 1000, "us": 1_000_000, "ns": 1_000_000_000}


@dataclass
class Staged:
    """One batch's entries: `copy` the rows vouched for (binary COPY, without header and trailer),
    with their entry ids and their normalised VRMs (S10, what matcher's index is built from),
    `records` the others that passed the message checks (store records), `errors` the violations."""

    rows: int
    copy: bytes = b""
    copied_ids: pa.Array | None = None
    copied_vrms: np.ndarray | None = None
    records: list[tuple] = field(default_factory=list)
    errors: entries.Violations = field(default_factory=list)


def read(data: bytes) -> list[pa.RecordBatch]:
    """The record batches of `entry_columns`, each checked as Arrow data (offsets, UTF-8) and its
    columns known; InvalidArgument naming what is wrong."""
    try:
        compressed = _compressed(data)
        if not compressed:
            reader = pa.ipc.open_stream(pa.py_buffer(data))
            batches = list(reader)
            for batch in batches:
                batch.validate(full=True)
    except (pa.ArrowException, ValueError, OSError, struct.error, IndexError) as exc:
        raise InvalidArgument.of(
            "entry_columns", f"not an Arrow IPC stream of valid columns ({_first_line(exc)})"
        ) from None
    if compressed:
        raise InvalidArgument.of("entry_columns", "compressed buffers are not taken: send them uncompressed")
    problems = [(f"entry_columns.{f.name}", why) for f in reader.schema if (why := _refused_type(f))]
    if not problems and "warning_markers" in reader.schema.names:
        if any(pc.list_flatten(b.column("warning_markers")).null_count for b in batches):
            problems.append(("entry_columns.warning_markers", "a list without null items"))
    if problems:
        raise InvalidArgument(problems)
    return batches


def _compressed(data: bytes) -> bool:
    """Whether a record or dictionary batch of the stream has compressed buffers. pyarrow would
    decompress them to whatever length the sender declares (a 6 MiB message could ask for
    gigabytes), so they are refused before anything is decoded: the flag is read from each
    message's metadata (a flatbuffer; Arrow's Message.fbs: the header's BodyCompression)."""
    messages = pa.ipc.MessageReader.open_stream(pa.py_buffer(data))
    while True:
        try:
            message = messages.read_next_message()
        except StopIteration:
            return False
        if message.type in ("record batch", "dictionary batch") and _has_compression(message.metadata.to_pybytes()):
            return True


def _has_compression(fb: bytes) -> bool:
    message = _table(fb, 0)
    kind = fb[at] if (at := _field(fb, message, 1)) else 0  # MessageHeader: 2 DictionaryBatch, 3 RecordBatch
    header = _field(fb, message, 2)
    if not header:
        return False
    batch = _table(fb, header)
    if kind == 2:  # DictionaryBatch {id, data: RecordBatch, isDelta}
        data = _field(fb, batch, 1)
        batch = _table(fb, data) if data else 0
    elif kind != 3:
        return False
    return bool(batch) and bool(_field(fb, batch, 3))  # RecordBatch {length, nodes, buffers, compression}


def _table(fb: bytes, at: int) -> int:
    """The table an offset at `at` points to."""
    return at + struct.unpack_from("<I", fb, at)[0]


def _field(fb: bytes, table: int, index: int) -> int:
    """Where field `index` of the table at `table` is, or 0 when it is absent."""
    vtable = table - struct.unpack_from("<i", fb, table)[0]
    size = struct.unpack_from("<H", fb, vtable)[0]
    if 4 + 2 * index >= size:
        return 0
    offset = struct.unpack_from("<H", fb, vtable + 4 + 2 * index)[0]
    return table + offset if offset else 0


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _refused_type(f: pa.Field) -> str | None:
    t = f.type.value_type if pa.types.is_dictionary(f.type) else f.type  # dictionary-encoded: its values
    if f.name in TEXT:
        ok = pa.types.is_string(t) or pa.types.is_large_string(t)
        return None if ok else "a string column"
    if f.name in ENUMS:
        return None if pa.types.is_integer(t) else "an integer column (the enum's numbers)"
    if f.name == "warning_markers":
        ok = (pa.types.is_list(t) or pa.types.is_large_list(t)) and pa.types.is_integer(t.value_type)
        return None if ok else "a list of integers (the markers' numbers)"
    if f.name == "weed_at":
        return None if pa.types.is_timestamp(t) and t.tz in ("UTC", "+00:00", "Z") else "a timestamp with the zone UTC"
    return f"no such column (columns: {', '.join(COLUMNS)})"


class _Batch:
    """A batch's columns with absent ones filled in: strings ("" unset), enums as int64,
    markers as list<int64>, weed dates as (seconds, nanos, set)."""

    def __init__(self, batch: pa.RecordBatch):
        self.n = n = batch.num_rows
        names = batch.schema.names
        col = {name: batch.column(i) for i, name in enumerate(names)}
        self.text = {c: pc.fill_null(col[c].cast(pa.string()), "") if c in col else _blank(n) for c in TEXT}
        self.enums = {
            c: pc.fill_null(col[c].cast(pa.int64()), 0) if c in col else pa.array(np.zeros(n, np.int64)) for c in ENUMS
        }
        markers = col.get("warning_markers")
        self.markers = (
            pc.fill_null(markers.cast(pa.list_(pa.int64())), pa.scalar([], pa.list_(pa.int64())))
            if markers is not None
            else pa.array([[]] * n, pa.list_(pa.int64()))
        )
        weed = col.get("weed_at")
        if weed is None:
            self.weed_set = np.zeros(n, bool)
            self.seconds = self.nanos = np.zeros(n, np.int64)
        else:
            per = _PER_SECOND[weed.type.unit]
            self.weed_set = ~np.asarray(weed.is_null().to_numpy(zero_copy_only=False), bool)
            # nulls filled first: with nulls, to_numpy gives floats, which lose microseconds
            raw = np.asarray(pc.fill_null(weed.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), np.int64)
            self.seconds = np.floor_divide(raw, per)
            self.nanos = (raw - self.seconds * per) * (1_000_000_000 // per)

    def keep(self, rows: np.ndarray) -> None:
        """Only the rows where `rows` is True from now on."""
        mask = pa.array(rows)
        self.text = {c: a.filter(mask) for c, a in self.text.items()}
        self.enums = {c: a.filter(mask) for c, a in self.enums.items()}
        self.markers = self.markers.filter(mask)
        self.weed_set, self.seconds, self.nanos = self.weed_set[rows], self.seconds[rows], self.nanos[rows]
        self.n = int(rows.sum())


def _blank(n: int) -> pa.Array:
    return pa.array(np.full(n, "", object), pa.string())


def stage(batch: pa.RecordBatch, hotlist_id: str, first: int) -> Staged:
    """One record batch of an import (its entries numbered from `first`) made ready to stage."""
    b = _Batch(batch)
    vrm = b.text["vrm"]
    normalised = normalise_vrm_column(vrm)
    vrm_length = np.asarray(pc.binary_length(normalised), np.int64)
    sure = (
        _np(pc.match_substring_regex(vrm, r"^[A-Za-z0-9 .\-]*$")) & (vrm_length >= 1) & (vrm_length <= 10)
        & (np.asarray(pc.binary_length(b.text["entry_id"]), np.int64) > 0)
        & _np(pc.match_substring_regex(b.text["reason"], "[!-~]"))
        & _np(pc.is_in(b.enums["action"], _ACTIONS))
        & _np(pc.is_in(b.enums["protective_marking"], _DEFINED["protective_marking"]))
        & (~b.weed_set | ((b.seconds >= _MIN_S) & (b.seconds <= _MAX_S)))
    )  # fmt: skip
    for c in TEXT:
        s = b.text[c]
        sure &= np.asarray(pc.utf8_length(s), np.int64) <= _LIMIT[c]
        if _may_hold_nul(s):
            sure &= ~_np(pc.match_substring(s, "\x00"))
    count = np.asarray(pc.list_value_length(b.markers), np.int64)
    flat = pc.list_flatten(b.markers)
    parents = np.asarray(pc.list_parent_indices(b.markers), np.int64)
    undefined = np.bincount(parents, weights=~_np(pc.is_in(flat, _MARKERS)), minlength=b.n)
    sure &= (count <= MAX_MARKERS) & (undefined == 0)
    firearms = np.bincount(parents, weights=_np(pc.equal(flat, _FIREARMS)), minlength=b.n) > 0

    staged = Staged(rows=b.n)
    others = np.flatnonzero(~sure)
    for i in others:
        _by_message(b, int(i), hotlist_id, first + int(i), staged)
    if others.size:
        b.keep(sure)
        normalised, firearms = normalised.filter(pa.array(sure)), firearms[sure]
    if b.n:
        staged.copy, staged.copied_ids = _copy_rows(b, hotlist_id, normalised, firearms), b.text["entry_id"]
        staged.copied_vrms = fixed_width(normalised, MAX_VRM_LENGTH)
    return staged


def fixed_width(values: pa.Array, width: int) -> np.ndarray:
    """An Arrow string array of ASCII values of at most `width` bytes as a numpy `S<width>` array
    (shorter values padded with NULs, as numpy reads them), without a Python object per value."""
    values = values.cast(pa.string()) if values.type != pa.string() else values
    n = len(values)
    offsets = np.frombuffer(values.buffers()[1], np.int32, n + 1, values.offset * 4)
    lengths = np.diff(offsets)
    if lengths.size and lengths.max() > width:
        raise ValueError(f"a value longer than {width} bytes")
    out = np.zeros((n, width), np.uint8)
    if offsets[-1] > offsets[0]:
        data = np.frombuffer(values.buffers()[2], np.uint8, offsets[-1] - offsets[0], offsets[0])
        starts = np.repeat(offsets[:-1] - offsets[0], lengths)
        out[np.repeat(np.arange(n), lengths), np.arange(data.size) - starts] = data
    return out.view(f"S{width}").ravel()


def _may_hold_nul(a: pa.Array) -> bool:
    """Whether a NUL is anywhere in the text column's data buffer (one vectorised pass; looking row
    by row took 3 ms of a 10,000-row batch's 37)."""
    data = a.buffers()[2]
    return data is not None and data.size > 0 and not np.frombuffer(data, np.uint8).all()


def _np(a: pa.Array) -> np.ndarray:
    return np.asarray(a.to_numpy(zero_copy_only=False), bool)


def _by_message(b: _Batch, i: int, hotlist_id: str, n: int, staged: Staged) -> None:
    """Row `i` as a VoiEntry through the checks of `entries`: its record, or its violations."""
    prefix = f"entries[{n}]."
    entry = T.VoiEntry(hotlist_id=hotlist_id)
    try:
        for c in TOP_TEXT:
            setattr(entry, c, b.text[c][i].as_py())
        for c, parent in NESTED_TEXT.items():
            if value := b.text[c][i].as_py():
                setattr(getattr(entry, parent), c, value)
        for c in ENUMS:
            setattr(entry, c, b.enums[c][i].as_py())
        entry.warning_markers.extend(b.markers[i].as_py())
    except ValueError as exc:  # a number beyond the enum's 32 bits
        staged.errors.append((prefix.rstrip("."), f"not a VoiEntry ({_first_line(exc)})"))
        return
    if b.weed_set[i]:
        entry.weed_at.seconds, entry.weed_at.nanos = int(b.seconds[i]), int(b.nanos[i])
    limits: list[tuple[str, str]] = []
    _CHECK_ENTRY(entry, prefix, limits)
    if limits:
        staged.errors.extend(limits)
        return
    records, errors = entries.import_records([entry], hotlist_id, n)
    staged.records.extend(records)
    staged.errors.extend(errors)


# --- encoding ---------------------------------------------------------------------------------


def _binary(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    return pa.Array.from_buffers(
        pa.binary(), offsets.size - 1, [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
    )


def _varint_sizes(u: np.ndarray) -> np.ndarray:
    size = np.ones(u.shape, np.int64)
    for k in range(1, 10):
        size += u >= np.uint64(1 << (7 * k))
    return size


def _tagged_varints(tag: bytes, values: np.ndarray, present: np.ndarray) -> pa.Array:
    """Per row: `tag` then `values` as a varint where `present`, else nothing."""
    return _binary(*_varint_bytes(tag, values, present))


def _varint_bytes(tag: bytes, values: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u = values.astype(np.int64).view(np.uint64)
    sizes = _varint_sizes(u)
    lengths = np.where(present, len(tag) + sizes, 0)
    offsets = np.zeros(u.size + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = np.zeros(int(offsets[-1]), np.uint8)
    at = offsets[:-1][present]
    for k, byte in enumerate(tag):
        data[at + k] = byte
    u, sizes, at = u[present], sizes[present], at + len(tag)
    for k in range(10):
        more = sizes > k
        if not more.any():
            break
        low = ((u[more] >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        data[at[more] + k] = low | np.where(sizes[more] > k + 1, 0x80, 0).astype(np.uint8)
    return offsets, data


def _tag(number: int, wire: int) -> bytes:
    key, out = (number << 3) | wire, bytearray()
    while key >= 0x80:
        out.append((key & 0x7F) | 0x80)
        key >>= 7
    out.append(key)
    return bytes(out)


def _lengths(a: pa.Array) -> np.ndarray:
    return np.asarray(pc.binary_length(a).to_numpy(zero_copy_only=False), np.int64)


def _delimited(number: int, value: pa.Array, present: np.ndarray | None = None) -> list:
    """Field `number` (length-delimited) holding `value` per row; rows without one (`present`
    False, by default the empty values) get nothing."""
    lengths = _lengths(value)
    if present is None:
        present = lengths > 0
    return [_tagged_varints(_tag(number, 2), lengths, present), value.cast(pa.binary())]


def _join(pieces: list) -> pa.Array:
    return pc.binary_join_element_wise(*pieces, pa.scalar(b"", pa.binary()))


def encode(b: _Batch, hotlist_id: str) -> pa.Array:
    """Each row's VoiEntry as protobuf's Python library writes it (fields in number order)."""
    n = b.n
    pieces: dict[int, list] = {}
    for c in TOP_TEXT:
        pieces[_ENTRY.fields_by_name[c].number] = _delimited(_ENTRY.fields_by_name[c].number, b.text[c])
    list_id = pa.array(np.full(n, hotlist_id, object), pa.string())
    pieces[_ENTRY.fields_by_name["hotlist_id"].number] = _delimited(_ENTRY.fields_by_name["hotlist_id"].number, list_id)
    for parent, names in _NESTED.items():
        sub = _ENTRY.fields_by_name[parent].message_type
        inner = _join([p for c in names for p in _delimited(sub.fields_by_name[c].number, b.text[c])])
        pieces[_ENTRY.fields_by_name[parent].number] = _delimited(_ENTRY.fields_by_name[parent].number, inner)
    for c in ENUMS:
        values = np.asarray(b.enums[c].to_numpy(zero_copy_only=False), np.int64)
        pieces[_ENTRY.fields_by_name[c].number] = [
            _tagged_varints(_tag(_ENTRY.fields_by_name[c].number, 0), values, values != 0)
        ]
    pieces[_ENTRY.fields_by_name["warning_markers"].number] = _delimited(
        _ENTRY.fields_by_name["warning_markers"].number, _packed(b.markers)
    )
    stamp = _join(
        [
            _tagged_varints(_tag(1, 0), b.seconds, b.seconds != 0),
            _tagged_varints(_tag(2, 0), b.nanos, b.nanos != 0),
        ]
    )
    pieces[_ENTRY.fields_by_name["weed_at"].number] = _delimited(
        _ENTRY.fields_by_name["weed_at"].number, stamp, b.weed_set
    )
    return _join([p for number in sorted(pieces) for p in pieces[number]])


def _packed(markers: pa.Array) -> pa.Array:
    """Each row's list of numbers as a packed repeated field's payload (varints back to back)."""
    flat = np.asarray(pc.list_flatten(markers).to_numpy(zero_copy_only=False), np.int64)
    value_offsets, data = _varint_bytes(b"", flat, np.ones(flat.size, bool))
    list_offsets = np.asarray(markers.offsets.to_numpy(), np.int64)
    return _binary(value_offsets[list_offsets - list_offsets[0]], data)


def _ragged(block: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """Row i of `block` (n x width bytes) cut to lengths[i], one binary value a row."""
    keep = np.arange(block.shape[1]) < lengths[:, None]
    offsets = np.zeros(lengths.size + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return _binary(offsets, np.ascontiguousarray(block[keep]))


def _be4(values: np.ndarray) -> pa.Array:
    """4-byte big-endian numbers (COPY's field lengths), one binary value a row."""
    block = np.ascontiguousarray(values.astype(">i4")).view(np.uint8).reshape(-1, 4)
    return _ragged(block, np.full(values.size, 4, np.int64))


def _copy_rows(b: _Batch, hotlist_id: str, normalised: pa.Array, firearms: np.ndarray) -> bytes:
    """The batch's rows in COPY's binary format (COPY_COLUMNS), without header and trailer."""
    n = b.n
    data = encode(b, hotlist_id)
    list_id = hotlist_id.encode()
    flag = np.zeros((n, 5), np.uint8)  # boolean: length 1, then the byte
    flag[:, 3], flag[:, 4] = 1, firearms
    weed = np.zeros((n, 12), np.uint8)  # timestamptz: length 8, microseconds from 2000; or NULL (-1)
    weed[:, :4] = np.where(b.weed_set[:, None], np.array([0, 0, 0, 8], np.uint8), np.uint8(0xFF))
    us = b.seconds * 1_000_000 + b.nanos // 1000 - _PG_EPOCH_US
    weed[:, 4:] = np.ascontiguousarray(us.astype(">i8")).view(np.uint8).reshape(-1, 8)
    rows = _join(
        [
            pa.scalar(struct.pack("!h", len(COPY_COLUMNS)), pa.binary()),
            _be4(_lengths(b.text["entry_id"])),
            b.text["entry_id"].cast(pa.binary()),
            pa.scalar(struct.pack("!i", len(list_id)) + list_id, pa.binary()),
            _be4(_lengths(normalised)),
            normalised.cast(pa.binary()),
            _ragged(flag, np.full(n, 5, np.int64)),
            _ragged(weed, np.where(b.weed_set, 12, 4)),
            _be4(_lengths(data)),
            data,
        ]
    )
    offsets = np.frombuffer(rows.buffers()[1], np.int32, n + 1, rows.offset * 4)
    return rows.buffers()[2].to_pybytes()[int(offsets[0]) : int(offsets[-1])]
