"""The matcher's in-memory view of the hotlists, kept current from PostgreSQL.

Memory holds only what matching needs at read rate: the VRM index (VRM -> entries.id, numpy arrays
plus a small overlay), its deletion keys (indels.py: reads that dropped a character) and the
hotlists. The index and its deletion keys are built together and swapped together. The entries themselves stay in PostgreSQL and are read for
the (few) reads that match. Every replica bulk-loads at start and then applies changes with a
version above the last one it applied, when PostgreSQL notifies it (and on a periodic backstop).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import numpy as np

from anpr.v1 import types_pb2
from services.matcher.indels import DeletionIndex
from services.matcher.index import LookalikeClasses, VoiIndex
from services.matcher.store import EntryChange

log = logging.getLogger(__name__)

COMPACT_AT = 50_000  # overlay size that triggers folding it into the bulk arrays


class LiveIndex:
    def __init__(
        self,
        classes: LookalikeClasses,
        dropped_characters: bool = True,
        deletion_classes: LookalikeClasses | None = None,
    ):
        self.classes = classes
        self.index = VoiIndex.empty(classes=classes)
        self.deletions = DeletionIndex(self.index, dropped_characters, deletion_classes)
        self.version = 0
        self.hotlists: dict[str, types_pb2.Hotlist] = {}
        self._compacting = False
        self._presence: asyncio.Future | None = None  # the last swapped deletion keys' filter, building

    def __len__(self) -> int:
        return len(self.index)

    async def load(self, version: int, ids: np.ndarray, vrms: np.ndarray) -> None:
        """Replace the index with a bulk load, built in a worker thread (matching goes on with the
        old index meanwhile); changes after `version` are applied afterwards by the caller."""
        index = await asyncio.to_thread(VoiIndex.build, vrms, ids, classes=self.classes)
        self._swap(index, await asyncio.to_thread(self._deletions_of, index))
        self.version = version

    async def add_bulk(self, version: int, ids: np.ndarray, vrms: np.ndarray) -> None:
        """Add an import's new entries (ids the index does not hold) as a bulk load would, without
        reading them back: the index with them merged in and its deletion keys are built in worker
        threads and swapped in, at `version`, the last version the import gave (the caller has
        applied every change below the import's)."""
        index = await asyncio.to_thread(self.index.merged, vrms, ids)
        self._swap(index, await asyncio.to_thread(self._deletions_of, index))
        self.version = max(self.version, version)

    def _deletions_of(self, index: VoiIndex) -> DeletionIndex:
        return DeletionIndex(index, self.deletions.enabled, self.deletions.classes, presence=False)

    def _swap(self, index: VoiIndex, deletions: DeletionIndex) -> None:
        """Swap in a reload's index and its deletion keys, whose presence filter is then built in a
        worker thread (it only speeds lookups up: the new list matches without waiting for it)."""
        self.index, self.deletions = index, deletions
        self._presence = asyncio.ensure_future(asyncio.to_thread(deletions.build_presence))
        self._presence.add_done_callback(_log_failure)

    async def settled(self) -> None:
        """Once the last presence filter being built is (a worker thread cannot be stopped)."""
        if self._presence is not None:
            await asyncio.gather(self._presence, return_exceptions=True)

    def apply_hotlists(self, hotlists: Iterable[types_pb2.Hotlist]) -> None:
        for h in hotlists:
            self.hotlists[h.hotlist_id] = h
            self.version = max(self.version, h.version)

    def apply_entries(self, changes: Iterable[EntryChange]) -> None:
        for c in changes:
            if c.deleted:
                self.index.remove(c.id)  # its deletion keys stay, and are checked against the index
            else:
                self.index.add(c.vrm, c.id)
                self.deletions.add(c.id, self.classes.encode(c.vrm)[0])
            self.version = max(self.version, c.version)

    async def compact_if_needed(self) -> None:
        """Fold a large overlay into new arrays in a worker thread, then swap (matching goes on),
        only if the index is still the one the compaction started from."""
        if self._compacting or self.index.overlay_size < COMPACT_AT:
            return
        self._compacting = True
        try:
            old = self.index
            new = await asyncio.to_thread(old.compact)
            deletions = await asyncio.to_thread(DeletionIndex, new, self.deletions.enabled, self.deletions.classes)
            if self.index is not old:  # a full reload replaced the index meanwhile: it wins
                log.info("index compaction discarded: the index was reloaded meanwhile")
                return
            new.catch_up(old)  # on the loop: no change can come in between this and the swap
            for eid, code, _ in new.overlay_entries():
                deletions.add(eid, code)
            self.index, self.deletions = new, deletions
            log.info("index compacted", extra={"entries": len(new)})
        finally:
            self._compacting = False


def _log_failure(built: asyncio.Future) -> None:
    if not built.cancelled() and built.exception() is not None:  # lookups go on without the filter
        log.error("presence filter of the deletion keys not built", exc_info=built.exception())
