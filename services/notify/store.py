"""Notify's SQL: the alert log and acknowledgements."""

from __future__ import annotations

import uuid

import asyncpg
from google.protobuf import timestamp_pb2

from anpr.v1 import types_pb2

ALERTS_CHANNEL = "notify_alerts"
_APPEND_LOCK = 0x616E7072  # serialises appends so sequences commit in order


def _alert(row: asyncpg.Record) -> types_pb2.Alert:
    created = timestamp_pb2.Timestamp()
    created.FromDatetime(row["created_at"])
    return types_pb2.Alert(alert_id=str(row["alert_id"]), sequence=row["sequence"],
                           hit=types_pb2.Hit.FromString(row["hit"]), created_at=created, covert=row["covert"])


async def append_alert(conn: asyncpg.Connection, hit: types_pb2.Hit) -> tuple[types_pb2.Alert, bool]:
    """Store an alert for `hit` unless one exists; returns (alert, duplicate). Caller's transaction."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _APPEND_LOCK)
    row = await conn.fetchrow("SELECT * FROM alerts WHERE hit_id = $1", hit.hit_id)
    if row is not None:
        return _alert(row), True
    row = await conn.fetchrow(
        "INSERT INTO alerts (alert_id, hit_id, covert, hit) VALUES ($1, $2, $3, $4) RETURNING *",
        uuid.uuid4(), hit.hit_id, hit.hotlist.covert, hit.SerializeToString())
    await conn.execute("SELECT pg_notify($1, $2)", ALERTS_CHANNEL, str(row["sequence"]))
    return _alert(row), False


async def latest_sequence(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT coalesce(max(sequence), 0) FROM alerts")


async def alerts_after(conn: asyncpg.Connection, sequence: int, limit: int) -> list[tuple[int, types_pb2.Alert]]:
    rows = await conn.fetch("SELECT * FROM alerts WHERE sequence > $1 ORDER BY sequence LIMIT $2",
                            sequence, limit)
    return [(r["sequence"], _alert(r)) for r in rows]


async def acknowledge(conn: asyncpg.Connection, alert_id: uuid.UUID, subject: str, role: str,
                      outcome: int, reason: str, *, may_see_covert: bool) -> bool:
    """False when there is no such alert, or it is covert and the caller may not see covert alerts."""
    covert = await conn.fetchval("SELECT covert FROM alerts WHERE alert_id = $1", alert_id)
    if covert is None or (covert and not may_see_covert):
        return False
    await conn.execute(
        "INSERT INTO alert_acknowledgements (alert_id, subject, role, outcome, reason)"
        " VALUES ($1, $2, $3, $4, $5)", alert_id, subject, role, outcome, reason)
    return True
