"""Notify's SQL: the alert log, acknowledgements, the lists' covert flags and the terminals' positions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import asyncpg
from google.protobuf import timestamp_pb2

from anpr.v1 import notify_pb2, types_pb2

ALERTS_CHANNEL = "notify_alerts"
HOTLISTS_CHANNEL = "notify_hotlists"  # a list's covert flag moved on
_APPEND_LOCK = 0x616E7072  # serialises appends so sequences commit in order


def _alert(row: asyncpg.Record) -> types_pb2.Alert:
    created = timestamp_pb2.Timestamp()
    created.FromDatetime(row["created_at"])
    hit = types_pb2.Hit.FromString(row["hit"])
    return types_pb2.Alert(
        alert_id=str(row["alert_id"]),
        sequence=row["sequence"],
        hit=hit,
        created_at=created,
        covert=row["covert"],
        firearms_commander_informed=types_pb2.WARNING_MARKER_FIREARMS in hit.entry.warning_markers,
    )


async def append_alerts(
    conn: asyncpg.Connection, hits: Sequence[tuple[types_pb2.Hit, str]]
) -> list[tuple[types_pb2.Alert, bool]]:
    """Store an alert for each (hit, traceparent) not alerted before, in the order given, with
    consecutive sequence numbers; returns (alert, duplicate) per hit. Caller's transaction.

    Appends serialise on an advisory lock and take their sequences from a counter row inside the
    transaction, so sequences commit in order and without holes."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _APPEND_LOCK)
    rows = await conn.fetch("SELECT * FROM alerts WHERE hit_id = ANY($1::text[])", [h.hit_id for h, _ in hits])
    known: dict[str, tuple[types_pb2.Alert, bool]] = {r["hit_id"]: (_alert(r), True) for r in rows}
    new = []
    for hit, traceparent in hits:
        if hit.hit_id not in known:
            known[hit.hit_id] = (
                types_pb2.Alert(
                    alert_id=str(uuid.uuid4()),
                    hit=hit,
                    covert=hit.hotlist.covert,
                    # matcher queued the activation for the duty commander with this alert, in one transaction
                    firearms_commander_informed=types_pb2.WARNING_MARKER_FIREARMS in hit.entry.warning_markers,
                ),
                False,
            )
            new.append((known[hit.hit_id][0], traceparent))
    if new:
        last = await conn.fetchval("UPDATE alert_sequence SET last = last + $1 RETURNING last", len(new))
        created = datetime.now(timezone.utc)
        for i, (alert, _) in enumerate(new):
            alert.sequence = last - len(new) + 1 + i
            alert.created_at.FromDatetime(created)
        await conn.copy_records_to_table(
            "alerts",
            records=[
                (
                    a.sequence,
                    uuid.UUID(a.alert_id),
                    a.hit.hit_id,
                    a.covert,
                    a.hit.SerializeToString(),
                    created,
                    t,
                    a.hit.hotlist.hotlist_id,
                    a.hit.hotlist.name,
                    a.hit.force,
                    a.hit.entry.force,
                )
                for a, t in new
            ],
            columns=(
                "sequence",
                "alert_id",
                "hit_id",
                "covert",
                "hit",
                "created_at",
                "traceparent",
                "hotlist_id",
                "hotlist_name",
                "camera_force",
                "listing_force",
            ),
        )
        await save_flags(conn, [a.hit.hotlist for a, _ in new])
        await conn.execute("SELECT pg_notify($1, $2)", ALERTS_CHANNEL, str(last))
    return [known[h.hit_id] for h, _ in hits]


async def latest_sequence(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT coalesce(max(sequence), 0) FROM alerts")


async def alerts_after(conn: asyncpg.Connection, sequence: int, limit: int) -> list[tuple[int, types_pb2.Alert]]:
    rows = await conn.fetch("SELECT * FROM alerts WHERE sequence > $1 ORDER BY sequence LIMIT $2", sequence, limit)
    return [(r["sequence"], _alert(r)) for r in rows]


async def get_alert(conn: asyncpg.Connection, alert_id: uuid.UUID) -> types_pb2.Alert | None:
    row = await conn.fetchrow("SELECT * FROM alerts WHERE alert_id = $1", alert_id)
    return _alert(row) if row is not None else None


async def acknowledge(
    conn: asyncpg.Connection, alert_id: uuid.UUID, subject: str, role: str, outcome: int, reason_code: str, reason: str
) -> None:
    await conn.execute(
        "INSERT INTO alert_acknowledgements (alert_id, subject, role, outcome, reason_code, reason)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        alert_id,
        subject,
        role,
        outcome,
        reason_code,
        reason,
    )


async def audit_plate_patch(
    conn: asyncpg.Connection, alert_id: uuid.UUID, subject: str, role: str, size: int, reason: str
) -> None:
    await conn.execute(
        "INSERT INTO plate_patch_audit (alert_id, subject, role, bytes, reason) VALUES ($1, $2, $3, $4, $5)",
        alert_id,
        subject,
        role,
        size,
        reason,
    )


# --- lists' covert flags, terminals' positions ----------------------------------------------------


async def save_flags(conn: asyncpg.Connection, hotlists: Sequence[types_pb2.Hotlist]) -> list[types_pb2.Hotlist]:
    """Keep each list's covert flag at the newest version given or known; the lists whose flag
    moved on (the other replicas are told on HOTLISTS_CHANNEL)."""
    newest: dict[str, types_pb2.Hotlist] = {}
    for h in hotlists:
        if h.hotlist_id and (h.hotlist_id not in newest or h.version > newest[h.hotlist_id].version):
            newest[h.hotlist_id] = h
    if not newest:
        return []
    rows = await conn.fetch(
        "INSERT INTO hotlist_flags AS f (hotlist_id, covert, version)"
        " SELECT * FROM unnest($1::text[], $2::boolean[], $3::bigint[])"
        " ON CONFLICT (hotlist_id) DO UPDATE SET covert = EXCLUDED.covert, version = EXCLUDED.version"
        " WHERE f.version < EXCLUDED.version RETURNING hotlist_id",
        list(newest),
        [h.covert for h in newest.values()],
        [h.version for h in newest.values()],
    )
    if rows:
        await conn.execute("SELECT pg_notify($1, '')", HOTLISTS_CHANNEL)
    return [newest[r["hotlist_id"]] for r in rows]


async def load_flags(conn: asyncpg.Connection) -> list[tuple[str, int, bool]]:
    return [tuple(r) for r in await conn.fetch("SELECT hotlist_id, version, covert FROM hotlist_flags")]


async def record_position(conn: asyncpg.Connection, subject: str, sub: notify_pb2.Subscription) -> None:
    """Where a terminal identity says it is now (its circle), for acting on alerts read there."""
    c = sub.circle
    await conn.execute(
        "INSERT INTO unit_positions (subject, unit, force, latitude, longitude, radius_km) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (subject) DO UPDATE SET unit = EXCLUDED.unit, force = EXCLUDED.force,"
        " latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, radius_km = EXCLUDED.radius_km, at = now()",
        subject,
        sub.unit_id,
        sub.force,
        c.center.latitude,
        c.center.longitude,
        c.radius_km,
    )


async def position_of(conn: asyncpg.Connection, subject: str) -> tuple[float, float, float] | None:
    row = await conn.fetchrow("SELECT latitude, longitude, radius_km FROM unit_positions WHERE subject = $1", subject)
    return tuple(row) if row is not None else None


async def fill_in_forces(conn: asyncpg.Connection, limit: int = 1000) -> int:
    """Alerts stored before their forces had columns of their own: fill in a page from the stored
    hits; how many were filled in (0: none is left)."""
    rows = await conn.fetch("SELECT sequence, hit FROM alerts WHERE camera_force IS NULL LIMIT $1", limit)
    hits = [(r["sequence"], types_pb2.Hit.FromString(r["hit"])) for r in rows]
    await conn.executemany(
        "UPDATE alerts SET camera_force = $2, listing_force = $3 WHERE sequence = $1",
        [(s, h.force, h.entry.force) for s, h in hits],
    )
    return len(hits)


# The alerts of a window within a scope: $2 national, $3 the caller's force, $4 covert clearance.
_STATS = """
    WITH a AS (SELECT al.alert_id, al.hotlist_id, al.hotlist_name FROM alerts al
               LEFT JOIN hotlist_flags f ON f.hotlist_id = al.hotlist_id AND f.version > 0
               WHERE al.created_at > now() - $1::interval
                 AND ($2 OR al.camera_force = $3 OR al.listing_force = $3)
                 AND ($4 OR NOT coalesce(f.covert, al.covert))),
    last AS (SELECT DISTINCT ON (k.alert_id) k.alert_id, k.outcome, k.reason_code
             FROM alert_acknowledgements k JOIN a USING (alert_id) ORDER BY k.alert_id, k.id DESC)
    SELECT {key} AS key, {name} AS name, count(*) AS alerts, count(l.alert_id) AS acknowledged,
           count(*) FILTER (WHERE l.outcome = 2) AS accepted, count(*) FILTER (WHERE l.outcome = 3) AS rejected,
           count(*) FILTER (WHERE l.outcome = 3 AND l.reason_code = 'misread') AS misread
    FROM a {join} last l USING (alert_id) {group} ORDER BY 3 DESC
"""


def _stats(row: asyncpg.Record) -> notify_pb2.AlertStats:
    decided = row["accepted"] + row["rejected"]
    return notify_pb2.AlertStats(
        **{c: row[c] for c in ("key", "name", "alerts", "acknowledged", "accepted", "rejected")},
        accept_rate=row["accepted"] / decided if decided else 0.0,
        misread_rate=row["misread"] / decided if decided else 0.0,
    )


@dataclass(frozen=True)
class StatsScope:
    """Whose alerts the statistics count: every force's, or those of `force` (its cameras' or its
    listings'); covert lists only with `covert`."""

    national: bool
    force: str
    covert: bool


async def alert_stats(
    conn: asyncpg.Connection, window: timedelta, scope: StatsScope
) -> notify_pb2.GetAlertStatsResponse:
    """How alerts of the window were acted on (each alert's latest acknowledgement counts)."""
    args = (window, scope.national, scope.force, scope.covert)
    by_list = await conn.fetch(
        _STATS.format(key="a.hotlist_id", name="max(a.hotlist_name)", join="LEFT JOIN", group="GROUP BY a.hotlist_id"),
        *args,
    )
    by_reason = await conn.fetch(
        _STATS.format(key="l.reason_code", name="''", join="JOIN", group="GROUP BY l.reason_code"), *args
    )
    total = await conn.fetchrow(_STATS.format(key="''", name="''", join="LEFT JOIN", group=""), *args)
    return notify_pb2.GetAlertStatsResponse(
        by_hotlist=[_stats(r) for r in by_list], by_reason_code=[_stats(r) for r in by_reason], total=_stats(total)
    )
