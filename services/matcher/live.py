"""The matcher's in-memory view of the hotlists, kept current from PostgreSQL.

Every replica loads all entries at start and then applies changes with a version above the last
one it saw, when PostgreSQL notifies it (and on a periodic check, as a backstop).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from anpr.v1 import types_pb2
from services.matcher.store import EntryRow


@dataclass(frozen=True)
class Candidate:
    id: int          # entries.id
    entry_id: str
    hotlist_id: str
    firearms: bool
    exact: bool
    differing_positions: tuple[int, ...]


class LiveHotlists:
    def __init__(self) -> None:
        self.version = 0
        self.hotlists: dict[str, types_pb2.Hotlist] = {}
        self._by_vrm: dict[str, set[int]] = defaultdict(set)
        self._rows: dict[int, EntryRow] = {}
        self._by_entry_id: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def apply_hotlists(self, hotlists: Iterable[types_pb2.Hotlist]) -> None:
        for h in hotlists:
            self.hotlists[h.hotlist_id] = h
            self.version = max(self.version, h.version)

    def apply_entries(self, rows: Iterable[EntryRow]) -> None:
        for row in rows:
            self.version = max(self.version, row.version)
            old = self._by_entry_id.pop(row.entry_id, None)
            if old is not None:
                old_row = self._rows.pop(old)
                self._by_vrm[old_row.vrm].discard(old)
            if not row.deleted:
                self._rows[row.id] = row
                self._by_entry_id[row.entry_id] = row.id
                self._by_vrm[row.vrm].add(row.id)

    def match(self, vrm: str, now: datetime) -> list[Candidate]:
        out = []
        for rid in self._by_vrm.get(vrm, ()):
            row = self._rows[rid]
            if row.weed_at is not None and row.weed_at <= now:
                continue  # lapsed at its weed date
            out.append(Candidate(rid, row.entry_id, row.hotlist_id, row.firearms, True, ()))
        return out
