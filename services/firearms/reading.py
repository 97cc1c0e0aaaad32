"""Firearms' SQL for reading an activation's record: the activation as GetActivation shows it, its
events as ListActivationEvents pages them, and the log as the consoles' stream shows it.

What is shown is folded from the log's entries (projection.py), each entry's seal checked; a stored
hit is shown only when it matches the digest its entry logged. A record that does not verify is
answered DATA_LOSS (GetActivation, ListActivationEvents); the consoles' stream leaves such an entry
out and logs it."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime

import asyncpg
from google.protobuf import timestamp_pb2

from anpr.runtime.errors import DataLoss
from anpr.v1 import firearms_pb2 as F
from anpr.v1 import types_pb2 as T
from services.firearms import eventlog, projection
from services.firearms.ndm import TEXT_FIELDS
from services.firearms.projection import Record, Seals, State

log = logging.getLogger(__name__)
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


def _head(s: State, hit: T.Hit | None) -> T.Activation:
    return T.Activation(
        activation_id=str(s.activation_id),
        hit=hit,
        state=s.state,
        raised_at=_ts(s.raised_at),
        acknowledged_by=s.acknowledged_by or "",
        acknowledged_at=_ts(s.acknowledged_at),
        force=s.force,
        area=s.area,
        chain=s.chain,
        assigned_to=s.assigned_to or "",
        escalation_level=s.level,
        acknowledge_by=_ts(s.deadline_at)
        if s.state in (T.ACTIVATION_STATE_RAISED, T.ACTIVATION_STATE_ESCALATED)
        else None,
        decision_count=s.decision_count,
        sighting_count=s.sighting_count,
        outcome=s.outcome,
        close_summary=s.close_summary,
        close_requested_by=s.close_requested_by or "",
        signed_off_by=s.signed_off_by or "",
        signed_off_at=_ts(s.signed_off_at),
        sequence=s.sequence,
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


def _sighting_digests(rows) -> dict[str, str]:
    """hit_id -> logged digest, of the SIGHTING entries among `rows`."""
    out = {}
    for r in rows:
        if r["kind"] == K.ACTIVATION_EVENT_KIND_SIGHTING:
            p = json.loads(r["payload"])
            out[p["hit_id"]] = p["hit_sha256"]
    return out


async def _sightings(conn: asyncpg.Connection, digests: dict[str, str]) -> tuple[dict[str, T.Hit], list[str]]:
    """The stored hits of these sightings that match their logged digests, and the ids of those that
    do not (or are gone)."""
    if not digests:
        return {}, []
    stored = {
        r["hit_id"]: r["hit"]
        for r in await conn.fetch(
            "SELECT hit_id, hit FROM activation_sightings WHERE hit_id = ANY($1::text[])", list(digests)
        )
    }
    good = {h: T.Hit.FromString(stored[h]) for h, d in digests.items() if projection.hit_matches(stored.get(h), d)}
    return good, [h for h in digests if h not in good]


def _refuse(activation_id, what: str) -> DataLoss:
    log.error("firearms activation record does not match its log", extra={"activation_id": str(activation_id)})
    return DataLoss(f"activation_id: {what} does not match the decision log (anpr ndm verify)")


async def record(conn: asyncpg.Connection, activation_id: uuid.UUID, seals: Seals) -> Record:
    return (await projection.load(conn, [activation_id], seals))[activation_id]


async def checked_hit(conn: asyncpg.Connection, s: State) -> State:
    """`s` with its stored hit, which must match the digest its entry logged (else DataLoss)."""
    data = await conn.fetchval("SELECT hit FROM activations WHERE activation_id = $1", s.activation_id)
    if not projection.hit_matches(data, s.hit_sha256):
        raise _refuse(s.activation_id, "the stored hit")
    return projection.replace(s, hit=data)


async def get_activation(conn: asyncpg.Connection, rec: Record) -> T.Activation:
    """The head with the latest decisions and sightings (`rec`: verified by the caller)."""
    s = await checked_hit(conn, rec.state)
    a = _head(s, T.Hit.FromString(s.hit))
    decisions = [r for r in rec.entries if r["kind"] == K.ACTIVATION_EVENT_KIND_DECISION_RECORDED][-LATEST:]
    a.decisions.extend(_decision(d, json.loads(d["payload"])) for d in decisions)
    seen = [r for r in rec.entries if r["kind"] == K.ACTIVATION_EVENT_KIND_SIGHTING][-LATEST:]
    digests = _sighting_digests(seen)
    hits, bad = await _sightings(conn, digests)
    if bad:
        raise _refuse(s.activation_id, "a stored sighting")
    a.sightings.extend(hits[h] for h in digests)
    return a


async def read_of(conn: asyncpg.Connection, rec: Record, hit_id: str) -> T.Read | None:
    """The read of the activation's hit (hit_id empty or its own) or of one of its sightings, each
    checked against its logged digest."""
    s = rec.state
    if not hit_id or hit_id == s.hit_id:
        return T.Hit.FromString((await checked_hit(conn, s)).hit).read
    digest = _sighting_digests(rec.entries).get(hit_id)
    if digest is None:
        return None
    hits, _ = await _sightings(conn, {hit_id: digest})
    if hit_id not in hits:
        raise _refuse(s.activation_id, "the stored sighting")
    return hits[hit_id].read


async def activation_events(
    conn: asyncpg.Connection, activation_id: uuid.UUID, after: int, limit: int, seals: Seals
) -> list[T.ActivationEvent]:
    rows = await conn.fetch(
        f"SELECT {eventlog.COLUMNS} FROM event_log WHERE activation_id = $1 AND sequence > $2"
        " ORDER BY sequence LIMIT $3",
        activation_id,
        after,
        limit,
    )
    if any(not seals.ok(r) for r in rows):
        raise _refuse(activation_id, "a log entry")
    hits, bad = await _sightings(conn, _sighting_digests(rows))
    if bad:
        raise _refuse(activation_id, "a stored sighting")
    return [_event(r, hits) for r in rows]


async def latest_sequence(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT last_sequence FROM event_log_head")


async def stream_after(
    conn: asyncpg.Connection, sequence: int, limit: int, seals: Seals
) -> list[tuple[int, F.StreamActivationsResponse | None, frozenset[str]]]:
    """Events after `sequence` in log order, each as a console stream shows it (with its
    activation's head as that event left it) and with its audience. An entry whose seal fails, or
    whose activation's stored hit does not match its digest, is logged and shown to nobody (None:
    the tail keeps its place)."""
    rows = await conn.fetch(
        f"WITH new AS (SELECT activation_id, sequence FROM event_log WHERE sequence > $1 ORDER BY sequence LIMIT $2)"
        f" SELECT {eventlog.COLUMNS} FROM event_log WHERE activation_id IN (SELECT activation_id FROM new)"
        " AND sequence <= (SELECT max(sequence) FROM new) ORDER BY sequence",
        sequence,
        limit,
    )
    new = [r for r in rows if r["sequence"] > sequence]
    if not new:
        return []
    hits = await _stored_hits(conn, {r["activation_id"] for r in new})
    sightings, _ = await _sightings(conn, _sighting_digests(new))
    states: dict[uuid.UUID, State] = {}
    out = []
    for r in rows:
        ok = seals.ok(r) and projection.applies(states.get(r["activation_id"]), r)
        if ok:
            states[r["activation_id"]] = projection.apply_row(states.get(r["activation_id"]), r)
        if r["sequence"] > sequence:
            s = states.get(r["activation_id"])
            hit = hits.get(r["activation_id"])
            if ok and s is not None and projection.hit_matches(hit, s.hit_sha256):
                response = F.StreamActivationsResponse(
                    activation=_head(s, T.Hit.FromString(hit)), event=_event(r, sightings)
                )
                out.append((r["sequence"], response, frozenset(r["audience"])))
            else:
                log.error("firearms log entry or its hit does not verify: not shown", extra={"sequence": r["sequence"]})
                out.append((r["sequence"], None, frozenset()))
    return out


async def _stored_hits(conn: asyncpg.Connection, ids: set[uuid.UUID]) -> dict[uuid.UUID, bytes]:
    return {
        r["activation_id"]: r["hit"]
        for r in await conn.fetch(
            "SELECT activation_id, hit FROM activations WHERE activation_id = ANY($1::uuid[])", list(ids)
        )
    }
