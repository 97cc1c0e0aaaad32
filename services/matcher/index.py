"""In-memory Vehicles-of-Interest (VOI) index for the matcher service.

Maps normalised VRMs to VOI entry ids and answers "which entries does this read match, exactly or
through look-alike characters (B/8, O/0, ...)?".

Data layout
-----------
Each normalised VRM is packed into one int64 *code*, and its look-alike *skeleton* into another
(codes.py): two VRMs have the same skeleton exactly when they have the same length and every
differing position holds two characters of one class.

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

import operator
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

import numpy as np

from anpr.vrm import MAX_VRM_LENGTH, is_valid_vrm, normalise_vrm
from services.matcher.bulk import _Bulk, _merge, find_sorted
from services.matcher.codes import (
    DEFAULT_LOOKALIKE_CLASSES,
    LookalikeClasses,
    _block_bytes,
    _encode_block,
    _with_positions,
    decode_vrm,
    differing_fields,
    scan_group,
)

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

_CHUNK = 1 << 20  # rows per block when encoding bulk input (bounds temporary memory)


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


# Skeleton groups larger than this are scanned with numpy instead of a Python loop.
_VECTOR_GROUP = 48
_new_tuple = tuple.__new__

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


def _encode_all(vrms, classes: LookalikeClasses) -> tuple[np.ndarray, np.ndarray]:
    """(codes, skeleton codes) of normalised VRMs, a block at a time; ValueError naming the first
    that are not normalised."""
    n = len(vrms)
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
    return codes, skels


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

        codes, skels = _encode_all(vrms, classes)
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
        lo, hi = self._group(skel, lo)
        if hi - lo > _VECTOR_GROUP:
            self._match_big_group(lo, hi, code, max_differences, found)
        elif hi - lo == 1:  # the usual case: no slicing
            scan_group(((bulk.exact_mv[lo], bulk.ids_mv[lo]),), code, max_differences, found, self._ov)
        elif hi > lo:  # several entries share the skeleton
            scan_group(
                zip(bulk.exact_mv[lo:hi], bulk.ids_mv[lo:hi], strict=True), code, max_differences, found, self._ov
            )
        group = self._ov_skel.get(skel)
        if group:
            scan_group(zip(group.values(), group.keys(), strict=True), code, max_differences, found)
        if not found:
            return []
        if len(found) > 1:
            found.sort()
        return [_new_tuple(Match, (eid, not nd, pos, c)) for nd, pos, eid, c in found]

    def _group(self, skel: int, lo: int) -> tuple[int, int]:
        """``[lo, hi)``: the bulk rows whose skeleton is ``skel`` (empty when none); ``lo``, when
        not -1, is where it sorts."""
        bulk = self._bulk
        if lo < 0:
            lo = int(bulk.skel.searchsorted(skel))
        if lo >= bulk.n or bulk.skel_mv[lo] != skel:
            return lo, lo
        hi = lo + 1
        if hi < bulk.n and bulk.skel_mv[hi] == skel:
            hi = int(bulk.skel.searchsorted(skel, side="right"))
        return lo, hi

    def _match_big_group(self, lo: int, hi: int, code: int, max_differences: int, found: list) -> None:
        """Vectorised scan of a large skeleton group (e.g. short dateless marks)."""
        bulk = self._bulk
        codes = bulk.exact[lo:hi]
        if max_differences:
            y = differing_fields(codes, code)
            rows = np.flatnonzero(np.bitwise_count(y) <= max_differences)
            masks = y[rows].tolist()
        else:
            rows = np.flatnonzero(codes == code)
            masks = [0] * rows.size
        ov = self._ov
        for eid, y, c in zip(bulk.ids[lo:hi][rows].tolist(), masks, codes[rows].tolist(), strict=True):
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
            for k, i in zip(present.tolist(), lo[present].tolist(), strict=True):
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
    def merged(self, vrms: np.ndarray, entry_ids: np.ndarray) -> VoiIndex:
        """Return a NEW index: this one's entries, the overlay folded in as by :meth:`compact`, and
        ``vrms[i] -> entry_ids[i]`` added (an import's new entries: ids this index does not hold);
        ``self`` is unchanged. For a worker thread, as :meth:`compact`, with the same catch-up.
        Raises ``ValueError`` as :meth:`build` does, and for an id the index holds already."""
        ids = _as_entry_id_array(entry_ids)
        if ids.shape[0] != len(vrms):
            raise ValueError(f"{len(vrms)} VRMs but {ids.shape[0]} entry ids")
        if self._bulk.n == 0 and not self._ov:  # (a first list: sorting them is all there is to do)
            new = VoiIndex.build(vrms, ids, classes=self._classes)
            new._folded_ids, new._source_bulk = frozenset(), self._bulk
            return new
        codes, skels = _encode_all(vrms, self._classes)
        return self._folded(codes, skels, ids)

    def compact(self) -> VoiIndex:
        """Return a NEW index with the overlay folded into the bulk arrays; ``self`` is unchanged.

        Cost is O(n) copying (about a second per 10M entries), no re-sort.  The overlay is read through
        one atomic ``dict`` copy and the bulk arrays are immutable, so this may run in a worker thread
        (``await loop.run_in_executor(None, index.compact)``) while the event loop keeps calling
        ``match``/``add``/``remove`` on ``self``.  Changes made to ``self`` after that snapshot are not
        in the result: call ``new.catch_up(self)`` on the loop thread, then swap ``new`` in.
        """
        e = np.empty(0, dtype=np.int64)
        return self._folded(e, e, e)

    def _folded(self, codes: np.ndarray, skels: np.ndarray, ids: np.ndarray) -> VoiIndex:
        """compact(), with the entries (codes, skeletons, ids) added besides the overlay's."""
        snap = self._ov.copy()  # atomic under the GIL
        bulk = self._bulk
        keys = np.fromiter(snap.keys(), dtype=np.int64, count=len(snap))
        pos = bulk.find_many(keys)
        if ids.size:
            held = (bulk.find_many(ids) >= 0) | np.isin(ids, keys)
            if held.any():
                raise ValueError(f"{int(held.sum())} entry ids held already, e.g. {int(ids[held][0])}")
            in_order = np.sort(ids)  # (an import's ids come in order: a pass)
            if (in_order[1:] == in_order[:-1]).any():
                raise ValueError("duplicate entry ids")
        remove_pos = np.sort(pos[pos >= 0])
        live = [(eid, st) for eid, st in snap.items() if st is not None]
        add_ids = np.fromiter((eid for eid, _ in live), dtype=np.int64, count=len(live))
        add_codes = np.fromiter((st[0] for _, st in live), dtype=np.int64, count=len(live))
        add_skels = np.fromiter((st[1] for _, st in live), dtype=np.int64, count=len(live))
        if ids.size:
            add_ids, add_codes, add_skels = (
                np.concatenate(p) for p in ((add_ids, ids), (add_codes, codes), (add_skels, skels))
            )
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
        for c, eid in zip(self._bulk.exact.tolist(), self._bulk.ids.tolist(), strict=True):
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
