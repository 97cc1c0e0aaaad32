"""Firearms' SQL: activations raised, worked on and escalated, their sightings (the log's appends are
in eventlog.py, its reading in reading.py, the duty rota in rota.py).

Every change of an activation is an entry of the log: each function here works out the entry from
the activation as its entries make it (projection.State), appends it, and writes the `activations`
row from the state the entry makes (projection.apply): the row is the log's projection."""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import asyncpg

from anpr.runtime.errors import DataLoss, NotFound
from anpr.v1 import types_pb2 as T
from services.firearms import eventlog, projection, rota
from services.firearms.eventlog import Entry
from services.firearms.ndm import TEXT_FIELDS
from services.firearms.projection import Seals, State

log = logging.getLogger(__name__)
SERVICE_ACTOR = "firearms-service"
K = T.ActivationEventKind
_INSERT = (
    f"INSERT INTO activations ({', '.join(projection.PROJECTED)}, hit)"
    f" VALUES ({', '.join(f'${i}' for i in range(1, len(projection.PROJECTED) + 2))})"
)


def _set(column: str, i: int) -> str:
    """One column of the row written from a state. The retry time of an activation waiting for a
    duty commander is the escalator's, not the log's: a state without one keeps the row's."""
    if column != "deadline_at":
        return f"{column} = ${i}"
    waiting = projection.UPDATABLE.index("state") + 2
    return f"deadline_at = CASE WHEN ${waiting} = {T.ACTIVATION_STATE_UNASSIGNED}::smallint THEN coalesce(${i}, deadline_at) ELSE ${i} END"


_UPDATE = (
    "UPDATE activations SET "
    + ", ".join(_set(c, i) for i, c in enumerate(projection.UPDATABLE, start=2))
    + " WHERE activation_id = $1"
)


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


async def _update(conn: asyncpg.Connection, states: list[State]) -> None:
    if states:
        await conn.executemany(
            _UPDATE, [[s.activation_id, *projection.row_values(s, projection.UPDATABLE)] for s in states]
        )


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
    activations: list[list] = field(default_factory=list)
    sightings: list[tuple] = field(default_factory=list)
    attached: dict[uuid.UUID, State] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)


def _hit_facts(hit: T.Hit, data: bytes) -> dict:
    return {"hit_id": hit.hit_id, "entry_id": hit.entry.entry_id, "hit_sha256": hashlib.sha256(data).hexdigest()}


def _new_activation(b: _Batch, hit: T.Hit, data: bytes, duty: rota.Duty | None) -> State:
    force, area = assignment_of(hit)
    facts = _hit_facts(hit, data) | {"force": force, "area": area}
    if duty:
        due = b.at + b.timing.ack_deadline
        facts |= {"chain": list(duty.chain), "to": duty.chain[0], "level": 0, "due_at": eventlog.iso(due)}
        entry = Entry(uuid.uuid4(), K.ACTIVATION_EVENT_KIND_RAISED, SERVICE_ACTOR, (duty.chain[0],), facts)
        state = projection.apply(None, entry, b.at)
    else:
        entry = Entry(uuid.uuid4(), K.ACTIVATION_EVENT_KIND_UNASSIGNED, SERVICE_ACTOR, (), facts)
        state = replace(projection.apply(None, entry, b.at), deadline_at=b.at + b.timing.unassigned_retry)
    b.activations.append([*projection.row_values(state), data])
    b.entries.append(entry)
    b.results.append(Raised(state.activation_id, new=True, unassigned_force=None if duty else force))
    return state


def _attach(b: _Batch, open_state: State, hit: T.Hit, data: bytes) -> State:
    entry = Entry(
        open_state.activation_id,
        K.ACTIVATION_EVENT_KIND_SIGHTING,
        SERVICE_ACTOR,
        open_state.told,
        _hit_facts(hit, data),
    )
    b.sightings.append((hit.hit_id, open_state.activation_id, data, b.at))
    b.entries.append(entry)
    b.results.append(Raised(open_state.activation_id, attached=True))
    b.attached[open_state.activation_id] = state = projection.apply(open_state, entry, b.at)
    return state


async def _lock_entries(conn: asyncpg.Connection, entry_ids: list[str]) -> datetime:
    """Serialise raises per entry (in one order, so batches never deadlock); the database time."""
    await conn.execute("SELECT count(pg_advisory_xact_lock(hashtext(e))) FROM unnest($1::text[]) AS e", entry_ids)
    return await eventlog.now(conn)


async def _open_activations(
    conn: asyncpg.Connection, entry_ids: list[str], since: datetime, seals: Seals
) -> dict[str, State]:
    """The open activation (not closed, raised since `since`) of each listing, as its log makes it."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (entry_id) entry_id, activation_id FROM activations"
        " WHERE entry_id = ANY($1::text[]) AND raised_at > $2 AND state <> $3 ORDER BY entry_id, raised_at DESC",
        entry_ids,
        since,
        T.ACTIVATION_STATE_CLOSED,
    )
    if not rows:
        return {}
    records = await projection.load(conn, [r["activation_id"] for r in rows], seals)
    out = {}
    for r in rows:
        s = records[r["activation_id"]].state
        if s is not None and s.state != T.ACTIVATION_STATE_CLOSED:
            out[r["entry_id"]] = s
    return out


async def raise_batch(conn: asyncpg.Connection, hits: list[T.Hit], timing: Timing, seals: Seals) -> list[Raised]:
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
    open_by_entry = await _open_activations(conn, entry_ids, b.at - timing.attach_window, seals)
    duties = await rota.duty_chains(
        conn, {assignment_of(h) for h in hits if h.entry.entry_id not in open_by_entry}, b.at
    )
    for hit in hits:
        if hit.hit_id in known:
            b.results.append(Raised(known[hit.hit_id], duplicate=True))
            continue
        data = hit.SerializeToString()
        if hit.entry.entry_id in open_by_entry:
            state = _attach(b, open_by_entry[hit.entry.entry_id], hit, data)
        else:
            state = _new_activation(b, hit, data, duties.get(assignment_of(hit)))
        if timing.attach_window:
            open_by_entry[hit.entry.entry_id] = state
        known[hit.hit_id] = state.activation_id
    await _write_batch(conn, b, seals)
    return b.results


async def _write_batch(conn: asyncpg.Connection, b: _Batch, seals: Seals) -> None:
    new = {r[0] for r in b.activations}
    if b.activations:
        await conn.executemany(_INSERT, b.activations)
    if b.sightings:
        await conn.executemany(
            "INSERT INTO activation_sightings (hit_id, activation_id, hit, at) VALUES ($1, $2, $3, $4)", b.sightings
        )
    await _update(conn, [s for i, s in b.attached.items() if i not in new])
    await eventlog.append(conn, b.entries, b.at, seals.keyring)


# ---- working on an activation ----


async def lock_activation(conn: asyncpg.Connection, activation_id: uuid.UUID, seals: Seals) -> projection.Record:
    """The activation's record as its log makes it, its row locked until the transaction ends
    (NotFound when it has no row or no verified entry; the caller checks `verified` once it has
    checked the caller may see it)."""
    if await conn.fetchval("SELECT 1 FROM activations WHERE activation_id = $1 FOR UPDATE", activation_id) is None:
        raise NotFound("activation_id: no such activation")
    return found((await projection.load(conn, [activation_id], seals))[activation_id])


def found(record: projection.Record) -> projection.Record:
    if record.state is None:
        raise NotFound("activation_id: no such activation")
    return record


def verified(record: projection.Record) -> State:
    """The record's state, when every entry of it verifies (else DataLoss, logged)."""
    if record.bad:
        log.error(
            "firearms log entry does not verify: activation withheld",
            extra={"activation_id": str(record.state.activation_id), "sequence": record.bad[0]},
        )
        raise DataLoss(f"activation_id: log entry {record.bad[0]} of this activation does not verify (anpr ndm verify)")
    return record.state


def _audience(s: State, *more: str) -> tuple[str, ...]:
    return (*s.told, *(m for m in more if m and m not in s.told))


async def _record(
    conn: asyncpg.Connection, s: State, seals: Seals, kind: int, actor: str, payload: dict, audience=None
):
    """Append one entry on activation `s` (told to its audience), and write the row it makes;
    returns the entry's sequence."""
    at = await eventlog.now(conn)
    entry = Entry(s.activation_id, kind, actor, _audience(s) if audience is None else audience, payload)
    await _update(conn, [projection.apply(s, entry, at)])
    [sequence] = await eventlog.append(conn, [entry], at, seals.keyring)
    return sequence


async def acknowledge(conn: asyncpg.Connection, s: State, subject: str, seals: Seals) -> None:
    await _record(conn, s, seals, K.ACTIVATION_EVENT_KIND_ACKNOWLEDGED, subject, {}, _audience(s, subject))


async def record_decision(conn: asyncpg.Connection, s: State, d: T.NdmDecision, subject: str, seals: Seals) -> int:
    payload = {"decision_id": str(uuid.uuid4()), "outcome": d.outcome} | {f: getattr(d, f) for f in TEXT_FIELDS}
    return await _record(conn, s, seals, K.ACTIVATION_EVENT_KIND_DECISION_RECORDED, subject, payload)


async def request_close(conn, s: State, outcome: int, summary: str, subject: str, seals: Seals) -> None:
    payload = {"outcome": outcome, "summary": summary}
    await _record(conn, s, seals, K.ACTIVATION_EVENT_KIND_CLOSE_REQUESTED, subject, payload)


async def sign_off(conn: asyncpg.Connection, s: State, remarks: str, subject: str, seals: Seals) -> None:
    await _record(conn, s, seals, K.ACTIVATION_EVENT_KIND_SIGNED_OFF, subject, {"remarks": remarks})


async def plate_patch_viewed(
    conn: asyncpg.Connection, s: State, hit_id: str, subject: str, reason: str, seals: Seals
) -> None:
    """A view of a plate patch, with its reason (shown as the event's remarks)."""
    payload = {"hit_id": hit_id, "remarks": reason}
    await _record(conn, s, seals, K.ACTIVATION_EVENT_KIND_PLATE_PATCH_VIEWED, subject, payload)


# ---- escalation ----


@dataclass(frozen=True)
class Step:
    """What the escalator did to one activation (for logs: ids only)."""

    activation_id: uuid.UUID
    kind: int
    force: str
    lateness_s: float


def _escalate(s: State, missed: datetime, at: datetime, timing: Timing) -> Entry:
    """The entry for a due, assigned activation: the next person of its chain, or exhausted."""
    facts = {"from": s.assigned_to, "level": s.level, "deadline_missed": eventlog.iso(missed)}
    if s.level + 1 >= len(s.chain):
        return Entry(s.activation_id, K.ACTIVATION_EVENT_KIND_ESCALATION_EXHAUSTED, SERVICE_ACTOR, s.told, facts)
    to, due = s.chain[s.level + 1], at + timing.ack_deadline
    facts |= {"to": to, "level": s.level + 1, "due_at": eventlog.iso(due)}
    return Entry(s.activation_id, K.ACTIVATION_EVENT_KIND_ESCALATED, SERVICE_ACTOR, _audience(s, to), facts)


def _assign(s: State, duty: rota.Duty, at: datetime, timing: Timing) -> Entry:
    """The entry for a waiting activation when a commander is on duty."""
    due = at + timing.ack_deadline
    facts = {"chain": list(duty.chain), "to": duty.chain[0], "level": 0, "due_at": eventlog.iso(due)}
    return Entry(s.activation_id, K.ACTIVATION_EVENT_KIND_ASSIGNED, SERVICE_ACTOR, (duty.chain[0],), facts)


_ESCALATING = (T.ACTIVATION_STATE_RAISED, T.ACTIVATION_STATE_ESCALATED)


def _step(s: State | None, missed: datetime, duty: rota.Duty | None, at: datetime, timing: Timing):
    """What a due row needs, by its activation as the log makes it: (entry or None, its next state)."""
    if s is None:
        return None, None
    if s.state == T.ACTIVATION_STATE_UNASSIGNED:
        if duty is None:
            return None, replace(s, deadline_at=at + timing.unassigned_retry)
        entry = _assign(s, duty, at, timing)
    elif s.state in _ESCALATING and s.deadline_at is not None:
        entry = _escalate(s, missed, at, timing)
    else:  # nothing is due by the log (the row said otherwise): the row is written from the log again
        return None, s
    return entry, projection.apply(s, entry, at)


async def sweep(conn: asyncpg.Connection, timing: Timing, seals: Seals, limit: int = 100) -> list[Step]:
    """Act on activations whose deadline has passed, claimed FOR UPDATE SKIP LOCKED so that other
    replicas skip them; the new deadline commits with the log entry. Caller's transaction."""
    rows = await conn.fetch(
        "SELECT activation_id, deadline_at FROM activations WHERE deadline_at <= clock_timestamp()"
        " ORDER BY deadline_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    if not rows:
        return []
    at = await eventlog.now(conn)
    records = await projection.load(conn, [r["activation_id"] for r in rows], seals)
    states = {i: r.state for i, r in records.items()}
    unassigned = [s for s in states.values() if s is not None and s.state == T.ACTIVATION_STATE_UNASSIGNED]
    duties = await rota.duty_chains(conn, {(s.force, s.area) for s in unassigned}, at)
    updates, entries, steps, lost = [], [], [], []
    for r in rows:
        s = states[r["activation_id"]]
        entry, after = _step(s, r["deadline_at"], duties.get((s.force, s.area)) if s else None, at, timing)
        if after is None:
            lost.append(r["activation_id"])
            continue
        updates.append(after)
        if entry is not None:
            entries.append(entry)
            steps.append(Step(s.activation_id, entry.kind, s.force, (at - r["deadline_at"]).total_seconds()))
    await _update(conn, updates)
    if lost:  # a row with no verified entry behind it: nothing to escalate, and never claimed again
        log.error("activation rows with no verified log entry", extra={"activations": len(lost)})
        await conn.execute("UPDATE activations SET deadline_at = NULL WHERE activation_id = ANY($1::uuid[])", lost)
    await eventlog.append(conn, entries, at, seals.keyring)
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
