"""In-memory Vehicles-of-Interest (VOI) index for the matcher service.

Maps normalised VRMs to VOI entry ids and answers "which entries does this read match, exactly or
through look-alike characters (B/8, O/0, ...)?".

Data layout
-----------
Each normalised VRM (1-10 chars of A-Z0-9) is packed into one int64 *code*: 6 bits per character,
first character in the most significant field, unused trailing fields zero (digits are 1..10, letters
11..36, so the length is implicit and codes of different lengths never collide).  The *skeleton* of a
VRM replaces every character by the representative of its look-alike class and is packed the same way.
Two VRMs have the same skeleton exactly when they have the same length and every differing position
holds two characters of one class; the differing positions are the non-zero 6-bit fields of
``code_a ^ code_b``.

The bulk part of the index is four immutable numpy arrays (32 bytes per entry):

* ``skel``     int64, sorted ascending: skeleton codes
* ``exact``    int64: VRM codes, parallel to ``skel``
* ``ids``      int64: entry ids, parallel to ``skel``
* ``id_order`` intp:  positions sorted by entry id (``ids[id_order]`` is ascending), used by
  remove/add/vrm_of to find an entry by id.

An exact match and a look-alike match do the same work: one ``searchsorted`` on ``skel`` for the
query's skeleton, then a scan of that (normally tiny) group; the look-alike path additionally counts
differing fields of candidates that are not exact.  So a look-alike match costs about the same as an
exact one.

Incremental changes go to a small overlay (plain dicts) on top of the bulk arrays: an overlay entry
either overrides the bulk entry with the same id (new VRM) or tombstones it (removed).
``compact()`` folds the overlay into new bulk arrays by an O(n) merge (no full re-sort) and returns a
NEW index; the old one is untouched, so the caller swaps the reference (see ``compact`` for running it
in a worker thread while the event loop keeps going).

Keys are stored as int64 rather than uint64 on purpose: ``ndarray.searchsorted`` with a Python int on
a uint64 array converts the whole array on every call (milliseconds instead of a microsecond).

Only numpy is required.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

import numpy as np

from anpr.vrm import MAX_VRM_LENGTH, is_valid_vrm, normalise_vrm

__all__ = [
    "DEFAULT_LOOKALIKE_CLASSES",
    "MAX_VRM_LENGTH",
    "LookalikeClasses",
    "Match",
    "VoiIndex",
    "decode_vrm",
    "is_valid_vrm",
    "normalise_vrm",
]

DEFAULT_LOOKALIKE_CLASSES: tuple[str, ...] = ("O0DQ", "I1L", "B8", "S5", "Z2", "G6")

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_BITS = 6
_FIELD = (1 << _BITS) - 1
_WIDTH = MAX_VRM_LENGTH + 1  # one extra byte column detects over-long input in bulk loads
_CHUNK = 1 << 20  # rows per block when encoding bulk input (bounds temporary memory)
_INVALID = 255

# char -> 6-bit value (1..36); 0 is "no character".
_CHAR_VALUE: dict[str, int] = {ch: i + 1 for i, ch in enumerate(_ALPHABET)}
_VALUE_CHAR: tuple[str, ...] = ("",) + tuple(_ALPHABET)
# Shift of the 6-bit field holding position i (position 0 is the most significant field).
_SHIFTS: tuple[int, ...] = tuple(_BITS * (MAX_VRM_LENGTH - 1 - i) for i in range(MAX_VRM_LENGTH))

# byte -> 6-bit value, NUL -> 0 (padding), anything else -> _INVALID.
_BYTE_VALUE = np.full(256, _INVALID, dtype=np.uint8)
_BYTE_VALUE[0] = 0
for _ch, _v in _CHAR_VALUE.items():
    _BYTE_VALUE[ord(_ch)] = _v
del _ch, _v


class Match(NamedTuple):
    """One VOI entry matched by a read.

    ``differing_positions`` are 0-based indexes into the normalised VRM where the read and the entry
    differ (each a look-alike pair); empty for an exact match.  ``code`` is the entry's packed VRM
    (:func:`decode_vrm`), so a scorer can see which characters differ without another lookup.
    """

    entry_id: int
    exact: bool
    differing_positions: tuple[int, ...]
    code: int = 0


class LookalikeClasses:
    """Classes of characters an ANPR camera may confuse (e.g. ``"B8"``).

    Overlapping classes are merged (``["AB", "BC"]`` is one class ``"ABC"``).  Each class is
    represented by its smallest character (digits sort before letters).
    """

    __slots__ = ("_byte_rep", "_classes", "_rep", "_translate", "_value_rep")

    def __init__(self, classes: Sequence[str] = DEFAULT_LOOKALIKE_CLASSES) -> None:
        if isinstance(classes, (str, bytes)):
            raise TypeError("classes must be a sequence of strings such as ['O0DQ', 'B8'], not one string")
        parent: dict[str, str] = {}

        def find(c: str) -> str:
            while parent[c] != c:
                parent[c] = parent[parent[c]]
                c = parent[c]
            return c

        for cls in classes:
            if not isinstance(cls, str):
                raise TypeError(f"look-alike class must be a str, got {type(cls).__name__}")
            for ch in cls:
                if ch not in _CHAR_VALUE:
                    raise ValueError(f"look-alike class {cls!r}: {ch!r} is not one of A-Z, 0-9")
                parent.setdefault(ch, ch)
            for a, b in itertools.pairwise(cls):
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
        groups: dict[str, set[str]] = {}
        for ch in parent:
            groups.setdefault(find(ch), set()).add(ch)
        merged = sorted("".join(sorted(g)) for g in groups.values() if len(g) > 1)
        self._classes: tuple[str, ...] = tuple(merged)
        rep = {ch: ch for ch in _ALPHABET}
        for cls in merged:
            for ch in cls:
                rep[ch] = cls[0]
        self._rep: dict[str, str] = rep
        self._translate = str.maketrans(rep)
        # 6-bit value -> representative's 6-bit value (0 -> 0), as a tuple and as a numpy table.
        value_rep = [0] * 64
        for ch, r in rep.items():
            value_rep[_CHAR_VALUE[ch]] = _CHAR_VALUE[r]
        self._value_rep: tuple[int, ...] = tuple(value_rep)
        byte_rep = np.zeros(256, dtype=np.uint8)
        byte_rep[:64] = value_rep
        self._byte_rep = byte_rep

    @property
    def classes(self) -> tuple[str, ...]:
        """The merged classes, each sorted, in sorted order (single characters omitted)."""
        return self._classes

    def representative(self, ch: str) -> str:
        """The class representative of one character (the character itself if in no class)."""
        try:
            return self._rep[ch]
        except KeyError:
            raise ValueError(f"{ch!r} is not one of A-Z, 0-9") from None

    def same_class(self, a: str, b: str) -> bool:
        """True when ``a`` and ``b`` are equal or in one look-alike class."""
        return self.representative(a) == self.representative(b)

    def skeleton(self, vrm: str) -> str:
        """``vrm`` with each character replaced by its class representative (``"B0"`` -> ``"80"``)."""
        return vrm.translate(self._translate)

    def encode(self, vrm: str) -> tuple[int, int]:
        """``(code, skeleton_code)`` of a normalised VRM; ``ValueError`` if it is not valid."""
        if not isinstance(vrm, str):
            raise TypeError(f"VRM must be a str, got {type(vrm).__name__}")
        n = len(vrm)
        if not 0 < n <= MAX_VRM_LENGTH:
            raise ValueError(f"VRM must be 1-{MAX_VRM_LENGTH} characters, got {vrm!r}")
        values = _CHAR_VALUE
        value_rep = self._value_rep
        code = skel = 0
        try:
            for ch in vrm:
                v = values[ch]
                code = (code << _BITS) | v
                skel = (skel << _BITS) | value_rep[v]
        except KeyError:
            raise ValueError(f"VRM must be normalised (A-Z, 0-9 only), got {vrm!r}") from None
        pad = _BITS * (MAX_VRM_LENGTH - n)
        return code << pad, skel << pad

    def encode_many(self, vrms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(codes, skeleton codes)`` of many normalised VRMs at once (int64 arrays; ``ValueError``
        if one is not valid)."""
        codes, skels, bad = self.encode_checked(vrms)
        if bad.any():
            raise ValueError(f"{int(bad.sum())} VRMs are not normalised")
        return codes, skels

    def encode_checked(self, vrms: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``encode_many`` without raising: ``(codes, skeleton codes, bad)``, where ``bad`` marks
        the VRMs that are not normalised (their codes are meaningless)."""
        try:
            codes, skels, bad = _encode_block(_block_bytes(vrms, 0, len(vrms)), self._byte_rep)
        except ValueError:  # not ASCII
            bad = np.array([not is_valid_vrm(v) for v in vrms], dtype=bool)
            codes, skels, _ = _encode_block(
                _block_bytes([v if not b else "0" for v, b in zip(vrms, bad)], 0, len(vrms)), self._byte_rep
            )
        return codes, skels, bad | (codes == 0)

    def value_table(self) -> np.ndarray:
        """6-bit value -> its representative's 6-bit value, as an int64 table (0 -> 0)."""
        return np.array(self._value_rep, dtype=np.int64)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LookalikeClasses) and other._classes == self._classes

    def __hash__(self) -> int:
        return hash(self._classes)

    def __repr__(self) -> str:
        return f"LookalikeClasses({list(self._classes)!r})"


def decode_vrm(code: int) -> str:
    """Inverse of the VRM packing used by the index (for display and tests)."""
    chars = []
    for shift in _SHIFTS:
        v = (code >> shift) & _FIELD
        if v == 0:
            break
        chars.append(_VALUE_CHAR[v])
    return "".join(chars)


# Bit 0 of every 6-bit field.  For x = code_a ^ code_b, folding each field onto its bit 0 and
# counting bits gives the number of differing positions with one int.bit_count().
_FIELD_LOW_BITS = sum(1 << shift for shift in _SHIFTS)
# position of a field's bit 0 -> VRM position
_LOW_BIT_POSITION = {1 << shift: i for i, shift in enumerate(_SHIFTS)}
# Skeleton groups larger than this are scanned with numpy instead of a Python loop.
_VECTOR_GROUP = 48
_new_tuple = tuple.__new__


def _with_positions(y: int, eid: int, code: int) -> tuple[int, tuple[int, ...], int, int]:
    """(n differences, positions ascending, entry id, code) from a folded difference mask ``y``."""
    pos = []
    while y:
        low = y & -y
        pos.append(_LOW_BIT_POSITION[low])
        y ^= low
    pos.reverse()  # low bits are the last positions
    return len(pos), tuple(pos), eid, code


class PresenceFilter:
    """A one-hash Bloom filter over int64 codes: ``maybe(keys)`` is True for every code it was built
    from and for about 3% of others. A vectorised lookup costs a few nanoseconds a key where a
    ``searchsorted`` on a million sorted codes costs hundreds (cache misses at every step), so
    :func:`find_sorted` searches only the keys that pass it, which for reads are few."""

    __slots__ = ("_bits", "_shift")
    _MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing

    def __init__(self, codes: np.ndarray, bits_per_code: int = 32) -> None:
        log2 = max(6, int(max(codes.size, 1) * bits_per_code - 1).bit_length())
        self._shift = np.uint64(64 - log2)
        present = np.zeros(1 << log2, dtype=bool)
        present[self._hash(codes)] = True
        self._bits = np.packbits(present, bitorder="little")

    def _hash(self, keys: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return ((keys.view(np.uint64) * self._MULTIPLIER) >> self._shift).astype(np.intp)

    def maybe(self, keys: np.ndarray) -> np.ndarray:
        h = self._hash(np.ascontiguousarray(keys, dtype=np.int64))
        return (self._bits[h >> 3] >> (h & 7).astype(np.uint8)) & 1 == 1

    @property
    def nbytes(self) -> int:
        return self._bits.nbytes


def find_sorted(array: np.ndarray, presence: PresenceFilter, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(found, lo): whether each key is in the sorted ``array``, and where it sorts (valid where
    found); only the keys ``presence`` lets through are searched."""
    found = np.zeros(keys.shape, dtype=bool)
    lo = np.zeros(keys.shape, dtype=np.intp)
    n = array.shape[0]
    if n and keys.size:
        maybe = np.flatnonzero(presence.maybe(keys))
        if maybe.size:
            at = np.minimum(array.searchsorted(keys[maybe]), n - 1)
            found[maybe] = array[at] == keys[maybe]
            lo[maybe] = at
    return found, lo


class _Bulk:
    """Immutable sorted arrays; shared between an index and the indexes compacted from it."""

    __slots__ = ("exact", "exact_mv", "id_order", "ids", "ids_mv", "n", "presence", "skel", "skel_mv")

    def __init__(self, skel: np.ndarray, exact: np.ndarray, ids: np.ndarray, id_order: np.ndarray) -> None:
        skel, exact, ids, id_order = (np.ascontiguousarray(a) for a in (skel, exact, ids, id_order))
        for a in (skel, exact, ids, id_order):
            a.flags.writeable = False
        self.skel = skel
        self.exact = exact
        self.ids = ids
        self.id_order = id_order
        self.n = int(skel.shape[0])
        # memoryviews give Python ints directly (cheaper than numpy scalars in the per-read path)
        self.skel_mv = memoryview(skel)
        self.exact_mv = memoryview(exact)
        self.ids_mv = memoryview(ids)
        self.presence = PresenceFilter(skel)

    @classmethod
    def empty(cls) -> _Bulk:
        e = np.empty(0, dtype=np.int64)
        return cls(e, e.copy(), e.copy(), np.empty(0, dtype=np.intp))

    def find(self, entry_id: int) -> int:
        """Position of ``entry_id`` in the arrays, or -1."""
        if self.n == 0:
            return -1
        i = int(self.ids.searchsorted(entry_id, sorter=self.id_order))
        if i < self.n:
            pos = int(self.id_order[i])
            if int(self.ids[pos]) == entry_id:
                return pos
        return -1

    def find_many(self, entry_ids: np.ndarray) -> np.ndarray:
        """Positions of ``entry_ids`` (-1 where absent)."""
        if self.n == 0 or entry_ids.size == 0:
            return np.full(entry_ids.shape, -1, dtype=np.intp)
        i = np.searchsorted(self.ids, entry_ids, sorter=self.id_order)
        i = np.minimum(i, self.n - 1)
        pos = self.id_order[i]
        return np.where(self.ids[pos] == entry_ids, pos, -1)

    @property
    def nbytes(self) -> int:
        return self.skel.nbytes + self.exact.nbytes + self.ids.nbytes + self.id_order.nbytes + self.presence.nbytes


_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


def _check_entry_id(entry_id: object) -> int:
    eid = operator.index(entry_id)  # TypeError for floats/str
    if not _INT64_MIN <= eid <= _INT64_MAX:
        raise ValueError(f"entry id {eid} is outside int64")
    return eid


def _as_entry_id_array(entry_ids: object) -> np.ndarray:
    arr = np.asarray(entry_ids)
    if arr.ndim != 1:
        raise ValueError("entry_ids must be one-dimensional")
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"entry_ids must be integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and arr.size and int(arr.max()) > _INT64_MAX:
        raise ValueError("entry id outside int64")
    return arr.astype(np.int64, copy=False)


def _block_bytes(vrms: Sequence[str] | np.ndarray, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of the input as an (m, _WIDTH) uint8 array, NUL padded."""
    block = vrms[start:stop]
    if isinstance(block, np.ndarray):
        if block.dtype.kind == "O":
            block = block.tolist()
        elif block.dtype.kind not in "US":
            raise TypeError(f"vrms array must hold strings, got dtype {block.dtype}")
    if not isinstance(block, np.ndarray):
        kinds = set(map(type, block))
        if not kinds <= {str}:
            bad = next(v for v in block if type(v) is not str)
            raise TypeError(f"VRMs must be str, got {type(bad).__name__}: {bad!r}")
    try:
        arr = np.asarray(block, dtype=f"S{_WIDTH}") if not isinstance(block, np.ndarray) else block.astype(f"S{_WIDTH}")
    except UnicodeEncodeError as exc:
        raise ValueError(f"VRMs are not normalised (A-Z, 0-9 only): {exc}") from None
    return arr.view(np.uint8).reshape(-1, _WIDTH)


def _encode_block(raw: np.ndarray, byte_rep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes, skeleton codes, bad-row mask) of an (m, _WIDTH) uint8 block."""
    vals = _BYTE_VALUE[raw]
    present = vals != 0
    bad = (vals == _INVALID).any(axis=1)
    bad |= ~present[:, 0]  # empty
    bad |= present[:, MAX_VRM_LENGTH]  # longer than MAX_VRM_LENGTH
    bad |= (~present[:, :-1] & present[:, 1:]).any(axis=1)  # interior NUL
    reps = byte_rep[vals]
    m = vals.shape[0]
    code = np.zeros(m, dtype=np.int64)
    skel = np.zeros(m, dtype=np.int64)
    for i in range(MAX_VRM_LENGTH):
        code <<= _BITS
        code |= vals[:, i]
        skel <<= _BITS
        skel |= reps[:, i]
    return code, skel, bad


def _count_less(values: np.ndarray, order: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """For each key, how many of ``values[order]`` (ascending) are < key: ``searchsorted`` through a
    permutation shorter than ``values``, vectorised over the keys (log2(len(order)) steps)."""
    lo = np.zeros(keys.size, dtype=np.intp)
    hi = np.full(keys.size, order.size, dtype=np.intp)
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) >> 1
        less = values[order[np.minimum(mid, order.size - 1)]] < keys
        lo = np.where(active & less, mid + 1, lo)
        hi = np.where(active & ~less, mid, hi)


def _merge(
    bulk: _Bulk, remove_pos: np.ndarray, add_codes: np.ndarray, add_skels: np.ndarray, add_ids: np.ndarray
) -> _Bulk:
    """New bulk arrays = ``bulk`` minus positions ``remove_pos`` plus the additions, without a re-sort.

    A handful of O(n) passes (mostly sequential) plus one random gather to remap ``id_order``.  The
    caller guarantees that the added ids are not among the kept rows.
    """
    n, a = bulk.n, add_ids.size
    if remove_pos.size == 0 and a == 0:
        return bulk  # nothing to do: share the immutable arrays
    if remove_pos.size:
        keep = np.ones(n, dtype=bool)
        keep[remove_pos] = False
        skel, exact, ids = bulk.skel[keep], bulk.exact[keep], bulk.ids[keep]
        rank = np.cumsum(keep, dtype=np.intp)  # old position -> 1 + position among the kept rows
        rank -= 1
        order = bulk.id_order[keep[bulk.id_order]]
        del keep
    else:
        skel, exact, ids = bulk.skel, bulk.exact, bulk.ids
        rank = np.arange(n, dtype=np.intp)
        order = bulk.id_order
    if a:
        by_skel = np.argsort(add_skels, kind="stable")
        ns, ne, ni = add_skels[by_skel], add_codes[by_skel], add_ids[by_skel]
        ins = np.searchsorted(skel, ns)
        # np.insert puts value j (ins ascending) at ins[j] + j and shifts a kept row at p by the number
        # of ins[j] <= p.  (One extra element so that removed rows, whose rank is meaningless and may
        # be -1, still index something; their values are never used.)
        shift = np.cumsum(np.bincount(ins, minlength=skel.size + 1))
        skel = np.insert(skel, ins, ns)
        exact = np.insert(exact, ins, ne)
        ids = np.insert(ids, ins, ni)
        rank += shift[rank]  # rank is ascending, so this gather is sequential
        del shift
    order = rank[order]  # old id order -> final positions, still in id order
    del rank
    if a:
        new_pos = ins + np.arange(a)
        by_id = np.argsort(ni, kind="stable")
        points = _count_less(ids, order, ni[by_id])
        order = np.insert(order, points, new_pos[by_id])
    return _Bulk(skel, exact, ids, order.astype(np.intp, copy=False))


class VoiIndex:
    """VRM -> VOI entry ids, with exact and look-alike matching.

    Create with :meth:`build` (bulk load) or :meth:`empty`; change with :meth:`add` / :meth:`remove`
    (overlay, O(1)-ish) and fold the overlay in with :meth:`compact` (returns a new index).

    Entry ids are unique int64 values; several ids may share one VRM.  All VRMs given to and accepted by
    the index must already be normalised (see :func:`normalise_vrm`); invalid ones raise ``ValueError``
    rather than silently never matching.

    Not thread-safe for mutation: call :meth:`add`, :meth:`remove`, :meth:`match` from one thread (the
    event loop).  :meth:`build` and :meth:`compact` may run in a worker thread (see :meth:`compact`).
    """

    __slots__ = (
        "_bulk",
        "_classes",
        "_folded_ids",
        "_ov",
        "_ov_live",
        "_ov_masked",
        "_ov_skel",
        "_source_bulk",
    )

    def __init__(self, bulk: _Bulk, classes: LookalikeClasses) -> None:
        """Internal; use :meth:`build` or :meth:`empty`."""
        self._classes = classes
        self._bulk = bulk
        # entry id -> (code, skeleton) overriding the bulk entry with that id, or None = tombstone of a
        # bulk entry.  An id is in _ov only while its state differs from the bulk arrays.
        self._ov: dict[int, tuple[int, int] | None] = {}
        # skeleton -> {entry id: code} for the live overlay entries.
        self._ov_skel: dict[int, dict[int, int]] = {}
        self._ov_live = 0  # overlay entries with a VRM
        self._ov_masked = 0  # overlay keys that hide a bulk entry
        self._folded_ids: frozenset[int] | None = None  # set by compact(), used by catch_up()
        self._source_bulk: _Bulk | None = None

    # ----------------------------------------------------------------------------------------- build
    @classmethod
    def empty(cls, *, classes: LookalikeClasses | None = None) -> VoiIndex:
        return cls(_Bulk.empty(), classes if classes is not None else LookalikeClasses())

    @classmethod
    def build(
        cls,
        vrms: Sequence[str] | np.ndarray | Iterable[str],
        entry_ids: Sequence[int] | np.ndarray,
        *,
        classes: LookalikeClasses | None = None,
    ) -> VoiIndex:
        """Bulk load ``vrms[i] -> entry_ids[i]``.

        ``vrms``: normalised VRMs as a list/tuple of str, a numpy ``U``/``S`` array (fastest, e.g. an
        ``S10`` array), or any iterable of str (materialised).  ``entry_ids``: unique integers (int64).

        Raises ``ValueError`` when a VRM is not normalised/valid (reporting how many and the first
        positions), when the lengths differ or ids repeat; ``TypeError`` for non-str VRMs.  Pure: the
        result is a new object that shares nothing mutable, so it can be built in a worker thread and
        swapped in.
        """
        classes = classes if classes is not None else LookalikeClasses()
        if not isinstance(vrms, (np.ndarray, list, tuple)):
            if isinstance(vrms, (str, bytes)):
                raise TypeError("vrms must be a sequence of VRMs, not one string")
            vrms = list(vrms)
        if isinstance(vrms, np.ndarray) and vrms.ndim != 1:
            raise ValueError("vrms must be one-dimensional")
        ids = _as_entry_id_array(entry_ids)
        n = len(vrms)
        if ids.shape[0] != n:
            raise ValueError(f"{n} VRMs but {ids.shape[0]} entry ids")
        if n == 0:
            return cls(_Bulk.empty(), classes)

        codes = np.empty(n, dtype=np.int64)
        skels = np.empty(n, dtype=np.int64)
        bad_rows: list[np.ndarray] = []
        for start in range(0, n, _CHUNK):
            stop = min(start + _CHUNK, n)
            c, s, bad = _encode_block(_block_bytes(vrms, start, stop), classes._byte_rep)
            codes[start:stop] = c
            skels[start:stop] = s
            if bad.any():
                bad_rows.append(np.flatnonzero(bad) + start)
        if bad_rows:
            rows = np.concatenate(bad_rows)
            shown = ", ".join(f"[{int(i)}]={vrms[int(i)]!r}" for i in rows[:5])
            raise ValueError(f"{rows.size} VRMs are not normalised 1-{MAX_VRM_LENGTH} chars of A-Z0-9: {shown}")

        order = np.argsort(skels)
        skels = skels[order]
        codes = codes[order]
        ids = ids[order]
        del order
        id_order = np.argsort(ids)
        sorted_ids = ids[id_order]
        dup = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
        if dup.size:
            raise ValueError(f"{dup.size} duplicate entry ids, e.g. {int(sorted_ids[dup[0]])}")
        del sorted_ids
        return cls(_Bulk(skels, codes, ids, id_order.astype(np.intp, copy=False)), classes)

    # ----------------------------------------------------------------------------------------- match
    def match(self, vrm: str, *, max_differences: int = 1) -> list[Match]:
        """Entries matching the normalised read ``vrm``.

        Returns exact matches first (by entry id), then look-alike matches with 1..``max_differences``
        differing positions (by number of differences, positions, entry id).  ``max_differences=0``
        gives exact matches only.  Raises ``ValueError`` if ``vrm`` is not a normalised VRM (so a
        forgotten normalisation cannot silently miss a hit).
        """
        if max_differences < 0:
            raise ValueError("max_differences must be >= 0")
        code, skel = self._classes.encode(vrm)
        return self.match_encoded(code, skel, max_differences)

    def match_encoded(self, code: int, skel: int, max_differences: int, lo: int = -1) -> list[Match]:
        """:meth:`match` for a VRM already packed by :meth:`LookalikeClasses.encode` (or
        ``encode_many``) with this index's classes; ``lo``: where ``skel`` sorts in the bulk
        arrays, when :meth:`locate` has found it already."""
        bulk = self._bulk
        found: list[tuple[int, tuple[int, ...], int, int]] = []  # (n differences, positions, entry id, code)

        sk = bulk.skel
        if lo < 0:
            lo = int(sk.searchsorted(skel))
        if lo < bulk.n and bulk.skel_mv[lo] == skel:
            hi = lo + 1
            if hi < bulk.n and bulk.skel_mv[hi] == skel:
                hi = int(sk.searchsorted(skel, side="right"))
            if hi - lo > _VECTOR_GROUP:
                self._match_big_group(lo, hi, code, max_differences, found)
            else:
                ov = self._ov
                if hi - lo == 1:  # the usual case: no slicing
                    candidates = ((bulk.exact_mv[lo], bulk.ids_mv[lo]),)
                else:
                    candidates = zip(bulk.exact_mv[lo:hi], bulk.ids_mv[lo:hi])
                for c, eid in candidates:
                    if ov and eid in ov:
                        continue  # removed or superseded by the overlay
                    if c == code:
                        found.append((0, (), eid, c))
                    elif max_differences:
                        x = c ^ code
                        y = x | (x >> 1) | (x >> 2)
                        y = (y | (y >> 3)) & _FIELD_LOW_BITS  # bit 0 of each field = field differs
                        nd = y.bit_count()
                        if nd == 1:
                            found.append((1, (_LOW_BIT_POSITION[y],), eid, c))
                        elif nd <= max_differences:
                            found.append(_with_positions(y, eid, c))

        group = self._ov_skel.get(skel)
        if group:
            for eid, c in group.items():
                if c == code:
                    found.append((0, (), eid, c))
                elif max_differences:
                    x = c ^ code
                    y = x | (x >> 1) | (x >> 2)
                    y = (y | (y >> 3)) & _FIELD_LOW_BITS
                    if y.bit_count() <= max_differences:
                        found.append(_with_positions(y, eid, c))

        if not found:
            return []
        if len(found) > 1:
            found.sort()
        return [_new_tuple(Match, (eid, not nd, pos, c)) for nd, pos, eid, c in found]

    def _match_big_group(self, lo: int, hi: int, code: int, max_differences: int, found: list) -> None:
        """Vectorised scan of a large skeleton group (e.g. short dateless marks)."""
        bulk = self._bulk
        codes = bulk.exact[lo:hi]
        if max_differences:
            x = codes ^ code
            y = x | (x >> 1) | (x >> 2)
            y = (y | (y >> 3)) & _FIELD_LOW_BITS
            rows = np.flatnonzero(np.bitwise_count(y) <= max_differences)
            masks = y[rows].tolist()
        else:
            rows = np.flatnonzero(codes == code)
            masks = [0] * rows.size
        ov = self._ov
        for eid, y, c in zip(bulk.ids[lo:hi][rows].tolist(), masks, codes[rows].tolist()):
            if ov and eid in ov:
                continue
            found.append(_with_positions(y, eid, c) if y else (0, (), eid, c))

    def groups(self, skels: np.ndarray) -> list[tuple[int, int, int]]:
        """``(k, entry id, code)`` of every live entry whose skeleton code is ``skels[k]`` (int64
        codes packed like :meth:`LookalikeClasses.encode`'s second value): the candidates of reads
        with one character too many, looked up by their deletions.  One vectorised search."""
        bulk = self._bulk
        out: list[tuple[int, int, int]] = []
        if bulk.n and skels.size:
            found, lo = find_sorted(bulk.skel, bulk.presence, skels)
            present = np.flatnonzero(found)
            ov = self._ov
            skel_mv, exact_mv, ids_mv = bulk.skel_mv, bulk.exact_mv, bulk.ids_mv
            for k, i in zip(present.tolist(), lo[present].tolist()):
                key = skel_mv[i]
                while i < bulk.n and skel_mv[i] == key:
                    eid = ids_mv[i]
                    if not (ov and eid in ov):
                        out.append((k, eid, exact_mv[i]))
                    i += 1
        if self._ov_skel:
            for k, key in enumerate(skels.tolist()):
                for eid, code in self._ov_skel.get(key, {}).items():
                    out.append((k, eid, code))
        return out

    def present(self, skels: np.ndarray) -> np.ndarray:
        """For each skeleton code, whether any entry (bulk or overlay) has it: one vectorised search,
        so that :meth:`match_encoded` is called only for the reads that can match."""
        return self.locate(skels)[0]

    def locate(self, skels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(:meth:`present`, where each skeleton sorts in the bulk arrays) in one vectorised search."""
        bulk = self._bulk
        found, lo = find_sorted(bulk.skel, bulk.presence, skels)
        if self._ov_skel:
            found |= np.fromiter((k in self._ov_skel for k in skels.tolist()), dtype=bool, count=skels.size)
        return found, lo

    def bulk_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The read-only bulk ``(skeleton codes, codes, entry ids)`` rows, sorted by skeleton; rows
        whose id is in the overlay are stale (see :meth:`is_live`)."""
        return self._bulk.skel, self._bulk.exact, self._bulk.ids

    def overlay_entries(self) -> list[tuple[int, int, int]]:
        """``(entry id, code, skeleton code)`` of the live entries in the overlay."""
        return [(eid, st[0], st[1]) for eid, st in list(self._ov.items()) if st is not None]

    def is_live(self, entry_id: int, code: int) -> bool:
        """True when entry ``entry_id`` is live with the packed VRM ``code`` (checks a candidate found
        through a structure built from an older state of this index)."""
        return self._code_of(entry_id) == code

    def outside_overlay(self, entry_id: int, code: int) -> bool:
        """:meth:`is_live` for a row of this index's own bulk arrays (live unless the overlay
        replaced or removed the entry): no search."""
        return entry_id not in self._ov

    # ------------------------------------------------------------------------------ incremental changes
    def add(self, vrm: str, entry_id: int) -> None:
        """Insert or replace entry ``entry_id`` with the normalised ``vrm`` (upsert, idempotent).

        If the id is already live (in the bulk arrays or the overlay) its old VRM stops matching.
        """
        eid = _check_entry_id(entry_id)
        code, skel = self._classes.encode(vrm)
        bpos = self._bulk.find(eid)
        self._ov_discard(eid, bpos >= 0)
        if bpos >= 0 and int(self._bulk.exact[bpos]) == code:
            return  # the bulk entry is live again, unchanged
        self._ov[eid] = (code, skel)
        self._ov_skel.setdefault(skel, {})[eid] = code
        self._ov_live += 1
        if bpos >= 0:
            self._ov_masked += 1

    def remove(self, entry_id: int) -> bool:
        """Remove entry ``entry_id``; True if it was live, False if unknown/already removed."""
        eid = _check_entry_id(entry_id)
        in_bulk = self._bulk.find(eid) >= 0
        if eid in self._ov:
            if self._ov[eid] is None:
                return False
            self._ov_discard(eid, in_bulk)
        elif not in_bulk:
            return False
        if in_bulk:
            self._ov[eid] = None
            self._ov_masked += 1
        return True

    def _ov_discard(self, eid: int, in_bulk: bool) -> None:
        if eid not in self._ov:
            return
        state = self._ov.pop(eid)
        if in_bulk:
            self._ov_masked -= 1
        if state is not None:
            self._ov_live -= 1
            skel = state[1]
            group = self._ov_skel[skel]
            del group[eid]
            if not group:
                del self._ov_skel[skel]

    # ------------------------------------------------------------------------------------- compaction
    def compact(self) -> VoiIndex:
        """Return a NEW index with the overlay folded into the bulk arrays; ``self`` is unchanged.

        Cost is O(n) copying (about a second per 10M entries), no re-sort.  The overlay is read through
        one atomic ``dict`` copy and the bulk arrays are immutable, so this may run in a worker thread
        (``await loop.run_in_executor(None, index.compact)``) while the event loop keeps calling
        ``match``/``add``/``remove`` on ``self``.  Changes made to ``self`` after that snapshot are not
        in the result: call ``new.catch_up(self)`` on the loop thread, then swap ``new`` in.
        """
        snap = self._ov.copy()  # atomic under the GIL
        bulk = self._bulk
        keys = np.fromiter(snap.keys(), dtype=np.int64, count=len(snap))
        pos = bulk.find_many(keys)
        remove_pos = np.sort(pos[pos >= 0])
        live = [(eid, st) for eid, st in snap.items() if st is not None]
        add_ids = np.fromiter((eid for eid, _ in live), dtype=np.int64, count=len(live))
        add_codes = np.fromiter((st[0] for _, st in live), dtype=np.int64, count=len(live))
        add_skels = np.fromiter((st[1] for _, st in live), dtype=np.int64, count=len(live))
        new = VoiIndex(_merge(bulk, remove_pos, add_codes, add_skels, add_ids), self._classes)
        new._folded_ids = frozenset(snap)
        new._source_bulk = bulk
        return new

    def catch_up(self, source: VoiIndex) -> int:
        """Apply to this index (made by ``source.compact()``) the changes made to ``source`` since.

        Call on the loop thread before swapping this index in; returns the number of ids changed.
        """
        if self._folded_ids is None or source._bulk is not self._source_bulk:
            raise ValueError("catch_up() needs the index this one was compacted from")
        changed = 0
        for eid in self._folded_ids.union(source._ov):
            want = source._code_of(eid)
            if want != self._code_of(eid):
                changed += 1
                if want is None:
                    self.remove(eid)
                else:
                    self.add(decode_vrm(want), eid)
        self._folded_ids = None
        self._source_bulk = None
        return changed

    # ---------------------------------------------------------------------------------- introspection
    def _code_of(self, eid: int) -> int | None:
        if eid in self._ov:
            st = self._ov[eid]
            return None if st is None else st[0]
        pos = self._bulk.find(eid)
        return None if pos < 0 else int(self._bulk.exact[pos])

    def vrm_of(self, entry_id: int) -> str | None:
        """The VRM of a live entry, or None."""
        code = self._code_of(_check_entry_id(entry_id))
        return None if code is None else decode_vrm(code)

    def __contains__(self, entry_id: object) -> bool:
        try:
            eid = _check_entry_id(entry_id)
        except (TypeError, ValueError):
            return False
        return self._code_of(eid) is not None

    def __len__(self) -> int:
        return self._bulk.n - self._ov_masked + self._ov_live

    def iter_entries(self) -> Iterator[tuple[int, str]]:
        """All live ``(entry_id, vrm)`` pairs, bulk first (slow for big indexes; for tests/debugging)."""
        ov = self._ov
        for c, eid in zip(self._bulk.exact.tolist(), self._bulk.ids.tolist()):
            if eid not in ov:
                yield eid, decode_vrm(c)
        for eid, st in list(ov.items()):
            if st is not None:
                yield eid, decode_vrm(st[0])

    @property
    def classes(self) -> LookalikeClasses:
        return self._classes

    @property
    def overlay_size(self) -> int:
        """Number of ids in the overlay (added, replaced or tombstoned); compact when it grows large."""
        return len(self._ov)

    @property
    def nbytes(self) -> int:
        """Bytes held by the bulk numpy arrays (the overlay's Python objects are extra)."""
        return self._bulk.nbytes

    def __repr__(self) -> str:
        return f"<VoiIndex entries={len(self)} bulk={self._bulk.n} overlay={len(self._ov)} {self._classes!r}>"
