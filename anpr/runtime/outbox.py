"""The transactional outbox, partitioned, with partitions leased by replicas.

Records are written in the same transaction as the data they describe and delivered at least once.
Delivery scales out: each topic's records are spread over `PARTITIONS` partitions by a key (the
camera for reads, the VOI entry for hits), every live replica leases a fair share of the
partitions, and each replica keeps several batches in flight, one per group of partitions. Order
holds per partition, so per key: a partition has one deliverer at a time and one batch in flight.
This is the partitioned-outbox / leased-partition pattern of log consumers (Kafka consumer groups):
chosen because it needs nothing but PostgreSQL, survives the loss of any replica (its leases expire
and are taken over within `LEASE_TTL_S` plus a renewal) and lets more replicas deliver more.

Tables (in the service's schema; see its migrations):

    outbox (id bigserial, topic, partition smallint, payload bytea, records int, traceparent, created_at)
    outbox_leases (topic, partition, owner, expires_at)   -- one row per topic and partition
    outbox_members (member, seen_at)                      -- live replicas, for the fair share

A row may hold many records: its payload is the wire encoding of items of a repeated field (field
1), so the payloads of several rows concatenate into one valid request message (MatchReadsRequest,
PublishAlertsRequest, ...), sent without being parsed again. `records` counts the items.

A receiver's answer decides what happens to a batch (`RetryPolicy`): an outage is retried with
backoff (the call waits for the peer to be ready, so delivery resumes as soon as it is back); a
batch the receiver refuses as invalid or too large is split row by row, and a row refused on its
own is set aside as a dead letter (topic `dead-letter:<topic>`), logged and counted, so one bad
record never holds up the records behind it.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import uuid
import zlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import grpc
from opentelemetry import trace

from anpr.runtime.failures import Refused
from anpr.runtime.telemetry import ATTR_OUTBOX_BATCH, ATTR_OUTBOX_TOPIC

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("anpr.outbox")

PARTITIONS = 32  # per topic; the most replicas that can share one topic's delivery
LEASE_TTL_S = 3.0  # a lease not renewed for this long is free for another replica
LEASE_RENEW_S = 1.0
DEAD_LETTER_PREFIX = "dead-letter:"


def partition_of(key: str) -> int:
    """The partition of a record key (stable across processes and versions)."""
    return zlib.crc32(key.encode()) % PARTITIONS


def encode_field(number: int, data: bytes) -> bytes:
    """`data` as a length-delimited protobuf field (a message, string or bytes; one item of a
    repeated message field when repeated): how outbox payloads are built without copying messages."""
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One outbox row: `records` items of a repeated field 1 in `payload`."""

    id: int
    payload: bytes
    records: int
    traceparent: str = ""


class Verdict(enum.Enum):
    RETRY = "retry"  # an outage or a misconfiguration: keep the rows, try again later
    REFUSED = "refused"  # split the batch; a single row refused is a dead letter


@dataclass(frozen=True)
class RetryPolicy:
    """One place that says which failures are transient, and how long to wait between tries."""

    initial_s: float = 0.05
    max_s: float = 1.0
    refused_codes: frozenset = frozenset(
        {
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.OUT_OF_RANGE,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            grpc.StatusCode.FAILED_PRECONDITION,
        }
    )
    # A receiver's bug (INTERNAL, UNKNOWN) is retried this many times, then treated as refused.
    bug_attempts: int = 3

    def verdict(self, exc: BaseException, attempt: int) -> Verdict:
        if isinstance(exc, Refused):
            return Verdict.REFUSED
        if isinstance(exc, grpc.aio.AioRpcError):
            code = exc.code()
            if code in self.refused_codes:
                return Verdict.REFUSED
            if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN) and attempt >= self.bug_attempts:
                return Verdict.REFUSED
        return Verdict.RETRY

    def backoff(self, attempt: int) -> float:
        return min(self.max_s, self.initial_s * (2 ** max(0, attempt - 1)))


DEFAULT_POLICY = RetryPolicy()

# Delivers a batch (rows in id order); raises to have it retried or split (see RetryPolicy).
Deliver = Callable[[Sequence[OutboxRecord]], Awaitable[None]]


async def enqueue(
    conn: asyncpg.Connection, topic: str, rows: Sequence[tuple[int, bytes, int]], traceparent: str = ""
) -> None:
    """Queue (partition, payload, records) rows for `topic` in the caller's transaction."""
    if not rows:
        return
    await conn.copy_records_to_table(
        "outbox",
        records=[(topic, p, payload, n, traceparent) for p, payload, n in rows],
        columns=("topic", "partition", "payload", "records", "traceparent"),
    )
    await conn.execute("SELECT pg_notify(current_schema() || '_outbox', $1)", topic)


def rows_by_partition(items: Iterable[tuple[str, bytes]], max_bytes: int = 1 << 20) -> list[tuple[int, bytes, int]]:
    """Group (key, encoded item) pairs into outbox rows, one per partition (several when a
    partition's items exceed `max_bytes`), keeping the items' order within each partition."""
    parts: dict[int, list[bytes]] = {}
    for key, item in items:
        parts.setdefault(partition_of(key), []).append(item)
    rows = []
    for p, chunk in parts.items():
        start, size = 0, 0
        for i, item in enumerate(chunk):
            if size and size + len(item) > max_bytes:
                rows.append((p, b"".join(chunk[start:i]), i - start))
                start, size = i, 0
            size += len(item)
        rows.append((p, b"".join(chunk[start:]), len(chunk) - start))
    return rows


class PartitionLeases:
    """The partitions of each topic this replica delivers, leased from `outbox_leases`.

    Every `LEASE_RENEW_S` (1 s) the replica marks itself alive in `outbox_members`, renews its leases,
    gives back what exceeds its fair share (ceil(partitions / live replicas), only partitions with
    no batch in flight, so order holds across the hand-over) and claims free or expired ones up to
    its share. If it cannot renew (the database is unreachable) it stops delivering once its
    leases may have expired. On stop it gives every lease back at once.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        topics: Sequence[str],
        *,
        ttl_s: float = LEASE_TTL_S,
        renew_s: float = LEASE_RENEW_S,
        partitions: int = PARTITIONS,
    ):
        self._pool = pool
        self.topics = tuple(topics)
        self.member = uuid.uuid4().hex
        self._ttl = ttl_s
        self._renew = renew_s
        self._partitions = partitions
        self._owned: dict[str, frozenset[int]] = {t: frozenset() for t in self.topics}
        self._valid_until = 0.0
        self.busy: dict[str, set[int]] = {t: set() for t in self.topics}
        self._changed: list[Callable[[], None]] = []
        self._stopping = asyncio.Event()

    def owned(self, topic: str) -> frozenset[int]:
        if asyncio.get_running_loop().time() > self._valid_until:
            return frozenset()
        return self._owned[topic]

    def on_change(self, callback: Callable[[], None]) -> None:
        self._changed.append(callback)

    async def setup(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO outbox_leases (topic, partition)"
                " SELECT t, p FROM unnest($1::text[]) t, generate_series(0, $2 - 1) p ON CONFLICT DO NOTHING",
                list(self.topics),
                self._partitions,
            )
        await self.renew_once()

    async def renew_once(self) -> None:
        started = asyncio.get_running_loop().time()
        ttl = timedelta(seconds=self._ttl)
        async with self._pool.acquire() as conn, conn.transaction():
            live = await conn.fetchval(
                "WITH me AS (INSERT INTO outbox_members (member, seen_at) VALUES ($1, now())"
                " ON CONFLICT (member) DO UPDATE SET seen_at = now()),"
                " gone AS (DELETE FROM outbox_members WHERE seen_at < now() - interval '10 minutes')"
                " SELECT count(*) + 1 FROM outbox_members WHERE member <> $1 AND seen_at > now() - $2::interval",
                self.member,
                ttl,
            )
            share = math.ceil(self._partitions / max(1, live))
            owned = {t: await self._balance(conn, t, share, ttl) for t in self.topics}
        before = self._owned
        self._owned = owned
        self._valid_until = started + self._ttl * 0.8
        if owned != before:
            log.info(
                "outbox partitions leased",
                extra={"replicas": live, "partitions": {t: len(p) for t, p in owned.items()}},
            )
            for callback in self._changed:
                callback()

    async def _balance(self, conn: asyncpg.Connection, topic: str, share: int, ttl: timedelta) -> frozenset[int]:
        mine = {
            r[0]
            for r in await conn.fetch(
                "UPDATE outbox_leases SET expires_at = now() + $3::interval WHERE topic = $1 AND owner = $2"
                " RETURNING partition",
                topic,
                self.member,
                ttl,
            )
        }
        if len(mine) > share:
            spare = sorted(mine - self.busy[topic])[: len(mine) - share]
            await conn.execute(
                "UPDATE outbox_leases SET owner = NULL, expires_at = '-infinity'"
                " WHERE topic = $1 AND owner = $2 AND partition = ANY($3::smallint[])",
                topic,
                self.member,
                spare,
            )
            mine -= set(spare)
        elif len(mine) < share:
            mine |= {
                r[0]
                for r in await conn.fetch(
                    "WITH free AS (SELECT partition FROM outbox_leases WHERE topic = $1"
                    " AND (owner IS NULL OR expires_at < now()) ORDER BY partition LIMIT $3 FOR UPDATE SKIP LOCKED)"
                    " UPDATE outbox_leases l SET owner = $2, expires_at = now() + $4::interval FROM free"
                    " WHERE l.topic = $1 AND l.partition = free.partition RETURNING l.partition",
                    topic,
                    self.member,
                    share - len(mine),
                    ttl,
                )
            }
        return frozenset(mine)

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), self._renew)
                break
            except TimeoutError:
                pass
            try:
                await self.renew_once()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("outbox lease renewal failed; will retry", extra={"error": type(exc).__name__})

    async def release(self) -> None:
        """Give every lease back (at stop), so other replicas take over at once."""
        self._stopping.set()
        self._valid_until = 0.0
        try:
            async with self._pool.acquire() as conn:
                await conn.execute(
                    "UPDATE outbox_leases SET owner = NULL, expires_at = '-infinity' WHERE owner = $1", self.member
                )
                await conn.execute("DELETE FROM outbox_members WHERE member = $1", self.member)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning(
                "could not release outbox leases; they expire by themselves", extra={"error": type(exc).__name__}
            )


class OutboxRelay:
    """Delivers one topic's records from the partitions this replica leases.

    `concurrency` workers each take a group of free partitions (about owned / concurrency of
    them, in turn), read their oldest rows up to `max_records` / `max_bytes`, deliver them as one
    batch and delete them. A partition belongs to one batch at a time (order per partition).
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        topic: str,
        deliver: Deliver,
        leases: PartitionLeases,
        *,
        max_records: int = 2000,
        max_bytes: int = 4 << 20,
        concurrency: int = 4,
        poll_s: float = 1.0,
        policy: RetryPolicy = DEFAULT_POLICY,
    ):
        self._pool = pool
        self.topic = topic
        self._deliver = deliver
        self._leases = leases
        self._max_records = max_records
        self._max_bytes = max_bytes
        self._concurrency = concurrency
        self._poll = poll_s
        self._policy = policy
        self._event = asyncio.Event()
        self._generation = 0
        self._stopped = asyncio.Event()
        self._cursor = 0
        self.delivered = 0  # records delivered by this replica (for tests and metrics)
        self.dead_letters = 0
        leases.on_change(self.wake)

    def wake(self) -> None:
        """New rows (or leases) may be there: every idle worker looks."""
        self._generation += 1
        self._event.set()
        self._event = asyncio.Event()

    def stop(self) -> None:
        self._stopped.set()
        self.wake()

    async def run(self) -> None:
        await asyncio.gather(*(self._worker() for _ in range(self._concurrency)))

    def _claim(self) -> list[int]:
        """Mark a group of free leased partitions busy for this worker (no await: atomic)."""
        owned = self._leases.owned(self.topic)
        busy = self._leases.busy[self.topic]
        free = sorted(owned - busy)
        if not free:
            return []
        size = max(1, math.ceil(len(owned) / self._concurrency))
        start = self._cursor % len(free)
        group = (free[start:] + free[:start])[:size]
        self._cursor = start + size
        busy.update(group)
        return group

    async def _worker(self) -> None:
        attempt = 0
        while not self._stopped.is_set():
            generation = self._generation
            group = self._claim()
            try:
                delivered = await self._deliver_group(group) if group else 0
                attempt = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an outage: keep the rows, retry after a pause
                attempt += 1
                delay = self._policy.backoff(attempt)
                log.warning(
                    "outbox delivery failed; will retry",
                    extra={"topic": self.topic, "error": type(exc).__name__, "retry_in_s": delay},
                )
                await self._pause(delay)
                continue
            finally:
                self._leases.busy[self.topic].difference_update(group)
            if not delivered and self._generation == generation:
                await self._idle()

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopped.wait(), seconds)
        except TimeoutError:
            pass

    async def _idle(self) -> None:
        """Wait for a wake-up, or the poll interval (a missed NOTIFY, a lease that moved)."""
        try:
            await asyncio.wait_for(self._event.wait(), self._poll)
        except TimeoutError:
            pass

    async def _deliver_group(self, group: list[int]) -> int:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id, payload, records, traceparent FROM outbox WHERE topic = $1"
                " AND partition = ANY($2::smallint[]) ORDER BY id LIMIT $3",
                self.topic,
                group,
                self._max_records,
            )
        batch, records, size = [], 0, 0
        for r in rows:  # a prefix in id order is a prefix of every partition: order holds
            if batch and (records + r["records"] > self._max_records or size + len(r["payload"]) > self._max_bytes):
                break
            batch.append(OutboxRecord(r["id"], r["payload"], r["records"], r["traceparent"]))
            records += r["records"]
            size += len(r["payload"])
        if not batch:
            return 0
        dead = await self._deliver_or_split(batch)
        async with self._pool.acquire() as conn, conn.transaction():
            if dead:
                await conn.execute(
                    "UPDATE outbox SET topic = $2 || topic WHERE id = ANY($1::bigint[])", dead, DEAD_LETTER_PREFIX
                )
            await conn.execute(
                "DELETE FROM outbox WHERE id = ANY($1::bigint[]) AND topic = $2", [r.id for r in batch], self.topic
            )
        self.delivered += records
        return records

    async def _deliver_or_split(self, batch: list[OutboxRecord]) -> list[int]:
        """Deliver `batch`; if the receiver refuses it, deliver row by row. Returns the ids of rows
        refused on their own (dead letters). An outage raises (the batch is retried)."""
        try:
            await self._send(batch)
            return []
        except Exception as exc:
            if self._policy.verdict(exc, 1) is not Verdict.REFUSED:
                raise
            if len(batch) == 1:
                return self._dead(batch, exc)
        dead = []
        for row in batch:
            try:
                await self._send([row])
            except Exception as exc:
                if self._policy.verdict(exc, 1) is not Verdict.REFUSED:
                    raise
                dead += self._dead([row], exc)
        return dead

    async def _send(self, batch: list[OutboxRecord]) -> None:
        attempt = 1
        while True:
            try:
                with _tracer.start_as_current_span("anpr.outbox.deliver") as span:
                    span.set_attribute(ATTR_OUTBOX_TOPIC, self.topic)
                    span.set_attribute(ATTR_OUTBOX_BATCH, sum(r.records for r in batch))
                    await self._deliver(batch)
                return
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
                    raise
                if self._policy.verdict(exc, attempt) is Verdict.REFUSED:
                    raise Refused(f"receiver failed {attempt} times with {exc.code().name}") from exc
                attempt += 1  # a receiver's bug may be passing: a few more tries before giving up
                await self._pause(self._policy.backoff(attempt))

    def _dead(self, rows: list[OutboxRecord], exc: BaseException) -> list[int]:
        code = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else type(exc).__name__
        self.dead_letters += len(rows)
        log.error(
            "outbox record refused by the receiver; set aside as a dead letter",
            extra={
                "topic": self.topic,
                "rows": [r.id for r in rows],
                "records": sum(r.records for r in rows),
                "code": code,
            },
        )
        return [r.id for r in rows]


async def listen_for_outbox(listener, relays: Sequence[OutboxRelay]) -> None:
    """Wake each relay when its topic is notified (every relay when the payload is empty: the
    listener came back after missing notifications)."""
    by_topic = {r.topic: r for r in relays}

    def on_notify(_conn, _pid, _channel, payload):
        for relay in [by_topic[payload]] if payload in by_topic else relays if not payload else []:
            relay.wake()

    await listener.add_listener(f"{listener.schema}_outbox", on_notify)


class Outbox:
    """A service's outbox: the leases and one relay per topic, started and stopped together."""

    def __init__(self, pool: asyncpg.Pool, topics: dict[str, tuple[Deliver, dict]]):
        self.leases = PartitionLeases(pool, list(topics))
        self.relays = {t: OutboxRelay(pool, t, deliver, self.leases, **opts) for t, (deliver, opts) in topics.items()}
        self._tasks: dict[str, asyncio.Task] = {}

    async def start(self, listener) -> None:
        await self.leases.setup()
        await listen_for_outbox(listener, list(self.relays.values()))
        self._tasks = {"outbox-leases": asyncio.create_task(self.leases.run(), name="outbox-leases")}
        for topic, relay in self.relays.items():
            self._tasks[f"outbox-{topic}"] = asyncio.create_task(relay.run(), name=f"outbox-{topic}")
        for task in self._tasks.values():
            task.add_done_callback(_log_failure)

    async def stop(self) -> None:
        for relay in self.relays.values():
            relay.stop()
        relays = [t for n, t in self._tasks.items() if n != "outbox-leases"]
        done, pending = await asyncio.wait(relays, timeout=5) if relays else (set(), set())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for relay in self.relays.values():
            log.info(
                "outbox relay stopped",
                extra={"topic": relay.topic, "delivered": relay.delivered, "dead_letters": relay.dead_letters},
            )
        await self.leases.release()
        if "outbox-leases" in self._tasks:
            await asyncio.gather(self._tasks["outbox-leases"], return_exceptions=True)


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task failed", extra={"task": task.get_name()}, exc_info=task.exception())
