"""Firearms' SQL for reading an activation's record: the activation as GetActivation shows it, its
events as ListActivationEvents pages them, and the log as the consoles' stream shows it."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import asyncpg
from google.protobuf import timestamp_pb2

from anpr.v1 import firearms_pb2 as F
from anpr.v1 import types_pb2 as T
from services.firearms import eventlog
from services.firearms.ndm import TEXT_FIELDS

EVENTS_CHANNEL = eventlog.CHANNEL
LATEST = 20  # decisions and sightings carried by GetActivation
K = T.ActivationEventKind


def _ts(value) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def _ts_iso(value: str | None) -> timestamp_pb2.Timestamp | None:
    return _ts(datetime.fromisoformat(value)) if value else None


def _head(r) -> T.Activation:
    return T.Activation(
        activation_id=str(r["activation_id"]),
        hit=T.Hit.FromString(r["hit"]),
        state=r["state"],
        raised_at=_ts(r["raised_at"]),
        acknowledged_by=r["acknowledged_by"] or "",
        acknowledged_at=_ts(r["acknowledged_at"]),
        force=r["force"],
        area=r["area"],
        chain=r["chain"],
        assigned_to=r["assigned_to"] or "",
        escalation_level=r["level"],
        acknowledge_by=_ts(r["deadline_at"])
        if r["state"] in (T.ACTIVATION_STATE_RAISED, T.ACTIVATION_STATE_ESCALATED)
        else None,
        decision_count=r["decision_count"],
        sighting_count=r["sighting_count"],
        outcome=r["outcome"],
        close_summary=r["close_summary"],
        close_requested_by=r["close_requested_by"] or "",
        signed_off_by=r["signed_off_by"] or "",
        signed_off_at=_ts(r["signed_off_at"]),
    )


def _decision(r, p: dict) -> T.NdmDecision:
    return T.NdmDecision(
        decision_id=p["decision_id"],
        activation_id=str(r["activation_id"]),
        decided_by=r["actor"],
        decided_at=_ts(r["at"]),
        outcome=p["outcome"],
        **{f: p[f] for f in TEXT_FIELDS},
    )


def _event(r, sightings: dict[str, T.Hit]) -> T.ActivationEvent:
    p = json.loads(r["payload"])
    e = T.ActivationEvent(
        sequence=r["sequence"],
        activation_id=str(r["activation_id"]),
        kind=r["kind"],
        actor=r["actor"],
        at=_ts(r["at"]),
        from_subject=p.get("from", ""),
        to_subject=p.get("to", ""),
        level=p.get("level", 0),
        due_at=_ts_iso(p.get("due_at")),
        deadline_missed=_ts_iso(p.get("deadline_missed")),
        outcome=p.get("outcome", 0),
        summary=p.get("summary", ""),
        remarks=p.get("remarks", ""),
        previous_hash=r["previous_hash"],
        hash=r["hash"],
    )
    if r["kind"] == K.ACTIVATION_EVENT_KIND_DECISION_RECORDED:
        e.decision.CopyFrom(_decision(r, p))
    if r["kind"] == K.ACTIVATION_EVENT_KIND_SIGHTING and p["hit_id"] in sightings:
        e.sighting.CopyFrom(sightings[p["hit_id"]])
    return e


async def _events(conn: asyncpg.Connection, rows) -> list[T.ActivationEvent]:
    ids = [json.loads(r["payload"])["hit_id"] for r in rows if r["kind"] == K.ACTIVATION_EVENT_KIND_SIGHTING]
    hits = (
        {
            r["hit_id"]: T.Hit.FromString(r["hit"])
            for r in await conn.fetch(
                "SELECT hit_id, hit FROM activation_sightings WHERE hit_id = ANY($1::text[])", ids
            )
        }
        if ids
        else {}
    )
    return [_event(r, hits) for r in rows]


async def activation_row(conn: asyncpg.Connection, activation_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM activations WHERE activation_id = $1", activation_id)


async def get_activation(conn: asyncpg.Connection, row) -> T.Activation:
    """The head with the latest decisions and sightings."""
    a = _head(row)
    a.sequence = (
        await conn.fetchval("SELECT max(sequence) FROM event_log WHERE activation_id = $1", row["activation_id"]) or 0
    )
    decisions = await conn.fetch(
        "SELECT * FROM (SELECT activation_id, actor, at, payload, sequence FROM event_log"
        " WHERE activation_id = $1 AND kind = $2 ORDER BY sequence DESC LIMIT $3) d ORDER BY sequence",
        row["activation_id"],
        K.ACTIVATION_EVENT_KIND_DECISION_RECORDED,
        LATEST,
    )
    a.decisions.extend(_decision(d, json.loads(d["payload"])) for d in decisions)
    sightings = await conn.fetch(
        "SELECT hit FROM (SELECT hit, at, hit_id FROM activation_sightings WHERE activation_id = $1"
        " ORDER BY at DESC, hit_id DESC LIMIT $2) s ORDER BY at, hit_id",
        row["activation_id"],
        LATEST,
    )
    a.sightings.extend(T.Hit.FromString(s["hit"]) for s in sightings)
    return a


async def activation_events(
    conn: asyncpg.Connection, activation_id: uuid.UUID, after: int, limit: int
) -> list[T.ActivationEvent]:
    rows = await conn.fetch(
        "SELECT * FROM event_log WHERE activation_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3",
        activation_id,
        after,
        limit,
    )
    return await _events(conn, rows)


async def latest_sequence(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT last_sequence FROM event_log_head")


async def stream_after(
    conn: asyncpg.Connection, sequence: int, limit: int
) -> list[tuple[int, F.StreamActivationsResponse, frozenset[str]]]:
    """Events after `sequence` in log order, each as a console stream shows it (with its
    activation's head as it stands now) and with its audience."""
    rows = await conn.fetch("SELECT * FROM event_log WHERE sequence > $1 ORDER BY sequence LIMIT $2", sequence, limit)
    if not rows:
        return []
    heads = {
        r["activation_id"]: _head(r)
        for r in await conn.fetch(
            "SELECT * FROM activations WHERE activation_id = ANY($1::uuid[])", list({r["activation_id"] for r in rows})
        )
    }
    out = []
    for r, event in zip(rows, await _events(conn, rows), strict=True):
        head = T.Activation()
        head.CopyFrom(heads[r["activation_id"]])
        head.sequence = r["sequence"]
        out.append((r["sequence"], F.StreamActivationsResponse(activation=head, event=event), frozenset(r["audience"])))
    return out
