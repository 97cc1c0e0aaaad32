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

The table is the safety net, not the critical path (anpr.runtime.relay): a writer queues its rows
in one statement (`enqueue`, which NOTIFYs the replicas leasing the partitions), and once committed
hands them to its own relay (`Outbox.handoff`), which delivers them from memory where they are next
in their partition; delivered rows are deleted a little later, in batches. A NOTIFY, a lease that
moves or the periodic sweep marks partitions for a read of the table, in id order.

What happens to a batch that fails follows the one classification of failures
(anpr.runtime.failures): an outage is retried with backoff for as long as it lasts (the call waits
for the peer to be ready, so delivery resumes as soon as it is back); a batch the receiver refuses
(invalid, too large, fewer records accepted than sent: `Refused`) is split row by row, and a row
refused on its own is set aside as a dead letter (topic `dead-letter:<topic>`), logged and counted,
so one bad record never holds up the records behind it; a bug (the receiver's INTERNAL, or ours) is
logged with its traceback and tried a few more times, then treated as refused.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Iterable, Sequence

import asyncpg

from anpr.runtime.leases import LEASE_RENEW_S, LEASE_TTL_S, PARTITIONS, PartitionLeases
from anpr.runtime.relay import DEAD_LETTER_PREFIX, OLDER_SEEN, Deliver, OutboxRecord, OutboxRelay, Queued
from anpr.runtime.tasks import Tasks

log = logging.getLogger(__name__)
RELAY_DRAIN_S = 5.0  # the longest a stopping relay is given to finish the batch it is delivering

__all__ = [
    "DEAD_LETTER_PREFIX",
    "LEASE_RENEW_S",
    "LEASE_TTL_S",
    "PARTITIONS",
    "Deliver",
    "Outbox",
    "OutboxRecord",
    "OutboxRelay",
    "PartitionLeases",
    "Queued",
    "encode_field",
    "enqueue",
    "listen_for_outbox",
    "partition_of",
    "rows_by_partition",
]


def partition_of(key: str) -> int:
    """The partition of a record key (stable across processes and versions)."""
    return zlib.crc32(key.encode()) % PARTITIONS


def encode_field(number: int, data: bytes) -> bytes:
    """`data` as a length-delimited protobuf field (a message, string or bytes; one item of a
    repeated message field when repeated): how outbox payloads are built without copying messages."""
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Tags and lengths below 2 KiB from a table: every field of a read's match item, built per read (a
# read without its images is a few hundred bytes). 90 kB a process; 16 KiB's would be 700 kB.
_TABLED = 1 << 11
_SMALL_VARINTS = tuple(_encode_varint(n) for n in range(_TABLED))


def _varint(n: int) -> bytes:
    return _SMALL_VARINTS[n] if n < _TABLED else _encode_varint(n)


_ENQUEUE = f"""
    WITH ins AS (
        INSERT INTO outbox (topic, partition, payload, records, traceparent)
        SELECT $1, r.p, r.b, r.n, $5 FROM unnest($2::smallint[], $3::bytea[], $4::int[]) AS r(p, b, n)
        RETURNING id, partition
    ), told AS (
        SELECT pg_notify(current_schema() || '_outbox', $6) WHERE $6 <> ''
    )
    SELECT i.id, i.partition, ARRAY(
        SELECT o.id FROM outbox o WHERE o.topic = $1 AND o.partition = i.partition ORDER BY o.id LIMIT {OLDER_SEEN + 1}
    ) AS older, t.notified  -- a column of the result, so that `told` is evaluated (not joined away)
    FROM ins i CROSS JOIN (SELECT count(*) AS notified FROM told) t"""


async def enqueue(
    conn: asyncpg.Connection,
    topic: str,
    rows: Sequence[tuple[int, bytes, int]],
    traceparent: str = "",
    local: frozenset[int] = frozenset(),
) -> list[Queued]:
    """Queue (partition, payload, records) rows for `topic` in the caller's transaction, in one
    statement, and NOTIFY the replicas that lease their partitions; `local`: partitions this replica
    leases and will hand its rows over to its own relay after the commit (`Outbox.handoff`), which
    no NOTIFY is sent for. Returns the rows as inserted, in the order given."""
    if not rows:
        return []
    told = sorted({p for p, _, _ in rows} - local)
    got = await conn.fetch(
        _ENQUEUE,
        topic,
        [p for p, _, _ in rows],
        [b for _, b, _ in rows],
        [n for _, _, n in rows],
        traceparent,
        f"{topic}:{','.join(map(str, told))}" if told else "",
    )
    by_partition: dict[int, list] = {}
    for r in sorted(got, key=lambda r: r["id"]):  # ids follow the order given within a partition
        by_partition.setdefault(r["partition"], []).append(r)
    out = []
    for p, payload, n in rows:
        r = by_partition[p].pop(0)
        out.append(Queued(OutboxRecord(r["id"], payload, n, traceparent, p), tuple(r["older"])))
    return out


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


def parse_notification(payload: str) -> tuple[str, list[int] | None]:
    """(topic, partitions) of an outbox NOTIFY: "topic:3,17" names partitions, "topic" means any."""
    topic, _, parts = payload.partition(":")
    return topic, [int(p) for p in parts.split(",") if p] if parts else None


async def listen_for_outbox(listener, relays: Sequence[OutboxRelay]) -> None:
    """Wake each relay when its topic is notified (every relay, every partition, when the payload
    is empty: the listener came back after missing notifications)."""
    by_topic = {r.topic: r for r in relays}

    def on_notify(_conn, _pid, _channel, payload):
        if not payload:
            for relay in relays:
                relay.wake()
            return
        topic, partitions = parse_notification(payload)
        if topic in by_topic:
            by_topic[topic].wake(partitions)

    await listener.add_listener(f"{listener.schema}_outbox", on_notify)


class Outbox:
    """A service's outbox: the leases and one relay per topic, started and stopped together. Their
    tasks are kept by name in `tasks` (the runtime's, so that a failure turns the service
    NOT_SERVING; a registry of its own when none is given)."""

    def __init__(self, pool: asyncpg.Pool, topics: dict[str, tuple[Deliver, dict]]):
        self.leases = PartitionLeases(pool, list(topics))
        self.relays = {t: OutboxRelay(pool, t, deliver, self.leases, **opts) for t, (deliver, opts) in topics.items()}
        self._tasks = Tasks()

    async def enqueue(
        self, conn: asyncpg.Connection, topic: str, rows: Sequence[tuple[int, bytes, int]], traceparent: str = ""
    ) -> list[Queued]:
        """`enqueue` for a topic of this outbox, in the caller's transaction: no NOTIFY for the
        partitions this replica leases (hand the rows to `handoff` once committed)."""
        return await enqueue(conn, topic, rows, traceparent, self.leases.owned(topic))

    def handoff(self, topic: str, queued: Sequence[Queued]) -> None:
        """Rows of `topic` this process has just committed (`enqueue`): to its relay."""
        if queued:
            self.relays[topic].handoff(queued)

    async def start(self, listener, tasks: Tasks | None = None, member: str | None = None) -> None:
        """Lease partitions and start the relays. `member`: this replica's name among the leaseholders,
        the same after a restart (Runtime.instance), so that a replica killed and started again takes
        its leases back at once instead of waiting for them to expire."""
        self._tasks = tasks if tasks is not None else self._tasks
        if member:
            self.leases.member = member
        await self.leases.setup()
        await listen_for_outbox(listener, list(self.relays.values()))
        self._tasks.start("outbox-leases", self.leases.run())
        for topic, relay in self.relays.items():
            self._tasks.start(f"outbox-{topic}", relay.run())

    async def stop(self, grace_s: float = RELAY_DRAIN_S) -> None:
        """Let each relay finish the batch it is delivering (within the service's shutdown grace,
        at most RELAY_DRAIN_S), then give the leases back."""
        grace_s = min(grace_s, RELAY_DRAIN_S)
        for relay in self.relays.values():
            relay.stop()
        # all at once: a relay that ends before its `end` is called would be taken for a failure
        await asyncio.gather(*(self._tasks.end(f"outbox-{topic}", grace_s=grace_s) for topic in self.relays))
        for relay in self.relays.values():
            log.info(
                "outbox relay stopped",
                extra={
                    "topic": relay.topic,
                    "delivered": relay.delivered,
                    "from_memory": relay.from_memory,
                    "dead_letters": relay.dead_letters,
                },
            )
        await self._tasks.cancel("outbox-leases")
        await self.leases.release()
