"""Notify's SQL: the alert log and acknowledgements."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

import asyncpg
from google.protobuf import timestamp_pb2

from anpr.v1 import notify_pb2, types_pb2

ALERTS_CHANNEL = "notify_alerts"  # also in the function append_alerts (migration 0004)


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
    consecutive sequence numbers; returns (alert, duplicate) per hit (a duplicate's alert has its
    stored id and sequence). One statement (the function append_alerts, migration 0004): its own
    transaction, or the caller's.

    Appends serialise on an advisory lock and take their sequences from a counter row inside the
    transaction, so sequences commit in order and without holes; the channel is notified."""
    rows = await conn.fetch(
        "SELECT * FROM append_alerts($1::text[], $2::uuid[], $3::boolean[], $4::bytea[], $5::text[], $6::text[],"
        " $7::text[])",
        [h.hit_id for h, _ in hits],
        [uuid.uuid4() for _ in hits],
        [h.hotlist.covert for h, _ in hits],
        [h.SerializeToString() for h, _ in hits],
        [t for _, t in hits],
        [h.hotlist.hotlist_id for h, _ in hits],
        [h.hotlist.name for h, _ in hits],
    )
    out = []
    for (hit, _), r in zip(hits, rows, strict=True):
        alert = types_pb2.Alert(
            alert_id=str(r["o_alert_id"]),
            sequence=r["o_sequence"],
            hit=hit,
            covert=hit.hotlist.covert,
            # matcher queued the activation for the duty commander with this alert, in one transaction
            firearms_commander_informed=types_pb2.WARNING_MARKER_FIREARMS in hit.entry.warning_markers,
        )
        alert.created_at.FromDatetime(r["o_created_at"])
        out.append((alert, r["o_duplicate"]))
    return out


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


async def audit_plate_patch(conn: asyncpg.Connection, alert_id: uuid.UUID, subject: str, role: str, size: int) -> None:
    await conn.execute(
        "INSERT INTO plate_patch_audit (alert_id, subject, role, bytes) VALUES ($1, $2, $3, $4)",
        alert_id,
        subject,
        role,
        size,
    )


_STATS = """
    WITH a AS (SELECT alert_id, hotlist_id, hotlist_name FROM alerts WHERE created_at > now() - $1::interval),
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


async def alert_stats(conn: asyncpg.Connection, window: timedelta) -> notify_pb2.GetAlertStatsResponse:
    """How alerts of the window were acted on (each alert's latest acknowledgement counts)."""
    by_list = await conn.fetch(
        _STATS.format(key="a.hotlist_id", name="max(a.hotlist_name)", join="LEFT JOIN", group="GROUP BY a.hotlist_id"),
        window,
    )
    by_reason = await conn.fetch(
        _STATS.format(key="l.reason_code", name="''", join="JOIN", group="GROUP BY l.reason_code"), window
    )
    total = await conn.fetchrow(_STATS.format(key="''", name="''", join="LEFT JOIN", group=""), window)
    return notify_pb2.GetAlertStatsResponse(
        by_hotlist=[_stats(r) for r in by_list], by_reason_code=[_stats(r) for r in by_reason], total=_stats(total)
    )
