"""Firearms' SQL: activations raised, worked on and escalated, their sightings (the log's appends are
in eventlog.py, its reading in reading.py, the duty rota in rota.py)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from anpr.v1 import types_pb2 as T
from services.firearms import eventlog, rota
from services.firearms.eventlog import Entry
from services.firearms.ndm import TEXT_FIELDS

SERVICE_ACTOR = "firearms-service"
K = T.ActivationEventKind


@dataclass(frozen=True)
class Timing:
    ack_deadline: timedelta
    unassigned_retry: timedelta
    attach_window: timedelta


def assignment_of(hit: T.Hit) -> tuple[str, str]:
    """Whose rota owns a hit: the force of the camera that read it when known (the area only when
    that is also the listing's force), else the listing's force and area."""
    force = hit.force or hit.entry.force
    return force, hit.entry.area if force == hit.entry.force else ""


# ---- raising ----


@dataclass
class Raised:
    activation_id: uuid.UUID
    duplicate: bool = False
    attached: bool = False
    new: bool = False
    unassigned_force: str | None = None


@dataclass
class _Batch:
    """What one RaiseActivations call writes, gathered in the order of its hits."""

    at: datetime
    timing: Timing
    results: list[Raised] = field(default_factory=list)
    activations: list[tuple] = field(default_factory=list)
    sightings: list[tuple] = field(default_factory=list)
    sighting_counts: dict[uuid.UUID, int] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)


def _hit_facts(hit: T.Hit, data: bytes) -> dict:
    return {"hit_id": hit.hit_id, "entry_id": hit.entry.entry_id, "hit_sha256": hashlib.sha256(data).hexdigest()}


def _new_activation(b: _Batch, hit: T.Hit, data: bytes, duty: rota.Duty | None) -> tuple[uuid.UUID, tuple[str, ...]]:
    activation_id = uuid.uuid4()
    force, area = assignment_of(hit)
    facts = _hit_facts(hit, data) | {"force": force, "area": area}
    if duty:
        told, due = (duty.chain[0],), b.at + b.timing.ack_deadline
        state, kind = T.ACTIVATION_STATE_RAISED, K.ACTIVATION_EVENT_KIND_RAISED
        facts |= {"chain": list(duty.chain), "to": duty.chain[0], "level": 0, "due_at": eventlog.iso(due)}
    else:
        told, due = (), b.at + b.timing.unassigned_retry
        state, kind = T.ACTIVATION_STATE_UNASSIGNED, K.ACTIVATION_EVENT_KIND_UNASSIGNED
    b.activations.append(
        (
            activation_id,
            hit.hit_id,
            hit.entry.entry_id,
            state,
            data,
            b.at,
            force,
            area,
            list(duty.chain) if duty else [],
            told[0] if told else None,
            list(told),
            due,
        )
    )
    b.entries.append(Entry(activation_id, kind, SERVICE_ACTOR, told, facts))
    b.results.append(Raised(activation_id, new=True, unassigned_force=None if duty else force))
    return activation_id, told


async def _lock_entries(conn: asyncpg.Connection, entry_ids: list[str]) -> datetime:
    """Serialise raises per entry (in one order, so batches never deadlock); the database time."""
    await conn.execute("SELECT count(pg_advisory_xact_lock(hashtext(e))) FROM unnest($1::text[]) AS e", entry_ids)
    return await eventlog.now(conn)


async def raise_batch(conn: asyncpg.Connection, hits: list[T.Hit], timing: Timing) -> list[Raised]:
    """Record hits in order: a new activation, or a sighting attached to the open activation of the
    same entry (raised within the attach window, not closed), or a duplicate (hit_id seen before).
    Caller's transaction; a handful of queries whatever the batch size."""
    entry_ids = sorted({h.entry.entry_id for h in hits})
    b = _Batch(await _lock_entries(conn, entry_ids), timing)
    known = {
        r["hit_id"]: r["activation_id"]
        for r in await conn.fetch(
            "SELECT hit_id, activation_id FROM activations WHERE hit_id = ANY($1::text[]) UNION ALL"
            " SELECT hit_id, activation_id FROM activation_sightings WHERE hit_id = ANY($1::text[])",
            [h.hit_id for h in hits],
        )
    }
    open_by_entry = {
        r["entry_id"]: (r["activation_id"], tuple(r["told"]))
        for r in await conn.fetch(
            "SELECT DISTINCT ON (entry_id) entry_id, activation_id, told FROM activations"
            " WHERE entry_id = ANY($1::text[]) AND raised_at > $2 AND state <> $3 ORDER BY entry_id, raised_at DESC",
            entry_ids,
            b.at - timing.attach_window,
            T.ACTIVATION_STATE_CLOSED,
        )
    }
    duties = await rota.duty_chains(
        conn, {assignment_of(h) for h in hits if h.entry.entry_id not in open_by_entry}, b.at
    )
    for hit in hits:
        if hit.hit_id in known:
            b.results.append(Raised(known[hit.hit_id], duplicate=True))
            continue
        data = hit.SerializeToString()
        if hit.entry.entry_id in open_by_entry:
            activation_id, told = open_by_entry[hit.entry.entry_id]
            b.sightings.append((hit.hit_id, activation_id, data, b.at))
            b.sighting_counts[activation_id] = b.sighting_counts.get(activation_id, 0) + 1
            b.entries.append(
                Entry(activation_id, K.ACTIVATION_EVENT_KIND_SIGHTING, SERVICE_ACTOR, told, _hit_facts(hit, data))
            )
            b.results.append(Raised(activation_id, attached=True))
        else:
            activation_id, told = _new_activation(b, hit, data, duties.get(assignment_of(hit)))
            if timing.attach_window:
                open_by_entry[hit.entry.entry_id] = (activation_id, told)
        known[hit.hit_id] = activation_id
    await _write_batch(conn, b)
    return b.results


async def _write_batch(conn: asyncpg.Connection, b: _Batch) -> None:
    if b.activations:
        await conn.executemany(
            "INSERT INTO activations (activation_id, hit_id, entry_id, state, hit, raised_at, force, area, chain,"
            " assigned_to, told, deadline_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            b.activations,
        )
    if b.sightings:
        await conn.executemany(
            "INSERT INTO activation_sightings (hit_id, activation_id, hit, at) VALUES ($1, $2, $3, $4)", b.sightings
        )
        await conn.execute(
            "UPDATE activations a SET sighting_count = a.sighting_count + u.n"
            " FROM unnest($1::uuid[], $2::int[]) AS u(id, n) WHERE a.activation_id = u.id",
            list(b.sighting_counts),
            list(b.sighting_counts.values()),
        )
    await eventlog.append(conn, b.entries)


# ---- working on an activation ----


async def lock_activation(conn: asyncpg.Connection, activation_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM activations WHERE activation_id = $1 FOR UPDATE", activation_id)


def _audience(row, *more: str) -> tuple[str, ...]:
    told = list(row["told"])
    return tuple(told + [m for m in more if m and m not in told])


async def _log(conn: asyncpg.Connection, row, kind: int, subject: str, payload: dict, audience=None) -> int:
    """Append one entry on the activation of `row` (told to its audience); returns its sequence."""
    [sequence] = await eventlog.append(
        conn, [Entry(row["activation_id"], kind, subject, _audience(row) if audience is None else audience, payload)]
    )
    return sequence


async def acknowledge(conn: asyncpg.Connection, row, subject: str) -> None:
    told = _audience(row, subject)
    await conn.execute(
        "UPDATE activations SET state = $2, acknowledged_by = $3, acknowledged_at = clock_timestamp(),"
        " assigned_to = $3, told = $4, deadline_at = NULL WHERE activation_id = $1",
        row["activation_id"],
        T.ACTIVATION_STATE_ACKNOWLEDGED,
        subject,
        list(told),
    )
    await _log(conn, row, K.ACTIVATION_EVENT_KIND_ACKNOWLEDGED, subject, {}, told)


async def record_decision(conn: asyncpg.Connection, row, d: T.NdmDecision, subject: str) -> int:
    payload = {"decision_id": str(uuid.uuid4()), "outcome": d.outcome} | {f: getattr(d, f) for f in TEXT_FIELDS}
    await conn.execute(
        "UPDATE activations SET state = $2, decision_count = decision_count + 1 WHERE activation_id = $1",
        row["activation_id"],
        T.ACTIVATION_STATE_DECIDED,
    )
    return await _log(conn, row, K.ACTIVATION_EVENT_KIND_DECISION_RECORDED, subject, payload)


async def request_close(conn: asyncpg.Connection, row, outcome: int, summary: str, subject: str) -> None:
    await conn.execute(
        "UPDATE activations SET state = $2, outcome = $3, close_summary = $4, close_requested_by = $5"
        " WHERE activation_id = $1",
        row["activation_id"],
        T.ACTIVATION_STATE_AWAITING_SIGN_OFF,
        outcome,
        summary,
        subject,
    )
    await _log(conn, row, K.ACTIVATION_EVENT_KIND_CLOSE_REQUESTED, subject, {"outcome": outcome, "summary": summary})


async def sign_off(conn: asyncpg.Connection, row, remarks: str, subject: str) -> None:
    await conn.execute(
        "UPDATE activations SET state = $2, signed_off_by = $3, signed_off_at = clock_timestamp(),"
        " deadline_at = NULL WHERE activation_id = $1",
        row["activation_id"],
        T.ACTIVATION_STATE_CLOSED,
        subject,
    )
    await _log(conn, row, K.ACTIVATION_EVENT_KIND_SIGNED_OFF, subject, {"remarks": remarks})


async def read_of(conn: asyncpg.Connection, row, hit_id: str) -> T.Read | None:
    """The read of the activation's hit (hit_id empty or its own) or of one of its sightings."""
    if not hit_id or hit_id == row["hit_id"]:
        return T.Hit.FromString(row["hit"]).read
    data = await conn.fetchval(
        "SELECT hit FROM activation_sightings WHERE hit_id = $1 AND activation_id = $2", hit_id, row["activation_id"]
    )
    return T.Hit.FromString(data).read if data is not None else None


async def plate_patch_viewed(conn: asyncpg.Connection, row, hit_id: str, subject: str, reason: str) -> None:
    """A view of a plate patch, with its reason (shown as the event's remarks)."""
    await _log(conn, row, K.ACTIVATION_EVENT_KIND_PLATE_PATCH_VIEWED, subject, {"hit_id": hit_id, "remarks": reason})


# ---- escalation ----


@dataclass(frozen=True)
class Step:
    """What the escalator did to one activation (for logs: ids only)."""

    activation_id: uuid.UUID
    kind: int
    force: str
    lateness_s: float


def _escalate(row, at: datetime, timing: Timing) -> tuple[tuple, Entry | None]:
    """The update and log entry for a due, assigned activation: the next person, or exhausted."""
    level, chain, missed = row["level"], row["chain"], row["deadline_at"]
    facts = {"from": row["assigned_to"], "level": level, "deadline_missed": eventlog.iso(missed)}
    if level + 1 >= len(chain):
        return (
            (row["activation_id"], level, row["assigned_to"], list(row["told"]), None, row["state"], chain),
            Entry(
                row["activation_id"],
                K.ACTIVATION_EVENT_KIND_ESCALATION_EXHAUSTED,
                SERVICE_ACTOR,
                tuple(row["told"]),
                facts,
            ),
        )
    to, due = chain[level + 1], at + timing.ack_deadline
    told = _audience(row, to)
    facts |= {"to": to, "level": level + 1, "due_at": eventlog.iso(due)}
    return (
        (row["activation_id"], level + 1, to, list(told), due, T.ACTIVATION_STATE_ESCALATED, chain),
        Entry(row["activation_id"], K.ACTIVATION_EVENT_KIND_ESCALATED, SERVICE_ACTOR, told, facts),
    )


def _assign(row, duty: rota.Duty | None, at: datetime, timing: Timing) -> tuple[tuple, Entry | None]:
    """The update and log entry for a due, unassigned activation: a duty commander, or try again."""
    if duty is None:
        return (row["activation_id"], 0, None, [], at + timing.unassigned_retry, row["state"], []), None
    due = at + timing.ack_deadline
    facts = {"chain": list(duty.chain), "to": duty.chain[0], "level": 0, "due_at": eventlog.iso(due)}
    return (
        (row["activation_id"], 0, duty.chain[0], [duty.chain[0]], due, T.ACTIVATION_STATE_RAISED, list(duty.chain)),
        Entry(row["activation_id"], K.ACTIVATION_EVENT_KIND_ASSIGNED, SERVICE_ACTOR, (duty.chain[0],), facts),
    )


async def sweep(conn: asyncpg.Connection, timing: Timing, limit: int = 100) -> list[Step]:
    """Act on activations whose deadline has passed, claimed FOR UPDATE SKIP LOCKED so that other
    replicas skip them; the new deadline commits with the log entry. Caller's transaction."""
    rows = await conn.fetch(
        "SELECT * FROM activations WHERE deadline_at <= clock_timestamp() ORDER BY deadline_at LIMIT $1"
        " FOR UPDATE SKIP LOCKED",
        limit,
    )
    if not rows:
        return []
    at = await eventlog.now(conn)
    unassigned = [r for r in rows if r["state"] == T.ACTIVATION_STATE_UNASSIGNED]
    duties = await rota.duty_chains(conn, {(r["force"], r["area"]) for r in unassigned}, at)
    updates, entries, steps = [], [], []
    for r in rows:
        if r["state"] == T.ACTIVATION_STATE_UNASSIGNED:
            update, entry = _assign(r, duties.get((r["force"], r["area"])), at, timing)
        else:
            update, entry = _escalate(r, at, timing)
        updates.append(update)
        if entry is not None:
            entries.append(entry)
            steps.append(Step(r["activation_id"], entry.kind, r["force"], (at - r["deadline_at"]).total_seconds()))
    await conn.executemany(
        "UPDATE activations SET level = $2, assigned_to = $3, told = $4, deadline_at = $5, state = $6, chain = $7"
        " WHERE activation_id = $1",
        updates,
    )
    await eventlog.append(conn, entries)
    return steps


async def seconds_to_next_deadline(conn: asyncpg.Connection) -> float | None:
    """How long until the earliest deadline of any activation (negative: passed), or None."""
    seconds = await conn.fetchval(
        "SELECT extract(epoch FROM min(deadline_at) - clock_timestamp()) FROM activations WHERE deadline_at IS NOT NULL"
    )
    return None if seconds is None else float(seconds)


async def awaiting_acknowledgement(conn: asyncpg.Connection) -> tuple[int, float]:
    """How many activations nobody has acknowledged yet, and the age in seconds of the oldest (0: none)."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(raised_at)), 0)::float8 AS age"
        " FROM activations WHERE acknowledged_at IS NULL"
    )
    return row["n"], row["age"]
