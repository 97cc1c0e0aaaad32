"""VerifyLog (`anpr ndm verify`): everything the firearms record is checked against, in one snapshot.

1. The chain: every entry in sequence with no hole, chained to the one before, its hash matching
   its content, its seal made with the log's key (from `sealed_from` on), the head its last entry.
2. The checkpoints: every signed checkpoint the service can read (the database's copy, the
   checkpoint file) and those the caller brings (from the log stream or the object store), each
   signature checked (one that does not verify is ignored and counted: it proves nothing). A
   checkpoint beyond the log's end names a truncation; one whose hash the log no longer has names
   a rewrite (from the entry after the last checkpoint that still matches); entries added after a
   checkpoint was made, but dated before it, or older than the checkpointers allow and covered by
   none, were added outside the service (the head moved without a checkpoint).
3. The record: every activation's row, stored hit and sightings against what its entries make and
   the digests they logged (projection.differences).

The first problem found is reported with the first entry it affects (and the activation, when it is
about one).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from services.firearms import eventlog, projection
from services.firearms.checkpoints import Checkpoint, Readable
from services.firearms.projection import Seals

PAGE = 500
SLACK = timedelta(seconds=60)  # an entry's time is taken before its transaction commits


@dataclass
class Report:
    ok: bool = True
    verified: int = 0
    first_bad_sequence: int = 0
    problem: str = ""
    head_hash: str = eventlog.GENESIS
    checkpoints_verified: int = 0
    checkpoints_ignored: int = 0
    anchored: Checkpoint | None = None
    activations_verified: int = 0
    activation_id: str = ""

    def fail(self, sequence: int, problem: str, activation_id: str = "") -> Report:
        self.ok, self.first_bad_sequence, self.problem, self.activation_id = False, sequence, problem, activation_id
        return self


@dataclass
class _Walk:
    """What the chain walk saw that the checkpoints are checked against."""

    wanted: set[int]  # the checkpoints' sequences: their hashes
    after: int  # the newest signed checkpoint within the log: the times of the entries after it
    hashes: dict[int, str] = field(default_factory=dict)
    times: dict[int, datetime] = field(default_factory=dict)

    def observe(self, row) -> None:
        if row["sequence"] in self.wanted:
            self.hashes[row["sequence"]] = row["hash"]
        if row["sequence"] > self.after:
            self.times[row["sequence"]] = row["at"]


class _Signed:
    """Signatures checked as they are needed (a year of checkpoints is millions of them): only those
    that decide the verdict, each once; `failed` counts those that did not verify."""

    def __init__(self, keyring):
        self._keyring = keyring
        self._known: dict[int, bool] = {}
        self.failed = 0

    def ok(self, c: Checkpoint) -> bool:
        if id(c) not in self._known:
            self._known[id(c)] = good = self._keyring.signature_ok(c.key_id, c.statement(), c.signature)
            self.failed += not good
        return self._known[id(c)]

    def first(self, candidates) -> Checkpoint | None:
        return next((c for c in candidates if self.ok(c)), None)


async def verify(
    conn: asyncpg.Connection, seals: Seals, given: list[Checkpoint], readers: list[Readable], grace: timedelta
) -> Report:
    report = Report()
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        found = list(given)
        for reader in readers:
            found += await reader.read(conn)
        signed = _Signed(seals.keyring)
        told = {v for v in {c.sealed_from for c in found} if signed.first(c for c in found if c.sealed_from == v)}
        claims = {await eventlog.sealed_from(conn), seals.sealed_from, *told}
        head = await conn.fetchval("SELECT last_sequence FROM event_log_head")
        newest = signed.first(c for c in sorted(found, key=lambda c: c.sequence, reverse=True) if c.sequence <= head)
        walked = _Walk({c.sequence for c in found}, newest.sequence if newest else 0)
        verdict = await eventlog.walk(conn, seals.keyring, min(claims), walked.observe)
        report.verified, report.head_hash = verdict.verified, verdict.head_hash
        try:
            if not verdict.ok:
                return report.fail(verdict.first_bad_sequence, verdict.problem)
            if len(claims) > 1:
                return report.fail(
                    min(claims),
                    f"where the seals start is told differently (entries {sorted(claims)}): event_log_seals edited",
                )
            if _against_checkpoints(report, found, signed, walked, await eventlog.now(conn), grace):
                return report
            return await _records(conn, seals, report)
        finally:
            report.checkpoints_ignored = signed.failed
            report.checkpoints_verified = len(found) - signed.failed


def _against_checkpoints(
    report: Report, found: list[Checkpoint], signed: _Signed, walked: _Walk, now: datetime, grace: timedelta
) -> bool:
    """Check the log against the checkpoints (those whose signatures verify); True when a problem
    was reported."""
    last = report.verified
    by_sequence = sorted(found, key=lambda c: (c.sequence, c.at), reverse=True)
    gone = signed.first(c for c in by_sequence if c.sequence > last)
    if gone:
        report.fail(
            last + 1,
            f"entries {last + 1} to {gone.sequence} are gone: the checkpoint signed at {eventlog.iso(gone.at)} by"
            f" {gone.replica} covers entry {gone.sequence} (the log was truncated or rolled back)",
        )
        return True
    matching = [c for c in by_sequence if walked.hashes.get(c.sequence) == c.head_hash]
    matched = {id(c) for c in matching}
    rewritten = signed.first(c for c in reversed(by_sequence) if c.sequence <= last and id(c) not in matched)
    if rewritten:
        before = signed.first(c for c in matching if c.sequence < rewritten.sequence)
        start = before.sequence + 1 if before else 1
        report.fail(
            start,
            f"the log no longer matches the checkpoint signed at {eventlog.iso(rewritten.at)} for entry"
            f" {rewritten.sequence}: entries {start} to {rewritten.sequence} were rewritten",
        )
        return True
    report.anchored = anchored = signed.first(matching)
    after = anchored.sequence if anchored else 0
    for sequence in range(after + 1, last + 1):
        at = walked.times.get(sequence)
        if at is not None and ((anchored and at < anchored.at - SLACK) or at < now - grace):
            report.fail(
                sequence,
                f"entry {sequence} (made {eventlog.iso(at)}) is covered by no checkpoint though it is older than"
                " the checkpoints allow: added outside the service, or the checkpoints were removed",
            )
            return True
    return False


async def _records(conn: asyncpg.Connection, seals: Seals, report: Report) -> Report:
    """Every activation's row, hit and sightings against its entries, a page of activations at a time."""
    after = uuid.UUID(int=0)
    while True:
        rows = await conn.fetch(
            "SELECT * FROM activations WHERE activation_id > $1 ORDER BY activation_id LIMIT $2", after, PAGE
        )
        if not rows:
            return report
        ids = [r["activation_id"] for r in rows]
        records = await projection.load(conn, ids, seals)
        sightings = await conn.fetch(
            "SELECT activation_id, hit_id, hit FROM activation_sightings WHERE activation_id = ANY($1::uuid[])", ids
        )
        for row in rows:
            problem = _record_problem(row, records[row["activation_id"]], sightings, seals.sealed_from)
            if problem:
                return report.fail(problem[0], problem[1], str(row["activation_id"]))
            report.activations_verified += 1
        after = ids[-1]


def _record_problem(row, record: projection.Record, sightings, sealed_from: int) -> tuple[int, str] | None:
    aid = row["activation_id"]
    s = record.state
    if s is None:
        return 0, f"activation {aid} has a row but no entry in the log (made outside the log)"
    changed = projection.differences(row, s, sealed_from)
    if changed:
        return s.sequence, (
            f"activation {aid}: {', '.join(changed)} in the activations table differ from what its log entries"
            f" make (changed outside the log; its last entry is {s.sequence})"
        )
    logged = {}
    for e in record.entries:
        if e["kind"] == projection.K.ACTIVATION_EVENT_KIND_SIGHTING:
            p = projection.entry_of(e).payload
            logged[p["hit_id"]] = (p["hit_sha256"], e["sequence"])
    stored = {r["hit_id"]: r["hit"] for r in sightings if r["activation_id"] == aid}
    for hit_id, (digest, sequence) in logged.items():
        if not projection.hit_matches(stored.get(hit_id), digest):
            return (
                sequence,
                f"activation {aid}: the stored sighting of entry {sequence} does not match its logged digest",
            )
    extra = set(stored) - set(logged)
    if extra:
        return s.sequence, f"activation {aid}: {len(extra)} stored sighting(s) with no entry in the log"
    return None
