"""Matcher's SQL: hotlists, entries (versioned, tombstoned), the entry audit, hits and the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import asyncpg

from anpr.runtime import outbox
from anpr.v1 import types_pb2

CHANGES_CHANNEL = "matcher_changes"
NOTIFY_TOPIC = "notify"
FIREARMS_TOPIC = "firearms"


@dataclass(frozen=True)
class EntryRow:
    id: int
    entry_id: str
    hotlist_id: str
    vrm: str
    firearms: bool
    weed_at: datetime | None
    deleted: bool
    version: int


def is_firearms(entry: types_pb2.VoiEntry) -> bool:
    return types_pb2.WARNING_MARKER_FIREARMS in entry.warning_markers


def _hotlist(row: asyncpg.Record, count: int = 0) -> types_pb2.Hotlist:
    return types_pb2.Hotlist(
        hotlist_id=row["hotlist_id"], name=row["name"], source=row["source"], priority=row["priority"],
        covert=row["covert"], match_policy=row["match_policy"], version=row["version"], entry_count=count)


async def upsert_hotlist(conn: asyncpg.Connection, h: types_pb2.Hotlist) -> types_pb2.Hotlist:
    row = await conn.fetchrow(
        """
        INSERT INTO hotlists (hotlist_id, name, source, priority, covert, match_policy)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (hotlist_id) DO UPDATE SET name = EXCLUDED.name, source = EXCLUDED.source,
            priority = EXCLUDED.priority, covert = EXCLUDED.covert, match_policy = EXCLUDED.match_policy,
            version = nextval('entry_version'), updated_at = now()
        RETURNING *
        """, h.hotlist_id or str(uuid.uuid4()), h.name, h.source, h.priority, h.covert,
        h.match_policy or types_pb2.MATCH_POLICY_LOOKALIKE)
    await conn.execute("SELECT pg_notify($1, $2)", CHANGES_CHANNEL, str(row["version"]))
    return _hotlist(row)


async def list_hotlists(conn: asyncpg.Connection) -> list[types_pb2.Hotlist]:
    rows = await conn.fetch(
        "SELECT h.*, (SELECT count(*) FROM entries e WHERE e.hotlist_id = h.hotlist_id AND NOT e.deleted)"
        " AS n FROM hotlists h ORDER BY h.priority DESC, h.name")
    return [_hotlist(r, r["n"]) for r in rows]


async def hotlists_since(conn: asyncpg.Connection, version: int) -> list[types_pb2.Hotlist]:
    return [_hotlist(r) for r in await conn.fetch(
        "SELECT * FROM hotlists WHERE version > $1 ORDER BY version", version)]


async def hotlist_exists(conn: asyncpg.Connection, hotlist_id: str) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM hotlists WHERE hotlist_id = $1)", hotlist_id)


def _weed(entry: types_pb2.VoiEntry) -> datetime | None:
    return entry.weed_at.ToDatetime(tzinfo=timezone.utc) if entry.HasField("weed_at") else None


async def upsert_entries(conn: asyncpg.Connection, entries: Sequence[types_pb2.VoiEntry],
                         normalised: Sequence[str]) -> None:
    await conn.executemany(
        """
        INSERT INTO entries (entry_id, hotlist_id, vrm_normalised, firearms, weed_at, data)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (entry_id) DO UPDATE SET hotlist_id = EXCLUDED.hotlist_id,
            vrm_normalised = EXCLUDED.vrm_normalised, firearms = EXCLUDED.firearms,
            weed_at = EXCLUDED.weed_at, data = EXCLUDED.data, deleted = false,
            version = nextval('entry_version'), updated_at = now()
        """,
        [(e.entry_id, e.hotlist_id, n, is_firearms(e), _weed(e), e.SerializeToString())
         for e, n in zip(entries, normalised, strict=True)])
    await conn.execute("SELECT pg_notify($1, 'entries')", CHANGES_CHANNEL)


async def delete_entry(conn: asyncpg.Connection, entry_id: str) -> bool:
    done = await conn.fetchval(
        "UPDATE entries SET deleted = true, version = nextval('entry_version'), updated_at = now()"
        " WHERE entry_id = $1 AND NOT deleted RETURNING true", entry_id)
    await conn.execute("SELECT pg_notify($1, 'entries')", CHANGES_CHANNEL)
    return bool(done)


async def replace_hotlist_entries(conn: asyncpg.Connection, hotlist_id: str,
                                  entries: Sequence[types_pb2.VoiEntry], normalised: Sequence[str]) -> None:
    """Replace a whole list in the caller's transaction (matching never sees half a list)."""
    keep = [e.entry_id for e in entries]
    await conn.execute(
        "UPDATE entries SET deleted = true, version = nextval('entry_version'), updated_at = now()"
        " WHERE hotlist_id = $1 AND NOT deleted AND NOT (entry_id = ANY($2::text[]))", hotlist_id, keep)
    await upsert_entries(conn, entries, normalised)


async def entries_since(conn: asyncpg.Connection, version: int) -> list[EntryRow]:
    rows = await conn.fetch(
        "SELECT id, entry_id, hotlist_id, vrm_normalised, firearms, weed_at, deleted, version"
        " FROM entries WHERE version > $1 ORDER BY version", version)
    return [EntryRow(r["id"], r["entry_id"], r["hotlist_id"], r["vrm_normalised"], r["firearms"],
                     r["weed_at"], r["deleted"], r["version"]) for r in rows]


async def get_entries(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, types_pb2.VoiEntry]:
    rows = await conn.fetch("SELECT id, data FROM entries WHERE id = ANY($1::bigint[])", list(ids))
    return {r["id"]: types_pb2.VoiEntry.FromString(r["data"]) for r in rows}


async def get_entry_audited(conn: asyncpg.Connection, entry_id: str, subject: str, role: str,
                            reason: str) -> types_pb2.VoiEntry | None:
    data = await conn.fetchval("SELECT data FROM entries WHERE entry_id = $1 AND NOT deleted", entry_id)
    if data is None:
        return None
    await conn.execute("INSERT INTO entry_audit (entry_id, subject, role, reason) VALUES ($1, $2, $3, $4)",
                       entry_id, subject, role, reason)
    return types_pb2.VoiEntry.FromString(data)


async def record_hits(conn: asyncpg.Connection, hits: Sequence[tuple[types_pb2.Hit, bool, str]]) -> int:
    """Store new hits and queue them for notify (and firearms). Returns how many were new."""
    if not hits:
        return 0
    new_ids = {r["hit_id"] for r in await conn.fetch(
        "INSERT INTO hits (hit_id, read_id, entry_id)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[])"
        " ON CONFLICT (hit_id) DO NOTHING RETURNING hit_id",
        [h.hit_id for h, _, _ in hits], [h.read.read_id for h, _, _ in hits],
        [h.entry.entry_id for h, _, _ in hits])}
    fresh = [(h, f, t) for h, f, t in hits if h.hit_id in new_ids]
    await outbox.enqueue(conn, NOTIFY_TOPIC, [(h.SerializeToString(), t) for h, _, t in fresh])
    await outbox.enqueue(conn, FIREARMS_TOPIC, [(h.SerializeToString(), t) for h, f, t in fresh if f])
    return len(fresh)
