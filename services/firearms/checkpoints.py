"""Signed checkpoints of the firearms log's head, published where a DBA cannot rewrite them.

A checkpoint says: "entry `sequence` of the log has hash `head_hash`" (at `at`; entries are sealed
from `sealed_from`), signed with the log's key (Ed25519; keys.py). Every firearms replica runs a
checkpointer: every `ANPR_CHECKPOINT_INTERVAL_S` while the log moves, and once more at shutdown, it
verifies the entries added since the head it last anchored (the chain from that hash, each entry's
seal) and, only if they verify, signs the new head and publishes it. Each replica signs what it
sees (no lease to hold or lose; several witnesses are better than one).

Publishers (pluggable): the database (`log_checkpoints`: handy for `anpr ndm verify`, but a DBA may
delete rows there), an append-only file (`ANPR_CHECKPOINT_FILE`: a volume the database's people
cannot reach; `chattr +a` makes it append-only for root too), the structured log stream (a JSON line
"firearms log checkpoint" on stderr: the log collector keeps it beyond the database), and an object
store with a retention lock (`ANPR_CHECKPOINT_S3_URL`, S3 Object Lock in compliance mode: no one,
the bucket's owner included, deletes or overwrites a checkpoint before its retention ends).

`anpr ndm verify` checks the log against every checkpoint it is given and the service can read
(verification.py): a checkpoint beyond the log's end names a truncation, one whose hash no longer
matches names a rewrite.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import asyncpg

from anpr.v1 import firearms_pb2 as F
from services.firearms import eventlog
from services.firearms.keys import Keyring
from services.firearms.projection import Seals

log = logging.getLogger(__name__)
TITLE = "anpr-firearms-log-checkpoint/1"
ANCHOR_SEARCH = 1000  # a replica starting anchors at the newest of this many checkpoints of each place
LOG_MESSAGE = "firearms log checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    sequence: int
    head_hash: str
    at: datetime
    sealed_from: int
    key_id: str = ""
    replica: str = ""
    signature: str = ""

    def statement(self) -> bytes:
        """What the signature covers (every field but the signature, one a line)."""
        fields = (self.sequence, self.head_hash, eventlog.iso(self.at), self.sealed_from, self.key_id, self.replica)
        return "\n".join([TITLE, *map(str, fields)]).encode()

    def signed(self, keyring: Keyring) -> Checkpoint:
        unsigned = replace(self, key_id=keyring.current.key_id)
        kid, signature = keyring.sign(unsigned.statement())
        return replace(unsigned, key_id=kid, signature=signature)

    def as_json(self) -> dict:
        return asdict(self) | {"at": eventlog.iso(self.at)}

    @classmethod
    def from_json(cls, d: dict) -> Checkpoint:
        return cls(
            sequence=int(d["sequence"]),
            head_hash=str(d["head_hash"]),
            at=datetime.fromisoformat(d["at"]),
            sealed_from=int(d["sealed_from"]),
            key_id=str(d.get("key_id", "")),
            replica=str(d.get("replica", "")),
            signature=str(d.get("signature", "")),
        )


def from_message(m: F.LogCheckpoint) -> Checkpoint:
    at = m.at.ToDatetime(timezone.utc) if m.HasField("at") else datetime.min.replace(tzinfo=timezone.utc)
    return Checkpoint(m.sequence, m.head_hash, at, m.sealed_from, m.key_id, m.replica, m.signature)


def to_message(c: Checkpoint) -> F.LogCheckpoint:
    m = F.LogCheckpoint(
        sequence=c.sequence,
        head_hash=c.head_hash,
        sealed_from=c.sealed_from,
        key_id=c.key_id,
        replica=c.replica,
        signature=c.signature,
    )
    m.at.FromDatetime(c.at)
    return m


def parse_lines(lines: Iterable[str]) -> list[Checkpoint]:
    """The checkpoints among JSON lines: a checkpoint file's, or a service log's (its
    "firearms log checkpoint" lines carry one under `checkpoint`); other lines are skipped."""
    out = []
    for line in lines:
        try:
            d = json.loads(line)
            d = d.get("checkpoint", d) if isinstance(d, dict) else None
            if isinstance(d, dict) and "signature" in d:
                out.append(Checkpoint.from_json(d))
        except (ValueError, KeyError, TypeError):
            continue
    return out


# ---- where checkpoints go (and, for some, come back from) ----


class Publisher(Protocol):
    name: str

    async def publish(self, c: Checkpoint) -> None: ...


class Readable(Protocol):
    """A place checkpoints can be read back from (the database's copy reads on `conn` when given)."""

    async def read(self, conn: asyncpg.Connection | None = None, newest: int | None = None) -> list[Checkpoint]: ...


class DatabaseCopy:
    """log_checkpoints: the copy `anpr ndm verify` always finds (a DBA can delete it: the others stay)."""

    name = "database"

    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    async def publish(self, c: Checkpoint) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO log_checkpoints (sequence, head_hash, at, sealed_from, key_id, replica, signature)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                *(c.sequence, c.head_hash, c.at, c.sealed_from, c.key_id, c.replica, c.signature),
            )

    async def read(self, conn: asyncpg.Connection | None = None, newest: int | None = None) -> list[Checkpoint]:
        sql = (
            "SELECT sequence, head_hash, at, sealed_from, key_id, replica, signature FROM log_checkpoints"
            " ORDER BY sequence DESC LIMIT $1"
        )
        if conn is not None:
            return [Checkpoint(**dict(r)) for r in await conn.fetch(sql, newest)]
        async with self._pool.acquire() as own:
            return [Checkpoint(**dict(r)) for r in await own.fetch(sql, newest)]


class AppendOnlyFile:
    """One JSON line per checkpoint, appended (O_APPEND) and flushed to disk."""

    name = "file"

    def __init__(self, path: Path):
        self.path = Path(path)

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    async def publish(self, c: Checkpoint) -> None:
        await asyncio.to_thread(self._append, json.dumps(c.as_json(), sort_keys=True) + "\n")

    async def read(self, conn: asyncpg.Connection | None = None, newest: int | None = None) -> list[Checkpoint]:
        if not self.path.exists():
            return []
        text = await asyncio.to_thread(self.path.read_text, errors="replace")
        found = parse_lines(text.splitlines())
        return found[-newest:] if newest else found


class LogStream:
    """A JSON log line on stderr, which the platform's log collector keeps beyond the database."""

    name = "log"

    async def publish(self, c: Checkpoint) -> None:
        log.info(LOG_MESSAGE, extra={"checkpoint": c.as_json()})


class ObjectLockStore:
    """An S3 bucket with Object Lock: one object per checkpoint, in compliance mode until
    `retain_days` have passed (boto3, with the standard AWS_* settings or the pod's role)."""

    name = "s3"

    def __init__(self, url: str, retain_days: int, client=None):
        parts = urlsplit(url)
        self.bucket, self.prefix = parts.netloc, parts.path.strip("/")
        self.retain = timedelta(days=retain_days)
        self._client = client

    def client(self):
        if self._client is None:
            import boto3  # optional: `pip install boto3` where checkpoints go to S3

            self._client = boto3.client("s3")
        return self._client

    def key_of(self, c: Checkpoint) -> str:
        name = f"{c.replica}/{c.sequence:020d}-{eventlog.iso(c.at)}.json"
        return f"{self.prefix}/{name}" if self.prefix else name

    def _put(self, c: Checkpoint) -> None:
        self.client().put_object(
            Bucket=self.bucket,
            Key=self.key_of(c),
            Body=json.dumps(c.as_json(), sort_keys=True).encode(),
            ContentType="application/json",
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=c.at + self.retain,
        )

    async def publish(self, c: Checkpoint) -> None:
        await asyncio.to_thread(self._put, c)

    def _read(self) -> list[Checkpoint]:
        out, s3 = [], self.client()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for o in page.get("Contents", []):
                body = s3.get_object(Bucket=self.bucket, Key=o["Key"])["Body"].read().decode()
                out += parse_lines([body])
        return out

    async def read(self, conn: asyncpg.Connection | None = None, newest: int | None = None) -> list[Checkpoint]:
        found = await asyncio.to_thread(self._read)
        return sorted(found, key=lambda c: c.sequence)[-newest:] if newest else found


def replica_name() -> str:
    return f"{os.environ.get('K8S_POD_NAME') or socket.gethostname()}:{os.getpid()}"


# ---- the checkpointer ----


@dataclass(frozen=True)
class Anchor:
    sequence: int
    head_hash: str


GENESIS = Anchor(0, eventlog.GENESIS)


class Checkpointer:
    """This replica's checkpoints: `tick` (under keep_running) every interval, `final` at shutdown."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        seals: Seals,
        publishers: list[Publisher],
        readers: list[Readable],
        interval_s: float,
        replica: str | None = None,
    ):
        self._pool, self._seals, self.interval_s = pool, seals, interval_s
        self.publishers, self.readers = publishers, readers
        self.replica = replica or replica_name()
        self.anchor: Anchor | None = None
        self.made = 0
        self.problem: dict = {}  # why the last head was not signed

    async def tick(self) -> float:
        await self.checkpoint()
        return self.interval_s

    async def final(self) -> None:
        """At shutdown: the head as it is now, if it moved (failures are logged, not raised)."""
        try:
            await self.checkpoint()
        except Exception:
            log.exception("final firearms log checkpoint failed")

    async def checkpoint(self) -> Checkpoint | None:
        """Sign and publish the head if it moved since the anchor and what was added verifies."""
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            if self.anchor is None:
                self.anchor = await self._find_anchor(conn)
            head = await conn.fetchrow("SELECT last_sequence, last_hash, clock_timestamp() AS at FROM event_log_head")
            if head["last_sequence"] == self.anchor.sequence and head["last_hash"] == self.anchor.head_hash:
                return None
            problem = await self._verify_since(conn, head["last_sequence"], head["last_hash"])
        if problem:
            if problem != self.problem:  # said once per problem, not every interval
                log.error("firearms event log does not verify: no checkpoint signed", extra=problem)
            self.problem = problem
            return None
        self.problem = {}
        c = Checkpoint(
            head["last_sequence"], head["last_hash"], head["at"], self._seals.sealed_from, replica=self.replica
        )
        c = c.signed(self._seals.keyring)
        await self._publish(c)
        self.anchor = Anchor(c.sequence, c.head_hash)
        self.made += 1
        return c

    async def _publish(self, c: Checkpoint) -> None:
        for p in self.publishers:
            try:
                await p.publish(c)
            except Exception as exc:  # one place down must not keep the checkpoint from the others
                log.error(
                    "firearms log checkpoint not published",
                    extra={"publisher": p.name, "sequence": c.sequence, "error": type(exc).__name__},
                )

    async def _verify_since(self, conn: asyncpg.Connection, last: int, last_hash: str) -> dict:
        """The entries after the anchor up to the head: consecutive, chained from the anchor's hash,
        sealed; the head's hash the last one's. Returns the problem ({} when none)."""
        expected, previous = self.anchor.sequence + 1, self.anchor.head_hash
        seals = self._seals
        async for row in eventlog.entries_after(conn, self.anchor.sequence):
            if row["sequence"] > last:
                break
            problem = eventlog.check_entry(row, expected, previous, seals.sealed_from, seals.keyring)
            if problem:
                return {"sequence": expected, "problem": problem}
            previous, expected = row["hash"], expected + 1
        if expected - 1 != last or previous != last_hash:
            return {"sequence": expected, "problem": "the head is not the last entry"}
        return {}

    async def _find_anchor(self, conn: asyncpg.Connection) -> Anchor:
        """The newest checkpoint (validly signed) that the log still matches; else the genesis."""
        found: list[Checkpoint] = []
        for reader in self.readers:
            try:
                found += await reader.read(conn, newest=ANCHOR_SEARCH)
            except Exception as exc:
                log.warning(
                    "checkpoints not read", extra={"reader": type(reader).__name__, "error": type(exc).__name__}
                )
        keyring = self._seals.keyring
        for c in sorted(found, key=lambda c: c.sequence, reverse=True):
            if not keyring.signature_ok(c.key_id, c.statement(), c.signature):
                continue
            stored = await conn.fetchval("SELECT hash FROM event_log WHERE sequence = $1", c.sequence)
            if stored == c.head_hash:
                return Anchor(c.sequence, c.head_hash)
        return GENESIS
