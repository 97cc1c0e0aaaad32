"""The hotlist import's fast path: a CSV extract read as columns (Apache Arrow) and sent to matcher
as `ImportEntriesRequest.entry_columns`, checked by the rules of cli/hotlist_csv.py without a Python
object per row.

The vectorised checks vouch only for what they are sure of; a row they cannot vouch for (a value
with other than printable ASCII at either end, a long value, a VRM with other characters, an
action, marker, marking or weed date spelt in a way not seen yet) is read by `hotlist_csv._entry`
itself and, if good, sent as a VoiEntry. Anything that makes a row bad (or CSV that Python's csv
module might read differently: a NUL byte, a carriage return alone, quotes in the header, a BOM, a
row with more or fewer fields than the header) raises `Unsuitable`, and the import reads the file
again row by row (cli/hotlists.py), which names every bad row by its line."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as arrow_csv
from tqdm import tqdm

from anpr.field_limits import ID
from anpr.v1 import matcher_pb2
from anpr.v1 import types_pb2 as T
from anpr.vrm import normalise_vrm_column
from cli.hotlist_csv import COLUMN_LIMITS, COLUMNS, MAX_MARKERS, BadRow, _Coded, _Columns, _entry, check_header

MESSAGE_BYTES = 4 * 1024 * 1024  # columns per message (the contract allows 6 MiB)
ENTRIES_PER_MESSAGE = 2000  # rows sent as VoiEntry messages
BLOCK_BYTES = 4 * 1024 * 1024  # of the file read at a time
_ASCII_SPACE = " \t\n\x0b\x0c\r"
_PYTHON_SPACE = "".join(c for c in map(chr, range(0x110000)) if c.isspace())  # what str.strip() takes
# the columns of entry_columns (services/matcher/entry_columns.py) made from the CSV's
_TEXT_OUT = (
    "entry_id", "vrm", "reason", "information", "force", "area", "pnc_id", "cad_information",
    "operational_instructions", "source_reference", "make", "model", "colour", "source_evaluation",
    "intelligence_assessment", "handling_code",
)  # fmt: skip
SCHEMA = pa.schema(
    [(c, pa.string()) for c in _TEXT_OUT]
    + [
        ("action", pa.int32()),
        ("protective_marking", pa.int32()),
        ("warning_markers", pa.list_(pa.int32())),
        ("weed_at", pa.timestamp("us", "UTC")),
    ]
)


class Unsuitable(Exception):
    """The file needs the row-by-row reader: it has a bad row, or CSV this reader might not read as
    Python's csv module does."""


def plain_file(path: Path) -> bool:
    """No byte-order mark, NUL byte or carriage return without a line feed after it."""
    with open(path, "rb") as f:
        carried = b""
        first = True
        while chunk := f.read(1 << 24):
            if first and chunk.startswith(b"\xef\xbb\xbf"):
                return False
            first = False
            chunk = carried + chunk if carried else chunk
            if b"\x00" in chunk:
                return False
            carried = chunk[-1:] if chunk.endswith(b"\r") else b""
            body = chunk[:-1] if carried else chunk
            if b"\r" in body and _lone_cr(body):
                return False
        return not carried


def _lone_cr(body: bytes) -> bool:
    """Whether a CR in `body` (which does not end with one) is not followed by LF: looked at where
    the CRs are (counting CRs and CRLFs in a 200 MB extract took 0.38 s, this 0.12 s)."""
    text = np.frombuffer(body, np.uint8)
    return bool((text[np.flatnonzero(text[:-1] == 13) + 1] != 10).any())


def messages(path: Path, hotlist_id: str, bar=None, checked=None) -> Iterator[bytes]:
    """The import's messages (without the list's id) as the file is read, every row checked;
    `checked.good` counts the rows sent, `bar` (a tqdm) the rows read. Raises Unsuitable (maybe
    after some messages)."""
    bar = bar if bar is not None else tqdm(disable=True)
    checked = checked if checked is not None else SimpleNamespace(good=0)
    with open(path, "rb") as f:
        header = f.readline()
    if b'"' in header:
        raise Unsuitable
    # The whole file's check for bytes Python's csv module might read otherwise runs beside the
    # reading (0.2 s of a 200 MB extract before the first message was sent): what it refuses is
    # refused before the import's last message, so nothing of such a file is imported.
    with ThreadPoolExecutor(1, thread_name_prefix="import-plain-check") as checking:
        plain = checking.submit(plain_file, path)
        yield from _read(path, hotlist_id, header, plain, bar, checked)


def _read(path: Path, hotlist_id: str, header: bytes, plain: Future, bar, checked) -> Iterator[bytes]:
    """messages(), once the header is read and the file's check under way (`plain`)."""
    try:
        names = next(csv.reader([header.decode("utf-8")]), [])
    except (UnicodeDecodeError, csv.Error):
        raise Unsuitable from None
    if check_header(names):
        raise Unsuitable
    columns = _Columns(names)
    width = columns.width
    try:
        reader = arrow_csv.open_csv(
            path,
            read_options=arrow_csv.ReadOptions(
                skip_rows=1, column_names=[f"c{i}" for i in range(width)], block_size=BLOCK_BYTES
            ),
            parse_options=arrow_csv.ParseOptions(newlines_in_values=True),
            convert_options=arrow_csv.ConvertOptions(
                column_types={f"c{i}": pa.string() for i in range(width)},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, OSError):
        raise Unsuitable from None
    rows = _Rows(columns, hotlist_id)
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            if not plain.result():
                raise Unsuitable from None
            rows.check_ids()  # before the last message: a refusal still cancels the call
            return
        except (pa.ArrowException, OSError):  # malformed CSV, not UTF-8, a ragged row: row by row
            raise Unsuitable from None
        if batch.num_rows == 0:
            continue
        out, entries = rows.batch(batch)
        checked.good += batch.num_rows
        yield from _as_messages(out, entries)
        bar.update(batch.num_rows)


def _as_messages(out: pa.RecordBatch, entries: list[T.VoiEntry]) -> Iterator[bytes]:
    for piece in _pieces(out):
        yield matcher_pb2.ImportEntriesRequest(entry_columns=piece).SerializeToString()
    for i in range(0, len(entries), ENTRIES_PER_MESSAGE):
        yield matcher_pb2.ImportEntriesRequest(entries=entries[i : i + ENTRIES_PER_MESSAGE]).SerializeToString()


def _pieces(batch: pa.RecordBatch) -> Iterator[bytes]:
    """The batch as Arrow IPC streams of at most MESSAGE_BYTES each (halved until they fit)."""
    if batch.num_rows == 0:
        return
    data = _ipc(batch)
    if len(data) <= MESSAGE_BYTES or batch.num_rows == 1:
        yield data
        return
    half = batch.num_rows // 2
    yield from _pieces(batch.slice(0, half))
    yield from _pieces(batch.slice(half))


def _ipc(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def _lengths(a) -> np.ndarray:
    return np.asarray(pc.binary_length(a).to_numpy(zero_copy_only=False), np.int64)


def _np(a) -> np.ndarray:
    return np.asarray(a.to_numpy(zero_copy_only=False), bool)


class _Rows:
    """Turns the CSV's record batches into entry_columns batches (and the rows read one by one)."""

    def __init__(self, columns: _Columns, hotlist_id: str):
        self.columns = columns
        self.hotlist_id = hotlist_id
        self.coded = _Coded()
        self.ids: list[pa.Array] = []  # every entry id so far

    def batch(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, list[T.VoiEntry]]:
        n, at = batch.num_rows, self.columns.at
        blank = pa.array(np.full(n, "", object), pa.string())
        sure = np.ones(n, bool)
        text: dict[str, pa.Array] = {}
        for c in COLUMNS:
            if at[c] == self.columns.width:
                text[c] = blank
                continue
            value = pc.utf8_trim(batch.column(at[c]), _ASCII_SPACE)
            # Python's strip() takes more than ASCII white space: sure only if it would take no more
            sure &= _lengths(pc.utf8_trim(value, _PYTHON_SPACE)) == _lengths(value)
            if c in COLUMN_LIMITS:
                sure &= np.asarray(pc.utf8_length(value), np.int64) <= COLUMN_LIMITS[c]
            text[c] = value
        vrm = text["vrm"]
        normalised = normalise_vrm_column(vrm)
        length = np.asarray(pc.binary_length(normalised), np.int64)
        sure &= _np(pc.match_substring_regex(vrm, r"^[A-Za-z0-9 .\-]*$")) & (length >= 1) & (length <= 10)
        sure &= np.asarray(pc.binary_length(text["reason"]), np.int64) > 0
        action, ok = self._per_spelling(text["action"], self._action, pa.int32())
        sure &= ok
        marking, ok = self._per_spelling(text["protective_marking"], self._marking, pa.int32())
        sure &= ok
        markers, ok = self._per_spelling(text["warning_markers"], self._markers, pa.list_(pa.int32()))
        sure &= ok
        weed, ok = self._per_spelling(text["weed_date"], self._weed, pa.timestamp("us", "UTC"))
        sure &= ok
        made = pc.binary_join_element_wise(self.hotlist_id, normalised, text["pnc_id"], ":")
        entry_id = pc.if_else(pc.equal(text["entry_id"], ""), made, text["entry_id"])
        sure &= np.asarray(pc.utf8_length(entry_id), np.int64) <= ID

        entries = [self._by_row(batch, int(i)) for i in np.flatnonzero(~sure)]
        keep = pa.array(sure)
        self.ids.append(entry_id.filter(keep))
        if entries:
            self.ids.append(pa.array([e.entry_id for e in entries], pa.string()))
        out = {c: text[c].filter(keep) for c in _TEXT_OUT if c != "entry_id"}
        out["entry_id"] = entry_id.filter(keep)
        out["action"] = action.filter(keep)
        out["protective_marking"] = marking.filter(keep)
        out["warning_markers"] = markers.filter(keep)
        out["weed_at"] = weed.filter(keep)
        return pa.RecordBatch.from_arrays([out[f.name] for f in SCHEMA], schema=SCHEMA), entries

    def check_ids(self) -> None:
        """Raises Unsuitable if an entry id repeats (the row-by-row reader says where)."""
        ids = pa.chunked_array(self.ids, pa.string())
        if pc.count_distinct(ids).as_py() != len(ids):
            raise Unsuitable

    def _by_row(self, batch: pa.RecordBatch, i: int) -> T.VoiEntry:
        raw = [batch.column(k)[i].as_py() for k in range(self.columns.width)]
        entry = _entry(self.columns.values(raw), self.columns, self.coded, self.hotlist_id)
        if isinstance(entry, list | BadRow):
            raise Unsuitable
        return entry

    def _per_spelling(self, values: pa.Array, look, type_: pa.DataType) -> tuple[pa.Array, np.ndarray]:
        """Each distinct text looked up once with `look` (its value; _BAD when the row reader would
        find a problem): the values of the rows, and where they are good."""
        coded = pc.dictionary_encode(values)
        looked = [look(text) for text in coded.dictionary.to_pylist()]
        good = np.array([v is not _BAD for v in looked], bool)
        table = pa.array([None if v is _BAD else v for v in looked], type_)
        return table.take(coded.indices), good[np.asarray(coded.indices.to_numpy(zero_copy_only=False), np.intp)]

    def _action(self, text: str):
        return _BAD if (value := self.coded.action(text)) is None else value

    def _marking(self, text: str):
        return _BAD if (value := self.coded.marking(text)) is None else value

    def _markers(self, text: str):
        markers, unknown = self.coded.markers(text)
        return _BAD if unknown or len(markers) > MAX_MARKERS else markers

    def _weed(self, text: str):
        """Microseconds of the weed date (None when there is none)."""
        if not text:
            return None
        stamp = self.coded._weed(text)
        return _BAD if stamp is None else stamp.seconds * 1_000_000 + stamp.nanos // 1000


_BAD = object()  # a spelling the row reader would report
