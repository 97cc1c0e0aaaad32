"""The firearms event log: append-only, gap-free, hash-chained and sealed.

Every entry (raise, sighting, assignment, acknowledgement, escalation, NDM decision, plate-patch
view, close request, sign-off) is appended under the lock of the one log-head row, so sequences are
1, 2, 3, ... with no hole and commit in order. Each entry carries the hash of the entry before it,
and a seal made with the log's key (services/firearms/keys.py), which the database never sees:

    canonical = JSON array [sequence, activation_id, kind, actor, at, audience, payload], UTF-8,
                no spaces, `at` as ISO 8601 UTC with microseconds, payload the stored JSON text
    hash = sha256(previous_hash + "\\n" + canonical)
    seal = key_id + ":" + HMAC-SHA256(seal key, canonical)

The database refuses UPDATE, DELETE and TRUNCATE of the log, and an append that does not continue
the chain from the head or carries no seal (triggers, running as the owner; the service's role
holds INSERT and SELECT only). `walk` catches what someone able to bypass all that (the owner, a
superuser) changed: an edited entry (its hash or its seal no longer matches: a rewrite rehashed
by someone without the key still fails its seal), a deleted one (a sequence missing), reordered
ones (hashes cover the sequence and the previous hash), an entry made without the key (no valid
seal), and a head that is not the last entry. A truncation back to an earlier state is caught
against the signed checkpoints (checkpoints.py).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import asyncpg

from services.firearms.keys import Keyring

CHANNEL = "firearms_events"
GENESIS = "0" * 64
COLUMNS = "sequence, activation_id, kind, actor, at, audience, payload, previous_hash, hash, seal"


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


def canonical(sequence: int, activation_id, kind: int, actor: str, at: datetime, audience, payload: str) -> str:
    return dumps([sequence, str(activation_id), kind, actor, iso(at), list(audience), payload])


def canonical_of(row) -> str:
    return canonical(
        row["sequence"], row["activation_id"], row["kind"], row["actor"], row["at"], row["audience"], row["payload"]
    )


def entry_hash(
    previous_hash: str, sequence: int, activation_id, kind: int, actor: str, at: datetime, audience, payload: str
) -> str:
    return chain_hash(previous_hash, canonical(sequence, activation_id, kind, actor, at, audience, payload))


def chain_hash(previous_hash: str, canonical_text: str) -> str:
    return hashlib.sha256(f"{previous_hash}\n{canonical_text}".encode()).hexdigest()


async def now(conn: asyncpg.Connection) -> datetime:
    return await conn.fetchval("SELECT clock_timestamp()")


_INSERT = (
    f"INSERT INTO event_log ({COLUMNS})"
    " SELECT s, a, k, ac, t, ARRAY(SELECT jsonb_array_elements_text(au::jsonb)), p, ph, h, se"
    " FROM unnest($1::bigint[], $2::uuid[], $3::smallint[], $4::text[], $5::timestamptz[], $6::text[],"
    " $7::text[], $8::text[], $9::text[], $10::text[]) AS u(s, a, k, ac, t, au, p, ph, h, se)"
)


async def append(conn: asyncpg.Connection, entries: list[Entry], at: datetime, keyring: Keyring) -> list[int]:
    """Append `entries` in order, at time `at`, sealed (caller's transaction; takes the log-head lock
    until commit; the head follows by trigger) and notify the streams. Returns their sequences."""
    if not entries:
        return []
    head = await conn.fetchrow("SELECT last_sequence, last_hash FROM lock_event_log_head()")
    sequence, previous = head["last_sequence"], head["last_hash"]
    columns: list[list] = [[] for _ in range(10)]
    for e in entries:
        sequence += 1
        payload = dumps(e.payload)
        text = canonical(sequence, e.activation_id, e.kind, e.actor, at, e.audience, payload)
        digest = chain_hash(previous, text)
        row = (sequence, e.activation_id, e.kind, e.actor, at, dumps(list(e.audience)), payload, previous, digest)
        for column, value in zip(columns, (*row, keyring.seal(text)), strict=True):
            column.append(value)
        previous = digest
    await conn.execute(_INSERT, *columns)
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(sequence))
    return columns[0]


# ---- walking the chain ----


@dataclass(frozen=True)
class Verdict:
    ok: bool
    verified: int
    first_bad_sequence: int = 0
    problem: str = ""
    head_hash: str = GENESIS


def check_entry(row, expected: int, previous: str, sealed_from: int, keyring: Keyring) -> str:
    """Why the entry `row`, expected at sequence `expected` after hash `previous`, does not verify
    ("" when it does)."""
    if row["sequence"] != expected:
        return f"entry {expected} is missing (next entry found: {row['sequence']})"
    if row["previous_hash"] != previous:
        return "does not chain to the entry before it (removed, inserted or reordered)"
    text = canonical_of(row)
    if chain_hash(previous, text) != row["hash"]:
        return "its content does not match its hash (edited)"
    if row["sequence"] >= sealed_from and not keyring.seal_ok(text, row["seal"]):
        return "its seal does not verify: written or rewritten without the log's key"
    return ""


async def entries_after(conn: asyncpg.Connection, after: int, page: int = 2000) -> AsyncIterator[asyncpg.Record]:
    """Every entry after sequence `after`, in sequence order, read a page at a time."""
    while True:
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM event_log WHERE sequence > $1 ORDER BY sequence LIMIT $2", after, page
        )
        for row in rows:
            yield row
        if len(rows) < page:
            return
        after = rows[-1]["sequence"]


async def sealed_from(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT sealed_from FROM event_log_seals")


async def walk(
    conn: asyncpg.Connection, keyring: Keyring, seals_from: int, observe: Callable[[asyncpg.Record], None] | None = None
) -> Verdict:
    """Walk the whole log in sequence order (the caller's snapshot); stop at the first entry that
    does not verify; then the head row must name the last entry. `observe` sees each entry that
    verifies."""
    expected, previous = 1, GENESIS
    async for row in entries_after(conn, 0):
        problem = check_entry(row, expected, previous, seals_from, keyring)
        if problem:
            return Verdict(False, expected - 1, expected, problem, previous)
        if observe is not None:
            observe(row)
        previous, expected = row["hash"], expected + 1
    last = expected - 1
    head = await conn.fetchrow("SELECT last_sequence, last_hash FROM event_log_head")
    if head is None or head["last_sequence"] != last:
        return Verdict(
            False,
            last,
            last + 1,
            "the log head records entries after the last one found (entries deleted from the end,"
            " or the head moved without entries)",
            previous,
        )
    if head["last_hash"] != previous:
        return Verdict(False, last, last, "the log head's hash does not match the last entry", previous)
    return Verdict(True, last, head_hash=previous)
