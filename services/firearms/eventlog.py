"""The firearms event log: append-only, gap-free and hash-chained.

Every entry (raise, sighting, assignment, acknowledgement, escalation, NDM decision, closure,
sign-off) is appended under the lock of the one log-head row, so sequences are 1, 2, 3, ... with no
hole and commit in order. Each entry carries the hash of the entry before it:

    hash = sha256(previous_hash + "\\n" + canonical)
    canonical = JSON array [sequence, activation_id, kind, actor, at, audience, payload], UTF-8,
                no spaces, `at` as ISO 8601 UTC with microseconds, payload the stored JSON text

The database refuses UPDATE, DELETE and TRUNCATE of the log (a trigger guard); `verify` catches what
someone with the rights to bypass it changed: an edited entry (its hash no longer matches), a
deleted one (a sequence missing, or the head ahead of the last entry), reordered ones (hashes cover
the sequence and the previous hash).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import asyncpg

CHANNEL = "firearms_events"
GENESIS = "0" * 64


@dataclass(frozen=True)
class Entry:
    activation_id: uuid.UUID
    kind: int
    actor: str
    audience: tuple[str, ...]
    payload: dict


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="microseconds")


def entry_hash(
    previous_hash: str, sequence: int, activation_id, kind: int, actor: str, at: datetime, audience, payload: str
) -> str:
    canonical = dumps([sequence, str(activation_id), kind, actor, iso(at), list(audience), payload])
    return hashlib.sha256(f"{previous_hash}\n{canonical}".encode()).hexdigest()


async def now(conn: asyncpg.Connection) -> datetime:
    return await conn.fetchval("SELECT clock_timestamp()")


async def append(conn: asyncpg.Connection, entries: list[Entry]) -> list[int]:
    """Append `entries` in order (caller's transaction; takes the log-head lock until commit) and
    notify the streams. Returns their sequences."""
    if not entries:
        return []
    head = await conn.fetchrow(
        "SELECT last_sequence, last_hash, clock_timestamp() AS at FROM event_log_head FOR UPDATE"
    )
    sequence, previous, at = head["last_sequence"], head["last_hash"], head["at"]
    rows = []
    for e in entries:
        sequence += 1
        payload = dumps(e.payload)
        digest = entry_hash(previous, sequence, e.activation_id, e.kind, e.actor, at, e.audience, payload)
        rows.append((sequence, e.activation_id, e.kind, e.actor, at, list(e.audience), payload, previous, digest))
        previous = digest
    await conn.executemany(
        "INSERT INTO event_log (sequence, activation_id, kind, actor, at, audience, payload, previous_hash, hash)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        rows,
    )
    await conn.execute("UPDATE event_log_head SET last_sequence = $1, last_hash = $2", sequence, previous)
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(sequence))
    return [r[0] for r in rows]


@dataclass(frozen=True)
class Verdict:
    ok: bool
    verified: int
    first_bad_sequence: int = 0
    problem: str = ""
    head_hash: str = GENESIS


def _check(row, expected: int, previous: str) -> str:
    if row["sequence"] != expected:
        return f"entry {expected} is missing (next entry found: {row['sequence']})"
    if row["previous_hash"] != previous:
        return "does not chain to the entry before it (removed, inserted or reordered)"
    if (
        entry_hash(
            previous,
            row["sequence"],
            row["activation_id"],
            row["kind"],
            row["actor"],
            row["at"],
            row["audience"],
            row["payload"],
        )
        != row["hash"]
    ):
        return "its content does not match its hash (edited)"
    return ""


async def verify(conn: asyncpg.Connection, page: int = 2000) -> Verdict:
    """Walk the whole log in sequence order, in one snapshot; stop at the first entry that does not
    verify."""
    expected, previous = 1, GENESIS
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        head = await conn.fetchrow("SELECT last_sequence, last_hash FROM event_log_head")
        after = 0
        while True:
            rows = await conn.fetch(
                "SELECT sequence, activation_id, kind, actor, at, audience, payload, previous_hash, hash"
                " FROM event_log WHERE sequence > $1 ORDER BY sequence LIMIT $2",
                after,
                page,
            )
            for row in rows:
                problem = _check(row, expected, previous)
                if problem:
                    return Verdict(False, expected - 1, expected, problem, previous)
                previous, expected = row["hash"], expected + 1
            if len(rows) < page:
                break
            after = rows[-1]["sequence"]
    last = expected - 1
    if head is None or head["last_sequence"] != last:
        return Verdict(
            False,
            last,
            last + 1,
            "the log head records entries after the last one found (entries deleted from the end)",
            previous,
        )
    if head["last_hash"] != previous:
        return Verdict(False, last, last, "the log head's hash does not match the last entry", previous)
    return Verdict(True, last, head_hash=previous)
