"""Matcher's SQL: hotlists, entries (versioned, tombstoned), the entry audit, hits, alert
deduplication windows and the outbox.

Every write to hotlists or entries takes HOTLIST_WRITE_LOCK first, so version numbers commit in
order and a replica that has applied version N has seen every change up to N.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import asyncpg
import numpy as np

from anpr.runtime import outbox, pg
from anpr.runtime.errors import AlreadyExists, InvalidArgument
from anpr.v1 import types_pb2
from anpr.vrm import MAX_VRM_LENGTH

CHANGES_CHANNEL = "matcher_changes"
NOTIFY_TOPIC = "notify"
HOTLISTS_TOPIC = "notify-hotlists"  # each change of a list, for notify (its covert flag decides who sees it)
FIREARMS_TOPIC = "firearms"
HISTORICAL_TOPIC = "historical"
HOTLIST_WRITE_LOCK = 0x686F746C
HITS_LOCK = 0x68697473  # record_hits (migration 0005) locks (HITS_LOCK, partition of the entry)


@dataclass(frozen=True)
class EntryChange:
    id: int
    vrm: str
    deleted: bool
    version: int


@dataclass(frozen=True)
class Candidate:
    """A matched entry as stored: what a hit needs besides the read."""

    id: int
    entry: types_pb2.VoiEntry
    hotlist_id: str
    firearms: bool
    weed_at: datetime | None


def is_firearms(entry: types_pb2.VoiEntry) -> bool:
    return types_pb2.WARNING_MARKER_FIREARMS in entry.warning_markers


async def _lock(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", HOTLIST_WRITE_LOCK)


async def _changed(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_notify($1, 'changed')", CHANGES_CHANNEL)


HOTLIST_COLUMNS = ("hotlist_id", "name", "source", "priority", "covert", "match_policy", "version")


def _hotlist(row: asyncpg.Record, count: int = 0) -> types_pb2.Hotlist:
    return types_pb2.Hotlist(**{c: row[c] for c in HOTLIST_COLUMNS}, entry_count=count)


async def upsert_hotlist(
    conn: asyncpg.Connection, h: types_pb2.Hotlist, field: str = "hotlist", new: bool = False
) -> types_pb2.Hotlist:
    """Create or change a list (`new`: only create it), and queue it for notify in the same
    transaction; a name another list has, or with `new` an id one has, is AlreadyExists naming
    `field`."""
    on_conflict = (
        "DO NOTHING"
        if new
        else "DO UPDATE SET name = EXCLUDED.name, source = EXCLUDED.source, priority = EXCLUDED.priority,"
        " covert = EXCLUDED.covert, match_policy = EXCLUDED.match_policy,"
        " version = nextval('entry_version'), updated_at = now()"
    )
    try:
        async with conn.transaction():
            await _lock(conn)
            row = await conn.fetchrow(
                "INSERT INTO hotlists (hotlist_id, name, source, priority, covert, match_policy)"
                f" VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hotlist_id) {on_conflict} RETURNING *",
                h.hotlist_id or str(uuid.uuid4()),
                h.name,
                h.source,
                h.priority,
                h.covert,
                h.match_policy or types_pb2.MATCH_POLICY_LOOKALIKE,
            )
            if row is None:
                raise AlreadyExists(f"{field}.hotlist_id: a list with this id exists")
            saved = _hotlist(row)
            item = outbox.encode_field(1, saved.SerializeToString())  # PublishHotlistsRequest.hotlists
            await outbox.enqueue(conn, HOTLISTS_TOPIC, [(outbox.partition_of(saved.hotlist_id), item, 1)])
            await _changed(conn)
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(f"{field}.name: a list with this name exists") from None
    return saved


async def list_hotlists(conn: asyncpg.Connection) -> list[types_pb2.Hotlist]:
    rows = await conn.fetch(
        "SELECT h.*, (SELECT count(*) FROM entries e WHERE e.hotlist_id = h.hotlist_id AND NOT e.deleted)"
        " AS n FROM hotlists h ORDER BY h.priority DESC, h.name"
    )
    return [_hotlist(r, r["n"]) for r in rows]


_END = 2**63 - 1  # above every version (bigint)


async def hotlists_since(conn: asyncpg.Connection, version: int, below: int = _END) -> list[types_pb2.Hotlist]:
    """The hotlists changed after `version` (and below `below`), in version order."""
    rows = await conn.fetch(
        "SELECT * FROM hotlists WHERE version > $1 AND version < $2 ORDER BY version", version, below
    )
    return [_hotlist(r) for r in rows]


async def hotlist_exists(conn: asyncpg.Connection, hotlist_id: str) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM hotlists WHERE hotlist_id = $1)", hotlist_id)


def _weed(entry: types_pb2.VoiEntry) -> datetime | None:
    return entry.weed_at.ToDatetime(tzinfo=timezone.utc) if entry.HasField("weed_at") else None


class WeedDates(dict):
    """Weed dates as datetimes, each distinct one converted once (an import repeats a few)."""

    def of(self, entry: types_pb2.VoiEntry) -> datetime | None:
        if not entry.HasField("weed_at"):
            return None
        key = (entry.weed_at.seconds, entry.weed_at.nanos)
        if key not in self:
            self[key] = _weed(entry)
        return self[key]


def entry_record(entry: types_pb2.VoiEntry, normalised: str, weeds: WeedDates | None = None) -> tuple:
    weed = weeds.of(entry) if weeds is not None else _weed(entry)
    return (entry.entry_id, entry.hotlist_id, normalised, is_firearms(entry), weed, entry.SerializeToString())


_UPSERT_FROM = """
    INSERT INTO entries (entry_id, hotlist_id, vrm_normalised, firearms, weed_at, data)
    {source}
    ON CONFLICT (entry_id) DO UPDATE SET hotlist_id = EXCLUDED.hotlist_id,
        vrm_normalised = EXCLUDED.vrm_normalised, firearms = EXCLUDED.firearms,
        weed_at = EXCLUDED.weed_at, data = EXCLUDED.data, deleted = false,
        version = nextval('entry_version'), updated_at = now()
    WHERE entries.deleted OR entries.data IS DISTINCT FROM EXCLUDED.data
        OR entries.hotlist_id IS DISTINCT FROM EXCLUDED.hotlist_id
"""


async def upsert_entry(conn: asyncpg.Connection, entry: types_pb2.VoiEntry, normalised: str) -> bool:
    """Create or update one entry; True when it is new (or was deleted), so historical hits apply."""
    async with conn.transaction():
        await _lock(conn)
        was_live = await conn.fetchval(
            "SELECT NOT deleted AND vrm_normalised = $2 FROM entries WHERE entry_id = $1", entry.entry_id, normalised
        )
        await conn.execute(
            _UPSERT_FROM.format(source="VALUES ($1, $2, $3, $4, $5, $6)"), *entry_record(entry, normalised)
        )
        await _changed(conn)
    return not was_live


async def delete_entry(conn: asyncpg.Connection, entry_id: str) -> bool:
    async with conn.transaction():
        await _lock(conn)
        done = await conn.fetchval(
            "UPDATE entries SET deleted = true, version = nextval('entry_version'), updated_at = now()"
            " WHERE entry_id = $1 AND NOT deleted RETURNING true",
            entry_id,
        )
        await _changed(conn)
    return bool(done)


# An import's staged rows, as COPY names them (their binary format: entry_columns.py)
COPY_COLUMNS = ("entry_id", "hotlist_id", "vrm_normalised", "firearms", "weed_at", "data")
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
COPY_TRAILER = struct.pack("!h", -1)


async def _chunks(*chunks: bytes):
    """An async iterable of bytes: what asyncpg's COPY takes as data (bytes alone it takes as a path)."""
    for chunk in chunks:
        yield chunk


IMPORT_SEND_BUFFER = 4 << 20  # a COPY of an import message (10,000 entries: 2.8 MB) in one write


class HotlistImport:
    """Replace a whole list in one transaction. Each message's entries are written to the list as
    they arrive (staged with COPY, then the new ones added and those that differ changed, in the
    database while the next message is read and checked), and the entries the import did not name
    are removed at the end; matching never sees half a list, as nothing is committed before the
    end. The writers' lock is held from the start, so that every version the import gives is
    committed before any later one (the followers read changes in version order). Unchanged entries
    keep their version, so replicas only apply what changed."""

    def __init__(self, conn: asyncpg.Connection, hotlist_id: str, max_added_ids: int):
        self._conn = conn
        self.hotlist_id = hotlist_id
        self.max_added_ids = max_added_ids
        self._had_entries = True
        self._direct = False  # rows straight into entries with COPY (see add)
        self._done = ImportResult(added_ids=[], added=0, changed=0, removed=0, first_version=0)
        self._named = 0  # entries written so far (each a live entry of the list: a repeated id is refused)
        # The VRMs of the rows copied straight into the table, in order, while every row went that
        # way: their ids are then the id sequence's next values (see finish), so the importing
        # replica can add them to its index without reading them back (ImportResult.bulk).
        self._direct_vrms: list[np.ndarray] | None = []
        self._id_base = 0  # the id sequence's value before the first row copied

    async def begin(self) -> None:
        pg.widen_send_buffer(self._conn, IMPORT_SEND_BUFFER)
        await _lock(self._conn)
        # entry ids compared as bytes (COLLATE "C", as entries.entry_id is: migration 0008)
        await self._conn.execute(
            'CREATE TEMP TABLE import_chunk (entry_id text COLLATE "C", hotlist_id text,'
            " vrm_normalised text, firearms boolean, weed_at timestamptz, data bytea) ON COMMIT DROP;"
            ' CREATE TEMP TABLE import_ids (entry_id text COLLATE "C" PRIMARY KEY) ON COMMIT DROP'
        )
        self._had_entries = await self._conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM entries WHERE hotlist_id = $1 AND NOT deleted)", self.hotlist_id
        )
        self._direct = not self._had_entries

    async def add(
        self, records: Sequence[tuple], copy_rows: bytes = b"", copied_ids=None, copied_vrms: np.ndarray | None = None
    ) -> None:
        """Write entries to the list: `records`, and `copy_rows` already in COPY's binary format
        (COPY_COLUMNS, without header and trailer; entry_columns.py) with their ids as an Arrow
        array (`copied_ids`) and, if known, their normalised VRMs (`copied_vrms`, S10). Into a list
        that had no live entries, rows go straight into the table with COPY (the bulk of a first
        import: no lookup of each id), unless one of them is stored already (deleted, on another
        list, or repeated): then, as every other row, by way of a staging table, adding the new and
        changing those that differ."""
        done = self._done
        self._named += len(records) + (len(copied_ids) if copy_rows else 0)
        if copy_rows and self._direct:
            if not done.first_version:  # below every version and id the import gives (the lock is held)
                row = await self._conn.fetchrow(
                    "SELECT nextval('entry_version') AS version, nextval(pg_get_serial_sequence('entries', 'id')) AS id"
                )
                done.first_version, self._id_base = row["version"], row["id"]
            try:
                async with self._conn.transaction():  # a savepoint: a stored id undoes this COPY alone
                    await self._copy("entries", copy_rows)
            except asyncpg.UniqueViolationError:
                self._direct = False  # ids stored before: the rest the staged way
            else:
                done.added += len(copied_ids)
                want = self.max_added_ids + 1 - len(done.added_ids)
                done.added_ids.extend(copied_ids.slice(0, max(want, 0)).to_pylist())
                if self._direct_vrms is not None and copied_vrms is not None:
                    self._direct_vrms.append(copied_vrms)
                else:
                    self._direct_vrms = None
                copy_rows = b""
        if records or copy_rows:
            self._direct_vrms = None  # ids from the sequence in between: read back after the commit
            await self._staged(records, copy_rows)

    async def _copy(self, table: str, copy_rows: bytes) -> None:
        await self._conn.copy_to_table(
            table, source=_chunks(COPY_HEADER, copy_rows, COPY_TRAILER), columns=COPY_COLUMNS, format="binary"
        )

    async def _staged(self, records: Sequence[tuple], copy_rows: bytes) -> None:
        conn, done = self._conn, self._done
        try:
            if records:
                await conn.copy_records_to_table("import_chunk", records=records)
            if copy_rows:
                await self._copy("import_chunk", copy_rows)
            if not self._had_entries and await conn.fetchval(_IMPORT_REPEATS, self.hotlist_id):
                raise asyncpg.UniqueViolationError("an id this import wrote already")
            stored = await conn.fetchrow(
                _IMPORT_STAGED,
                self.max_added_ids + 1 - len(done.added_ids),
                self.max_added_ids + 1 - len(done.rewatched_ids),
            )
        except asyncpg.UniqueViolationError:
            raise InvalidArgument.of("entries", "entry_id repeated in the import") from None
        await conn.execute("TRUNCATE import_chunk")
        done.added_ids.extend(stored["ids"] or [])
        done.added += stored["added"]
        versions = [v for v in (done.first_version, stored["added_first"], stored["changed_first"]) if v]
        done.first_version = min(versions, default=0)
        done.changed += stored["changed"]
        done.rewatched_ids.extend(stored["rewatched_ids"] or [])
        done.rewatched += stored["rewatched"]

    async def finish(self) -> "ImportResult":
        """Remove the list's entries the import did not name, and give the list its new version;
        returns the entries added, changed and removed (see ImportResult)."""
        # Every entry the import named is now a live entry of the list, so there are entries to
        # remove only if it has more (counted from its index: 0.05 s for the million of a daily
        # re-import of an unchanged extract, where looking each up for removal took 0.7-1.0 s).
        if self._had_entries and await self._conn.fetchval(_LIVE_IN_LIST, self.hotlist_id) > self._named:
            self._done.removed = await self._conn.fetchval(
                "WITH gone AS (UPDATE entries SET deleted = true, version = nextval('entry_version'), updated_at = now()"
                " WHERE hotlist_id = $1 AND NOT deleted"
                " AND NOT EXISTS (SELECT 1 FROM import_ids i WHERE i.entry_id = entries.entry_id)"
                " RETURNING 1) SELECT count(*) FROM gone",
                self.hotlist_id,
            )
        version = await self._conn.fetchval(
            "UPDATE hotlists SET version = nextval('entry_version'), updated_at = now() WHERE hotlist_id = $1"
            " RETURNING version",
            self.hotlist_id,
        )
        await _changed(self._conn)
        self._done.bulk = await self._direct_bulk(version)
        return self._done

    async def _direct_bulk(self, list_version: int) -> "ImportedBulk | None":
        """The entries of an import whose every row was copied straight into the table, as the
        index takes them, when their ids are known: COPY gave each row, in order, the id sequence's
        next value, and if this session's last value is the base plus their number, no other
        session took one in between (the writers' lock keeps them out; any that did not is seen)."""
        if not self._direct_vrms or self._done.changed or self._done.removed:
            return None
        vrms = np.concatenate(self._direct_vrms)
        last = await self._conn.fetchval("SELECT currval(pg_get_serial_sequence('entries', 'id'))")
        if last != self._id_base + vrms.size:
            return None
        ids = np.arange(self._id_base + 1, last + 1, dtype=np.int64)
        return ImportedBulk(self._done.first_version, list_version - 1, ids, vrms)


_LIVE_IN_LIST = "SELECT count(*) FROM entries WHERE hotlist_id = $1 AND NOT deleted"

# Into a list that had no live entries, a live entry of the list with an id of the message's was
# written by this import: the id is repeated (those the import staged are in import_ids too).
_IMPORT_REPEATS = """
    SELECT EXISTS (SELECT 1 FROM import_chunk i JOIN LATERAL (
        SELECT 1 FROM entries e WHERE e.entry_id = i.entry_id AND e.hotlist_id = $1 AND NOT e.deleted OFFSET 0
    ) e ON true)
"""

# A message's entries (import_chunk), each id looked up once (`looked`: as the entries were when the
# statement began): those whose ids are not stored at all (live, deleted or on another list) are
# added, and the others change where they differ, as _UPSERT_FROM's conflict branch (a deleted entry
# comes back, an entry of another list moves to this one); one deleted until now or with another VRM
# is watched anew and gets a historical check, as UpsertEntry gives one (store.upsert_entry). Every
# id is kept for the end (import_ids: a repeated one is refused). $1 and $2: how many of the added
# ids and of the rewatched ids to return.
# (OFFSET 0 keeps the planner from a join that reads the whole table for every message: it would
# plan with the table's size before the import, and the table grows a message at a time.)
_IMPORT_STAGED = """
    WITH ids AS (
        INSERT INTO import_ids SELECT entry_id FROM import_chunk
    ), looked AS MATERIALIZED (
        SELECT i.*, e.id AS stored_id, e.deleted AS was_deleted, e.vrm_normalised AS was_vrm,
            e.deleted OR e.data IS DISTINCT FROM i.data OR e.hotlist_id IS DISTINCT FROM i.hotlist_id AS differs
        FROM import_chunk i LEFT JOIN LATERAL (
            SELECT e.id, e.deleted, e.vrm_normalised, e.data, e.hotlist_id FROM entries e
            WHERE e.entry_id = i.entry_id OFFSET 0
        ) e ON true
    ), added AS (
        INSERT INTO entries (entry_id, hotlist_id, vrm_normalised, firearms, weed_at, data)
        SELECT entry_id, hotlist_id, vrm_normalised, firearms, weed_at, data FROM looked WHERE stored_id IS NULL
        RETURNING entry_id, version
    ), changed AS (
        UPDATE entries e SET hotlist_id = l.hotlist_id, vrm_normalised = l.vrm_normalised,
            firearms = l.firearms, weed_at = l.weed_at, data = l.data, deleted = false,
            version = nextval('entry_version'), updated_at = now()
        FROM looked l
        WHERE e.id = l.stored_id AND l.differs
        RETURNING e.entry_id, e.version, l.was_deleted OR l.was_vrm <> l.vrm_normalised AS rewatched
    )
    SELECT (SELECT count(*) FROM added) AS added, (SELECT min(version) FROM added) AS added_first,
        (SELECT array_agg(entry_id) FROM (SELECT entry_id FROM added LIMIT greatest($1, 0)) a) AS ids,
        (SELECT count(*) FROM changed) AS changed, (SELECT min(version) FROM changed) AS changed_first,
        (SELECT count(*) FROM changed WHERE rewatched) AS rewatched,
        (SELECT array_agg(entry_id) FROM (SELECT entry_id FROM changed WHERE rewatched LIMIT greatest($2, 0)) a)
            AS rewatched_ids
"""


@dataclass
class ImportResult:
    """What an import did. `added_ids`: ids of the entries added, at most max_added_ids + 1 of
    them; `rewatched_ids`: of the changed entries, those deleted until now or with a new VRM (at most
    as many); `first_version`: the lowest version the import gave an entry it added or changed (0
    when none), so that those are the entries of the list with a version at least that."""

    added_ids: list[str]
    added: int
    changed: int
    removed: int
    first_version: int
    rewatched_ids: list[str] = field(default_factory=list)
    rewatched: int = 0
    bulk: "ImportedBulk | None" = None  # the entries added, when an index can take them as they are


@dataclass(frozen=True)
class ImportedBulk:
    """Entries an import added to a list with no live entries, each row straight into the table:
    their ids and normalised VRMs (S10), every version they took above `first_version` and at most
    `last_version` (the writers' lock held: no other change has a version between the two)."""

    first_version: int
    last_version: int
    ids: np.ndarray
    vrms: np.ndarray


async def entry_changes_since(
    conn: asyncpg.Connection, version: int, below: int = _END, limit: int | None = None
) -> list[EntryChange]:
    """The entries changed after `version` (and below `below`), in version order, at most `limit`."""
    rows = await conn.fetch(
        "SELECT id, vrm_normalised, deleted, version FROM entries WHERE version > $1 AND version < $2"
        " ORDER BY version LIMIT $3",
        version,
        below,
        limit,
    )
    return [EntryChange(r["id"], r["vrm_normalised"], r["deleted"], r["version"]) for r in rows]


async def more_changes_since(conn: asyncpg.Connection, version: int, than: int) -> bool:
    """Whether more than `than` entries changed after `version`: counts no further than that (after
    a million-entry import, counting them all took a second of a refresh that reloads them anyway)."""
    return await conn.fetchval(
        "SELECT count(*) > $2 FROM (SELECT 1 FROM entries WHERE version > $1 ORDER BY version LIMIT $2 + 1) c",
        version,
        than,
    )


SPARE_CONNECTION_WAIT_S = 1.0  # for a second connection to read half the entries on (live_entries)
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+(-[0-9A-F]+)+")


async def live_entries(
    conn: asyncpg.Connection, batch: int = 1_000_000, pool: asyncpg.Pool | None = None, split_at: int = 200_000
) -> tuple[int, np.ndarray, np.ndarray]:
    """Every live entry as arrays (ids int64, VRMs S10) for a bulk load, and the version they are
    at. Each batch of entries (in id order) comes as two values, its ids as one run of 8-byte
    integers and its VRMs padded to ten characters in one text, so that no Python object is made
    per entry (a million entries: 0.4 s against 0.9 s as rows). In the caller's repeatable-read
    transaction if it has one (changes_since), else in one of its own. With a `pool` that has a
    connection to spare and ids spanning more than `split_at`, the upper half of the ids is read on
    that connection in the same snapshot (exported to it), so that two backends read at once: the
    first read after a million-entry import sets every row's hint bits, 2.0 s on one backend."""
    if not conn.is_in_transaction():
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return await live_entries(conn, batch, pool, split_at)
    version = await conn.fetchval(
        "SELECT greatest((SELECT coalesce(max(version), 0) FROM entries),"
        " (SELECT coalesce(max(version), 0) FROM hotlists))"
    )
    span = await conn.fetchrow("SELECT min(id) AS first, max(id) AS last FROM entries")
    if span["first"] is None:
        return version, np.empty(0, np.int64), np.empty(0, f"S{MAX_VRM_LENGTH}")
    first, last = span["first"] - 1, span["last"]  # ids in (first, last]
    other = None
    if pool is not None and last - first > split_at:
        with contextlib.suppress(TimeoutError):  # none to spare: read alone
            other = await pool.acquire(timeout=SPARE_CONNECTION_WAIT_S)
    if other is None:
        parts = [await _live_between(conn, first, last, batch)]
    else:
        try:
            parts = await _live_in_halves(conn, other, first, last, batch)
        finally:
            await pool.release(other)
    ids = [a for p in parts for a in p[0]] or [np.empty(0, np.int64)]
    vrms = [a for p in parts for a in p[1]] or [np.empty(0, f"S{MAX_VRM_LENGTH}")]
    return version, np.concatenate(ids), np.concatenate(vrms)


async def _live_in_halves(
    conn: asyncpg.Connection, other: asyncpg.Connection, first: int, last: int, batch: int
) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    """The live entries with ids in (first, last], the lower half read on `conn` (in a
    repeatable-read transaction, not a savepoint: PostgreSQL exports no snapshot from one) and the
    upper half on `other`, in `conn`'s snapshot."""
    snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
    if not _SNAPSHOT_ID.fullmatch(snapshot):
        raise ValueError(f"unexpected snapshot id {snapshot!r}")
    middle = (first + last) // 2
    async with other.transaction(isolation="repeatable_read", readonly=True):
        await other.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")  # (no parameters in this statement)
        try:
            async with asyncio.TaskGroup() as reads:  # one failing cancels the other
                lower = reads.create_task(_live_between(conn, first, middle, batch))
                upper = reads.create_task(_live_between(other, middle, last, batch))
        except ExceptionGroup as failed:  # the error itself, as one read raises it (a lost connection:
            raise failed.exceptions[0] from None  # UNAVAILABLE to a caller waiting on the refresh)
    return [lower.result(), upper.result()]


async def _live_between(
    conn: asyncpg.Connection, after: int, last: int, batch: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The live entries with ids in (after, last], a batch at a time: (id arrays, VRM arrays)."""
    ids_parts, vrm_parts = [], []
    while True:
        # both aggregates read the same rows in the same order, so the i-th id goes with the i-th VRM
        row = await conn.fetchrow(
            "SELECT string_agg(int8send(id), '') AS ids, string_agg(rpad(vrm_normalised, $3), '') AS vrms,"
            " max(id) AS last"
            " FROM (SELECT id, vrm_normalised FROM entries WHERE NOT deleted AND id > $1 AND id <= $4"
            " ORDER BY id LIMIT $2) b",
            after,
            batch,
            MAX_VRM_LENGTH,
            last,
        )
        if row["last"] is None:
            return ids_parts, vrm_parts
        ids_parts.append(np.frombuffer(row["ids"], dtype=">i8").astype(np.int64))  # int8send: big-endian
        padded = np.frombuffer(row["vrms"].encode("ascii"), dtype=np.uint8).copy()
        padded[padded == 0x20] = 0  # rpad's spaces as the NULs that end a shorter S10 value
        vrm_parts.append(padded.view(f"S{MAX_VRM_LENGTH}"))
        after = row["last"]


@dataclass(frozen=True)
class Changes:
    """What a refresh applies, all read in one snapshot: hotlists changed, and either a full load
    of the live entries (version, ids, VRMs) or the entry changes, after the version applied."""

    hotlists: list[types_pb2.Hotlist]
    bulk: tuple[int, np.ndarray, np.ndarray] | None
    entries: list[EntryChange]


async def changes_before(conn: asyncpg.Connection, version: int, below: int, at_most: int) -> Changes | None:
    """Hotlists and entries changed after `version` and below the version `below`, in one
    snapshot, as changes_since reads them; None when more than `at_most` entries changed (a full
    load is then the way). What a replica applies before an import's own entries (ImportedBulk)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        entries = await entry_changes_since(conn, version, below, at_most + 1)
        if len(entries) > at_most:
            return None
        return Changes(await hotlists_since(conn, version, below), None, entries)


async def changes_since(
    conn: asyncpg.Connection, version: int, full_reload_at: int, pool: asyncpg.Pool | None = None
) -> Changes:
    """Hotlists and entries changed after `version` in ONE repeatable-read snapshot, so that the
    version a replica moves to covers every hotlist change below it (a list made covert while a
    refresh runs is never skipped). A full load when starting (version 0) or after a large change."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        hotlists = await hotlists_since(conn, version)
        if version == 0 or await more_changes_since(conn, version, full_reload_at):
            return Changes(hotlists, await live_entries(conn, pool=pool), [])
        return Changes(hotlists, None, await entry_changes_since(conn, version))


async def candidates(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, Candidate]:
    rows = await conn.fetch(
        "SELECT id, hotlist_id, firearms, weed_at, data FROM entries WHERE id = ANY($1::bigint[]) AND NOT deleted",
        list(ids),
    )
    return {
        r["id"]: Candidate(
            r["id"], types_pb2.VoiEntry.FromString(r["data"]), r["hotlist_id"], r["firearms"], r["weed_at"]
        )
        for r in rows
    }


async def get_entry_audited(
    conn: asyncpg.Connection, entry_id: str, subject: str, role: str, reason: str
) -> types_pb2.VoiEntry | None:
    data = await conn.fetchval("SELECT data FROM entries WHERE entry_id = $1 AND NOT deleted", entry_id)
    if data is None:
        return None
    await conn.execute(
        "INSERT INTO entry_audit (entry_id, subject, role, reason) VALUES ($1, $2, $3, $4)",
        entry_id,
        subject,
        role,
        reason,
    )
    return types_pb2.VoiEntry.FromString(data)


@dataclass(frozen=True)
class Sighting:
    """A hit's key in the alert deduplication windows, and when its read was captured."""

    entry_id: str
    vrm: str
    cell: str
    at: datetime


async def hits_per_read(conn: asyncpg.Connection, read_ids: Sequence[str]) -> dict[str, int]:
    """How many hits each read has made so far (reads with none are left out)."""
    return {
        r["read_id"]: r["n"]
        for r in await conn.fetch(
            "SELECT read_id, count(*) AS n FROM hits WHERE read_id = ANY($1::text[]) GROUP BY read_id",
            list(set(read_ids)),
        )
    }


@dataclass
class Recorded:
    """What recording a batch of hits did: each new hit's count in its dedup window (0: it opens
    one and is alerted; hits made before are left out), and the outbox rows queued per topic (for
    the relays once committed: Outbox.handoff)."""

    repeats: dict[str, int] = field(default_factory=dict)
    queued: dict[str, list[outbox.Queued]] = field(default_factory=dict)


async def record_hits(
    conn: asyncpg.Connection,
    hits: Sequence[tuple[types_pb2.Hit, bool, str]],
    sightings: Sequence[Sighting],
    window: timedelta,
    local: Callable[[str], frozenset[int]] = lambda _topic: frozenset(),
) -> Recorded:
    """Store the hits not made before, count each in its dedup window, mark repeats suppressed and
    queue the new hits for notify (unless a repeat) and firearms (when marked), in partitions by
    entry: one statement (the function record_hits, migration 0005), in the caller's transaction or
    its own. `hits` are (hit, firearms, traceparent), `sightings` their keys in the windows; `local`
    gives the partitions of a topic whose rows this replica hands to its own relay (no NOTIFY)."""
    rows = await conn.fetch(
        "SELECT * FROM record_hits($1::text[], $2::text[], $3::text[], $4::boolean[], $5::int[], $6::text[],"
        " $7::text[], $8::timestamptz[], $9::interval, $10::boolean[], $11::bytea[], $12::text[], $13::int[], $14::int[])",
        [h.hit_id for h, _, _ in hits],
        [h.read.read_id for h, _, _ in hits],
        [h.entry.entry_id for h, _, _ in hits],
        [h.historical for h, _, _ in hits],
        [outbox.partition_of(h.entry.entry_id) for h, _, _ in hits],
        [s.vrm for s in sightings],
        [s.cell for s in sightings],
        [s.at for s in sightings],
        window,
        [firearms for _, firearms, _ in hits],
        [h.SerializeToString() for h, _, _ in hits],
        [t for _, _, t in hits],
        sorted(local(NOTIFY_TOPIC)),
        sorted(local(FIREARMS_TOPIC)),
    )
    out = Recorded()
    for r in rows:
        if r["o_kind"] == "hit":
            out.repeats[r["o_hit_id"]] = r["o_repeats"]
        else:
            record = outbox.OutboxRecord(r["o_id"], r["o_payload"], r["o_records"], "", r["o_part"])
            out.queued.setdefault(r["o_topic"], []).append(outbox.Queued(record, tuple(r["o_older"])))
    return out


def traced_hit_item(hit: types_pb2.Hit, traceparent: str) -> bytes:
    """One item of PublishAlertsRequest.hits / RaiseActivationsRequest.hits (an anpr.v1.TracedHit), as
    record_hits builds them in the database."""
    traced = outbox.encode_field(1, hit.SerializeToString())
    if traceparent:
        traced += outbox.encode_field(2, traceparent.encode())
    return outbox.encode_field(1, traced)


async def queue_historical_check(conn: asyncpg.Connection, entry_ids: Sequence[str], traceparent: str) -> None:
    await outbox.enqueue(
        conn, HISTORICAL_TOPIC, [(outbox.partition_of(e), e.encode(), 1) for e in entry_ids], traceparent
    )


# A historical outbox record is an entry id (checked alone) or, for an import too large to check
# entry by entry, a bulk job: BULK_CHECK, then "<first version>\0<hotlist id>". Ids never hold NUL.
BULK_CHECK = b"\0bulk\0"


@dataclass(frozen=True)
class BulkCheck:
    """Check the entries of `hotlist_id` at `first_version` or later against every recent read."""

    hotlist_id: str
    first_version: int

    def payload(self) -> bytes:
        return BULK_CHECK + f"{self.first_version}\0{self.hotlist_id}".encode()

    @classmethod
    def parse(cls, payload: bytes) -> "BulkCheck | None":
        if not payload.startswith(BULK_CHECK):
            return None
        version, hotlist_id = payload[len(BULK_CHECK) :].decode().split("\0", 1)
        return cls(hotlist_id, int(version))


async def queue_bulk_check(conn: asyncpg.Connection, job: BulkCheck, traceparent: str) -> None:
    await outbox.enqueue(conn, HISTORICAL_TOPIC, [(outbox.partition_of(job.hotlist_id), job.payload(), 1)], traceparent)


async def entry_ids_since(conn: asyncpg.Connection, hotlist_id: str, version: int, batch: int = 100_000) -> np.ndarray:
    """The ids (sorted int64: 8 bytes an entry, for a national list) of the live entries of a
    hotlist with a version at least `version`, converted a batch at a time (see live_entries)."""
    parts = [np.empty(0, np.int64)]
    async with conn.transaction(readonly=True):
        cursor = await conn.cursor(
            "SELECT id FROM entries WHERE hotlist_id = $1 AND version >= $2 AND NOT deleted", hotlist_id, version
        )
        while rows := await cursor.fetch(batch):
            parts.append(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
            del rows
    return np.sort(np.concatenate(parts))


async def entry_by_entry_id(conn: asyncpg.Connection, entry_id: str) -> Candidate | None:
    row = await conn.fetchrow(
        "SELECT id, hotlist_id, firearms, weed_at, data FROM entries WHERE entry_id = $1 AND NOT deleted", entry_id
    )
    if row is None:
        return None
    return Candidate(
        row["id"], types_pb2.VoiEntry.FromString(row["data"]), row["hotlist_id"], row["firearms"], row["weed_at"]
    )
