"""Firearms' SQL: activations, NDM decisions and the event log."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
from google.protobuf import timestamp_pb2

from anpr.v1 import types_pb2

EVENTS_CHANNEL = "firearms_events"
_APPEND_LOCK = 0x74666331  # serialises event appends so sequences commit in order

NDM_FIELDS = ("information", "threat_assessment", "powers_and_policy", "options", "action_and_review",
              "rationale")


def _ts(value) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def _decision(row: asyncpg.Record) -> types_pb2.NdmDecision:
    return types_pb2.NdmDecision(
        decision_id=str(row["decision_id"]), activation_id=str(row["activation_id"]),
        decided_by=row["decided_by"], decided_at=_ts(row["decided_at"]), outcome=row["outcome"],
        **{f: row[f] for f in NDM_FIELDS})


async def _event(conn: asyncpg.Connection, activation_id: uuid.UUID, kind: str, subject: str = "") -> int:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _APPEND_LOCK)
    seq = await conn.fetchval(
        "INSERT INTO activation_events (activation_id, kind, subject) VALUES ($1, $2, $3) RETURNING sequence",
        activation_id, kind, subject)
    await conn.execute("SELECT pg_notify($1, $2)", EVENTS_CHANNEL, str(seq))
    return seq


async def raise_activation(conn: asyncpg.Connection, hit: types_pb2.Hit,
                           attach_window: timedelta) -> tuple[uuid.UUID, bool, bool]:
    """Record `hit`: a new activation, or a sighting attached to the open activation of the same
    entry (raised within `attach_window`). Returns (activation id, duplicate, attached).
    Caller's transaction; serialised per entry so two sightings never open two activations."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", hit.entry.entry_id)
    existing = await conn.fetchval(
        "SELECT activation_id FROM activations WHERE hit_id = $1"
        " UNION ALL SELECT activation_id FROM activation_sightings WHERE hit_id = $1 LIMIT 1", hit.hit_id)
    if existing is not None:
        return existing, True, False
    open_id = await conn.fetchval(
        "SELECT activation_id FROM activations WHERE entry_id = $1 AND raised_at > now() - $2::interval"
        " ORDER BY raised_at DESC LIMIT 1", hit.entry.entry_id, attach_window)
    if open_id is not None:
        await conn.execute("INSERT INTO activation_sightings (hit_id, activation_id, hit) VALUES ($1, $2, $3)",
                           hit.hit_id, open_id, hit.SerializeToString())
        await _event(conn, open_id, "sighting")
        return open_id, False, True
    activation_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO activations (activation_id, hit_id, entry_id, state, hit) VALUES ($1, $2, $3, $4, $5)",
        activation_id, hit.hit_id, hit.entry.entry_id, types_pb2.ACTIVATION_STATE_RAISED, hit.SerializeToString())
    await _event(conn, activation_id, "raised")
    return activation_id, False, False


async def get_activation(conn: asyncpg.Connection, activation_id: uuid.UUID,
                         sequence: int = 0) -> types_pb2.Activation | None:
    row = await conn.fetchrow("SELECT * FROM activations WHERE activation_id = $1", activation_id)
    if row is None:
        return None
    decisions = await conn.fetch(
        "SELECT * FROM ndm_decisions WHERE activation_id = $1 ORDER BY decided_at", activation_id)
    sightings = await conn.fetch(
        "SELECT hit FROM activation_sightings WHERE activation_id = $1 ORDER BY at", activation_id)
    return types_pb2.Activation(
        activation_id=str(activation_id), sequence=sequence, hit=types_pb2.Hit.FromString(row["hit"]),
        state=row["state"], raised_at=_ts(row["raised_at"]), acknowledged_by=row["acknowledged_by"] or "",
        acknowledged_at=_ts(row["acknowledged_at"]), decisions=[_decision(d) for d in decisions],
        sightings=[types_pb2.Hit.FromString(s["hit"]) for s in sightings])


async def acknowledge(conn: asyncpg.Connection, activation_id: uuid.UUID, subject: str) -> str | None:
    """Acknowledge (first acknowledgement wins). Returns None if there is no such activation."""
    row = await conn.fetchrow(
        "SELECT state, acknowledged_by FROM activations WHERE activation_id = $1 FOR UPDATE", activation_id)
    if row is None:
        return None
    if row["acknowledged_by"] is None:
        await conn.execute(
            "UPDATE activations SET state = $2, acknowledged_by = $3, acknowledged_at = now()"
            " WHERE activation_id = $1", activation_id, types_pb2.ACTIVATION_STATE_ACKNOWLEDGED, subject)
        await _event(conn, activation_id, "acknowledged", subject)
        return subject
    return row["acknowledged_by"]


async def record_decision(conn: asyncpg.Connection, d: types_pb2.NdmDecision, subject: str) -> uuid.UUID:
    decision_id = uuid.uuid4()
    activation_id = uuid.UUID(d.activation_id)
    await conn.execute(
        "INSERT INTO ndm_decisions (decision_id, activation_id, decided_by, information, threat_assessment,"
        " powers_and_policy, options, action_and_review, outcome, rationale)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        decision_id, activation_id, subject, d.information, d.threat_assessment, d.powers_and_policy,
        d.options, d.action_and_review, d.outcome, d.rationale)
    await conn.execute("UPDATE activations SET state = $2 WHERE activation_id = $1",
                       activation_id, types_pb2.ACTIVATION_STATE_DECIDED)
    await _event(conn, activation_id, "decided", subject)
    return decision_id


async def activation_state(conn: asyncpg.Connection, activation_id: uuid.UUID) -> int | None:
    return await conn.fetchval("SELECT state FROM activations WHERE activation_id = $1", activation_id)


async def latest_sequence(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT coalesce(max(sequence), 0) FROM activation_events")


async def activations_after(conn: asyncpg.Connection, sequence: int,
                            limit: int) -> list[tuple[int, types_pb2.Activation]]:
    """The activation as it stands after each event past `sequence` (raised, acknowledged, sighting,
    decided), in event order."""
    rows = await conn.fetch(
        "SELECT sequence, activation_id FROM activation_events WHERE sequence > $1 ORDER BY sequence LIMIT $2",
        sequence, limit)
    return [(r["sequence"], await get_activation(conn, r["activation_id"], r["sequence"])) for r in rows]
