"""Candidates for reads that dropped or added one character (deletion-neighbourhood keys).

A read that dropped a character ("AB12CD" for "AB12CDE") equals one of the listed VRM's *deletions*
(the VRM with one character removed). So every entry's deletions are keyed here, on the look-alike
skeleton (see index.py) so that a dropped character together with look-alike differences is found
too: one ``searchsorted`` per read. A read with one character too many is the other way round: its own
deletions are looked up in the main index (``VoiIndex.groups``), so nothing extra is stored for it.

Memory: one int64 key and one int32 row per entry character (about 80 bytes an entry for 7-character
marks, beside the main index's 32); built in a worker thread with the main index and swapped with it.
The keys point at rows of the main index's bulk arrays; entries changed since (the overlay) are keyed
in a dict, and every candidate is checked against the live index before it is used.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from services.matcher.bulk import PresenceFilter, find_sorted
from services.matcher.index import MAX_VRM_LENGTH, LookalikeClasses, VoiIndex

_BITS = 6
_FIELD = (1 << _BITS) - 1
_SHIFTS = tuple(_BITS * (MAX_VRM_LENGTH - 1 - i) for i in range(MAX_VRM_LENGTH))


def delete_at(code: int, position: int) -> int:
    """The packed code with the character at ``position`` removed (later characters move up)."""
    shift = _SHIFTS[position]
    high = (code >> (shift + _BITS)) << (shift + _BITS)
    return high | ((code & ((1 << shift) - 1)) << _BITS)


def deletions(code: int, length: int) -> list[int]:
    """Distinct codes of ``code`` (of ``length`` characters) with one character removed."""
    out = []
    previous = -1
    for p in range(length):
        field = (code >> _SHIFTS[p]) & _FIELD
        if field != previous:  # deleting either of two equal neighbours gives the same code
            out.append(delete_at(code, p))
        previous = field
    return out


_SHIFT_ARRAY = np.array(_SHIFTS, dtype=np.int64)
_HIGH_SHIFT = _SHIFT_ARRAY + _BITS
_LOW_MASK = (np.int64(1) << _SHIFT_ARRAY) - 1


def deletion_keys(skels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keys, owner) of every distinct one-character deletion of every code in ``skels``:
    ``keys[j]`` is a deletion of ``skels[owner[j]]`` (vectorised over codes and positions at once;
    not sorted)."""
    codes = skels[:, None]
    field = (codes >> _SHIFT_ARRAY) & _FIELD
    previous = np.empty_like(field)
    previous[:, 0] = -1
    previous[:, 1:] = field[:, :-1]
    take = (field != 0) & (field != previous)  # deleting either of two equal neighbours: one key
    keys = ((codes >> _HIGH_SHIFT) << _HIGH_SHIFT) | ((codes & _LOW_MASK) << _BITS)
    owner = np.broadcast_to(np.arange(skels.size, dtype=np.int32)[:, None], take.shape)
    return keys[take], owner[take]


def _all_deletion_keys(skels: np.ndarray, chunk: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
    """``deletion_keys`` of a whole list, in chunks (bounded temporary memory)."""
    keys, owners = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int32)]
    for start in range(0, skels.size, chunk):
        k, o = deletion_keys(skels[start : start + chunk])
        keys.append(k)
        owners.append(o + np.int32(start))
    return np.concatenate(keys), np.concatenate(owners)


_PARALLEL_AT = 1 << 20  # deletion keys (about 7 an entry) from which a build uses a second thread


def _by_key(
    keys: np.ndarray, rows: np.ndarray, threads: ThreadPoolExecutor | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """`keys` sorted, with `rows` in the same order; equal keys keep their order (a stable sort).
    With `threads`, the keys below a pivot are sorted on one of them while the rest are sorted here
    (numpy lets go of the GIL): the same result, the lower part then the upper."""
    if threads is None:
        order = np.argsort(keys, kind="stable")
        return keys[order], rows[order]
    sample = keys[:: max(1, keys.size // 4096)]
    pivot = np.partition(sample, sample.size // 2)[sample.size // 2]
    low = keys < pivot
    lower = threads.submit(_by_key, keys[low], rows[low])
    high = ~low
    upper = _by_key(keys[high], rows[high])
    lower_keys, lower_rows = lower.result()
    return np.concatenate([lower_keys, upper[0]]), np.concatenate([lower_rows, upper[1]])


class DeletionIndex:
    """Entries by the skeletons of their one-character deletions; pairs with one ``VoiIndex``."""

    __slots__ = (
        "_bulk_exact",
        "_classes",
        "_enabled",
        "_exact",
        "_ids",
        "_keys",
        "_overlay",
        "_presence",
        "_rep",
        "_rows",
        "_table",
    )

    def __init__(
        self, index: VoiIndex, enabled: bool = True, classes: LookalikeClasses | None = None, *, presence: bool = True
    ) -> None:
        """Key the bulk rows and the overlay of ``index`` (pure: may run in a worker thread);
        ``enabled=False`` keys nothing (no memory, no dropped-character candidates). ``classes``:
        the skeleton of the keys, narrower than the index's (by default the index's own): a
        dropped character is found together with confusions of these classes only, so that the
        index's wide classes do not bring thousands of candidates the scorer then refuses.
        ``presence=False``: without the keys' presence filter, which :meth:`build_presence` adds
        later (lookups search every key meanwhile: the same answers, at a few microseconds a read
        more), so that a reload's new index can be swapped in before it (0.3-0.6 s a million)."""
        self._enabled = enabled
        self._classes = classes or index.classes
        self._table = self._classes.value_table()
        self._rep = tuple(self._table.tolist())  # the same table, for one code at a time
        _skel, exact, ids = index.bulk_arrays() if enabled else VoiIndex.empty().bulk_arrays()
        keys, rows = _all_deletion_keys(self.skeletons(exact))
        self._presence: PresenceFilter | None = None
        if keys.size < _PARALLEL_AT:
            self._keys, self._rows = _by_key(keys, rows)
            if presence:
                self.build_presence()
        else:  # on both cores: the filter (which takes the keys in any order) and two halves sorted
            with ThreadPoolExecutor(2, thread_name_prefix="deletion-keys") as threads:
                built = threads.submit(PresenceFilter, keys, bits_per_code=16) if presence else None
                self._keys, self._rows = _by_key(keys, rows, threads)
                self._presence = built.result() if built else None
        del keys, rows
        self._bulk_exact = exact  # which bulk rows the keys point at (see lookup)
        self._exact = memoryview(exact)
        self._ids = memoryview(ids)
        self._overlay: dict[int, dict[int, int]] = {}
        for eid, code, _ in index.overlay_entries():
            self.add(eid, code)

    def skeletons(self, codes: np.ndarray) -> np.ndarray:
        """The skeleton codes (of this index's classes) of packed VRM ``codes`` (vectorised)."""
        out = np.empty_like(codes)
        for start in range(0, codes.size, 1 << 16):  # bounded temporary memory for a whole list
            part = codes[start : start + (1 << 16), None]
            out[start : start + part.shape[0]] = np.bitwise_or.reduce(
                self._table[(part >> _SHIFT_ARRAY) & _FIELD] << _SHIFT_ARRAY, axis=1
            )
        return out

    def add(self, entry_id: int, code: int) -> None:
        """Key an entry added to (or changed in) the paired index after this was built."""
        if not self._enabled:
            return
        rep = self._rep
        skel = 0
        for shift in _SHIFTS:
            skel |= rep[(code >> shift) & _FIELD] << shift
        for key in deletions(skel, _length(skel)):
            self._overlay.setdefault(key, {})[entry_id] = code

    def build_presence(self) -> None:
        """Add the keys' presence filter (built first, then set: for a worker thread while lookups
        go on)."""
        if self._presence is None:
            self._presence = PresenceFilter(self._keys, bits_per_code=16)

    def lookup(self, codes: np.ndarray, index: VoiIndex) -> list[tuple[int, int, int]]:
        """``(k, entry id, code)`` of live entries one character longer than the read packed as
        ``codes[k]`` that lose a character to give it, up to confusions of this index's classes
        (checked against ``index``, the live paired index). One vectorised search for all reads."""
        skels = self.skeletons(codes)
        out = []
        n = self._keys.size
        # keyed from the index's own bulk rows: a row is live unless the overlay replaced it
        live = index.outside_overlay if index.bulk_arrays()[1] is self._bulk_exact else index.is_live
        if n and skels.size:
            found, lo = find_sorted(self._keys, self._presence, skels)
            present = np.flatnonzero(found)
            keys = self._keys
            for k, i in zip(present.tolist(), lo[present].tolist(), strict=True):
                key = keys[i]
                while i < n and keys[i] == key:
                    row = int(self._rows[i])
                    eid, code = self._ids[row], self._exact[row]
                    if live(eid, code):
                        out.append((k, eid, code))
                    i += 1
        if self._overlay:
            for k, key in enumerate(skels.tolist()):
                for eid, code in self._overlay.get(key, {}).items():
                    if index.is_live(eid, code):
                        out.append((k, eid, code))
        return out

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def classes(self) -> LookalikeClasses:
        return self._classes

    @property
    def nbytes(self) -> int:
        if not self._enabled:
            return 0
        presence = self._presence.nbytes if self._presence is not None else 0
        return self._keys.nbytes + self._rows.nbytes + presence


def _length(code: int) -> int:
    n = 0
    for shift in _SHIFTS:
        if (code >> shift) & _FIELD == 0:
            break
        n += 1
    return n
