"""The bulk part of the VOI index: immutable sorted numpy arrays behind a presence filter, and the
O(n) merge that folds changes into new arrays (see index.py)."""

from __future__ import annotations

import numpy as np


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
        self._bits = _bits(self._hash(codes), log2)

    def _hash(self, keys: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return ((keys.view(np.uint64) * self._MULTIPLIER) >> self._shift).astype(np.intp)

    def maybe(self, keys: np.ndarray) -> np.ndarray:
        h = self._hash(np.ascontiguousarray(keys, dtype=np.int64))
        return (self._bits[h >> 3] >> (h & 7).astype(np.uint8)) & 1 == 1

    @property
    def nbytes(self) -> int:
        return self._bits.nbytes


def _bits(positions: np.ndarray, log2: int, slice_log2: int = 24) -> np.ndarray:
    """A bit array of 2**log2 bits with `positions` set, built a slice at a time in one reused
    byte-per-bit buffer (16 MiB), not one of 2**log2 bytes: a fresh buffer of hundreds of MiB cost
    more in page faults than the setting (a million entries' deletion keys: 1.4 s against 0.2)."""
    size = 1 << log2
    step = min(size, 1 << slice_log2)
    if step == size:
        present = np.zeros(size, dtype=bool)
        present[positions] = True
        return np.packbits(present, bitorder="little")
    out = np.empty(size // 8, dtype=np.uint8)
    present = np.empty(step, dtype=bool)
    slices = (positions >> slice_log2).astype(np.uint16)
    order = positions[np.argsort(slices, kind="stable")]  # by slice (a radix sort of 16-bit keys)
    bounds = np.concatenate([[0], np.cumsum(np.bincount(slices, minlength=size // step))])
    for k in range(size // step):
        present.fill(False)
        present[order[bounds[k] : bounds[k + 1]] - k * step] = True
        out[k * step // 8 : (k + 1) * step // 8] = np.packbits(present, bitorder="little")
    return out


def find_sorted(array: np.ndarray, presence: PresenceFilter | None, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(found, lo): whether each key is in the sorted ``array``, and where it sorts (valid where
    found); only the keys ``presence`` lets through are searched (all of them without one)."""
    found = np.zeros(keys.shape, dtype=bool)
    lo = np.zeros(keys.shape, dtype=np.intp)
    n = array.shape[0]
    if n and keys.size:
        maybe = np.flatnonzero(presence.maybe(keys)) if presence is not None else np.arange(keys.size)
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
