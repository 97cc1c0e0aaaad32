"""Delivery of one outbox topic from the partitions this replica leases (the pattern: anpr.runtime.outbox).

The relay keeps, per partition it leases, what it knows:

- dirty: rows may wait in the table (a NOTIFY named the partition, a lease moved, a delivery
  failed, the periodic sweep): the next idle worker reads them, in id order;
- in memory: rows this replica has just committed and handed over (`handoff`), accepted only
  while the partition is clean (not dirty, not being read) and the writer's statement saw no older
  row of it that this relay does not know of (`Queued.older`): rows of other writers come first,
  through the table;
- busy: one batch in flight (order per partition);
- delivered: ids to delete, in batches, a little later (the table is the safety net: a row delivered
  but not deleted when the process dies is delivered again, and receivers deduplicate).

A NOTIFY that arrives while its partition is busy is never lost: the partition stays dirty and is
read once the batch in flight is done. One wake-up delivers everything ready in as few calls as the
batch limits allow, and while two batches are in flight what becomes ready waits and goes in the
next one (batches grow with the load, as a group commit's do: fewer calls, each cheaper per record);
once a batch is cut by the limits (a backlog), every worker takes a group of partitions, so that
up to `concurrency` batches are in flight.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import asyncpg
from opentelemetry import trace

from anpr.runtime.failures import DEFAULT_POLICY, Failure, Refused, RetryPolicy, classify, describe, log_failure
from anpr.runtime.leases import PartitionLeases
from anpr.runtime.telemetry import ATTR_OUTBOX_BATCH, ATTR_OUTBOX_TOPIC

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("anpr.outbox")

DEAD_LETTER_PREFIX = "dead-letter:"
OLDER_SEEN = 16  # older rows an enqueue reports per partition; more: the partition goes through the table
# Batches in flight without a backlog: two, as a group commit keeps two flushes in flight, so that
# the receiver works on one while the other travels or waits for its commit.
PIPELINE = 2


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One outbox row: `records` items of a repeated field 1 in `payload`."""

    id: int
    payload: bytes
    records: int
    traceparent: str = ""
    partition: int = 0


@dataclass(frozen=True, slots=True)
class Queued:
    """A row as its writer's statement inserted it, with the ids of the older rows of its partition
    that statement saw (at most OLDER_SEEN + 1): what `OutboxRelay.handoff` needs after the commit."""

    record: OutboxRecord
    older: tuple[int, ...] = ()


# Delivers a batch (per partition in id order); raises to have it retried or split (see RetryPolicy).
Deliver = Callable[[Sequence[OutboxRecord]], Awaitable[None]]


class OutboxRelay:
    """Delivers one topic's records from the partitions this replica leases, with `concurrency`
    workers (module docstring)."""

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
        delete_after_s: float = 0.05,
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
        self._delete_after = delete_after_s
        self._dirty: set[int] = set()
        self._memory: dict[int, list[OutboxRecord]] = {}
        self._reading: set[int] = set()  # partitions whose rows are being read from the table
        self._flight: set[int] = set()  # ids in a batch in flight
        self._done: dict[int, int] = {}  # id -> partition: delivered, to delete
        self._deleted: set[int] = set()  # ids deleted by the last round (a writer's snapshot may hold them)
        self._backlog = False  # the last batch was cut by the limits
        self._batches = 0  # in flight
        self._cursor = 0
        self._last_sweep = -math.inf
        self._event = asyncio.Event()
        self._delete_due = asyncio.Event()
        self._stopped = asyncio.Event()
        self._workers_done = False
        self.delivered = 0  # records delivered by this replica (for tests and metrics)
        self.from_memory = 0  # of those, records delivered without reading the table
        self.dead_letters = 0
        leases.on_change(self._leases_changed)
        leases.holds(topic, lambda: set(self._done.values()))

    # -- what wakes the workers --------------------------------------------------------------------

    def wake(self, partitions: Iterable[int] | None = None) -> None:
        """Rows may wait in the table in `partitions` (None: in any): the next idle worker reads them."""
        self._dirty.update(range(self._leases.partitions) if partitions is None else partitions)
        self._signal()

    def handoff(self, queued: Sequence[Queued]) -> None:
        """Rows this replica has just committed: kept in memory and delivered from there where order
        allows (module docstring), else read from the table. Call it after the commit."""
        owned = self._leases.owned(self.topic)
        for q in queued:
            p = q.record.partition
            if p not in owned:
                continue  # the replica leasing it was told by NOTIFY
            if p in self._dirty or p in self._reading or not self._knows(p, q.older):
                self._dirty.add(p)
            else:
                self._memory.setdefault(p, []).append(q.record)
        self._signal()

    def marked(self, partition: int) -> bool:
        """The partition waits to be read from the table (a NOTIFY or a lease named it)."""
        return partition in self._dirty

    def idle(self) -> bool:
        """Nothing waits to be read, held in memory or in flight."""
        return not self._dirty and not any(self._memory.values()) and self._batches == 0

    def _knows(self, partition: int, older: tuple[int, ...]) -> bool:
        if len(older) > OLDER_SEEN:
            return False
        held = {r.id for r in self._memory.get(partition, ())}
        return all(i in self._done or i in self._flight or i in self._deleted or i in held for i in older)

    def _leases_changed(self) -> None:
        owned = self._leases.owned(self.topic)
        for p in [p for p in self._memory if p not in owned]:
            del self._memory[p]  # another replica delivers them now, from the table
        self.wake(owned)

    def _signal(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def stop(self) -> None:
        self._stopped.set()
        self._delete_due.set()
        self._signal()

    # -- the workers -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Until stopped: the workers, and the deleter, which ends after them (what they delivered last
        is deleted too)."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._deleter(), name=f"outbox-{self.topic}-deleter")
            await asyncio.gather(*(self._worker() for _ in range(self._concurrency)))
            self._workers_done = True
            self._delete_due.set()

    def _ready(self, owned: frozenset[int]) -> list[int]:
        busy = self._leases.busy[self.topic]
        return [p for p in sorted(owned - busy) if p in self._dirty or self._memory.get(p)]

    def _claim(self) -> tuple[list[int], list[int]] | None:
        """(partitions to read from the table, partitions with rows in memory), marked busy; None
        when nothing is ready. No await: atomic among the workers."""
        owned = self._leases.owned(self.topic)
        ready = self._ready(owned)
        if not ready or (self._batches >= PIPELINE and not self._backlog):
            return None  # without a backlog, what comes while batches are in flight goes in the next one
        if self._backlog and len(ready) > 1:  # a group per worker, so that several batches are in flight
            size = max(1, math.ceil(len(owned) / self._concurrency))
            start = self._cursor % len(ready)
            ready = (ready[start:] + ready[:start])[:size]
            self._cursor = start + size
        self._leases.busy[self.topic].update(ready)
        self._batches += 1
        table = [p for p in ready if p in self._dirty]
        self._dirty.difference_update(table)
        for p in table:
            self._memory.pop(p, None)  # committed, so in the table too: read in id order with the rest
        self._reading.update(table)
        if self._ready(owned):
            self._signal()  # more for another worker
        return table, [p for p in ready if p not in table]

    async def _worker(self) -> None:
        attempt = 0
        while not self._stopped.is_set():
            claim = self._claim()
            if claim is None:
                await self._idle()
                continue
            table, memory = claim
            try:
                await self._deliver_claim(table, memory)
                attempt = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an outage (or a bug reading the table): the rows stay, read again
                for p in table + memory:
                    self._memory.pop(p, None)
                    self._dirty.add(p)
                attempt += 1
                delay = self._policy.backoff(attempt)
                log_failure(log, "outbox delivery failed; will retry", exc, topic=self.topic, retry_in_s=delay)
                await self._pause(delay)
            finally:
                self._leases.busy[self.topic].difference_update(table + memory)
                self._reading.difference_update(table)
                self._batches -= 1
                self._signal()  # what came meanwhile

    async def _idle(self) -> None:
        """Wait for a wake-up; every `poll_s` one worker sweeps every partition it leases (a lost
        NOTIFY, a row whose writer could not hand it over)."""
        loop = asyncio.get_running_loop()
        wait = self._last_sweep + self._poll - loop.time()
        if wait <= 0:
            self._last_sweep = loop.time()
            self._dirty.update(self._leases.owned(self.topic))
            return
        try:
            await asyncio.wait_for(self._event.wait(), wait)
        except TimeoutError:
            pass

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopped.wait(), seconds)
        except TimeoutError:
            pass

    # -- one batch ---------------------------------------------------------------------------------

    async def _deliver_claim(self, table: list[int], memory: list[int]) -> None:
        rows = [r for p in memory for r in self._memory.pop(p, [])]
        cut = False
        if table:
            read, cut = await self._read(table)
            rows += read
        batch, left = self._fit(rows)
        self._put_back(left, table)
        if cut:
            self._dirty.update(table)
        self._backlog = cut or bool(left)
        if not batch:
            return
        ids = [r.id for r in batch]
        self._flight.update(ids)
        try:
            dead = await self._deliver_or_split(batch)
            if dead:
                await self._set_aside(dead)
        finally:
            self._flight.difference_update(ids)
        self._done.update((r.id, r.partition) for r in batch if r.id not in dead)
        self._delete_due.set()
        self.delivered += sum(r.records for r in batch)
        self.from_memory += sum(r.records for r in batch if r.partition in memory)

    async def _read(self, partitions: list[int]) -> tuple[list[OutboxRecord], bool]:
        """The oldest rows of `partitions` not delivered yet, in id order (a prefix of every
        partition), and whether the read was cut by the limit."""
        skip = [i for i, p in self._done.items() if p in partitions]
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id, payload, records, traceparent, partition FROM outbox WHERE topic = $1"
                " AND partition = ANY($2::smallint[]) AND id <> ALL($3::bigint[]) ORDER BY id LIMIT $4",
                self.topic,
                partitions,
                skip,
                self._max_records,
            )
        return [OutboxRecord(*r) for r in rows], len(rows) >= self._max_records

    def _fit(self, rows: list[OutboxRecord]) -> tuple[list[OutboxRecord], list[OutboxRecord]]:
        """The batch (a prefix of `rows` within the limits, at least one row) and what is left."""
        records = size = 0
        for i, r in enumerate(rows):
            if i and (records + r.records > self._max_records or size + len(r.payload) > self._max_bytes):
                return rows[:i], rows[i:]
            records += r.records
            size += len(r.payload)
        return rows, []

    def _put_back(self, left: list[OutboxRecord], table: list[int]) -> None:
        """Rows that did not fit: read again from the table, or back at the front of the memory."""
        back: dict[int, list[OutboxRecord]] = {}
        for r in left:
            if r.partition in table:
                self._dirty.add(r.partition)
            else:
                back.setdefault(r.partition, []).append(r)
        for p, rows in back.items():
            self._memory[p] = rows + self._memory.get(p, [])

    async def _set_aside(self, dead: list[int]) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "UPDATE outbox SET topic = $2 || topic WHERE id = ANY($1::bigint[]) AND topic = $3",
                dead,
                DEAD_LETTER_PREFIX,
                self.topic,
            )

    async def _deliver_or_split(self, batch: list[OutboxRecord]) -> list[int]:
        """Deliver `batch`; if the receiver refuses it, deliver row by row. Returns the ids of rows
        refused on their own (dead letters). An outage raises (the batch is retried)."""
        try:
            await self._send(batch)
            return []
        except Refused as exc:
            if len(batch) == 1:
                return self._dead(batch, exc)
        dead = []
        for row in batch:
            try:
                await self._send([row])
            except Refused as exc:
                dead += self._dead([row], exc)
        return dead

    async def _send(self, batch: list[OutboxRecord]) -> None:
        """Deliver once; an outage raises as it is, anything that will not pass raises `Refused`
        (a bug after `bug_attempts` tries: it may be passing, a deploy of the receiver say)."""
        attempt = 1
        while True:
            try:
                with _tracer.start_as_current_span("anpr.outbox.deliver") as span:
                    span.set_attribute(ATTR_OUTBOX_TOPIC, self.topic)
                    span.set_attribute(ATTR_OUTBOX_BATCH, sum(r.records for r in batch))
                    await self._deliver(batch)
                return
            except Exception as exc:
                kind = classify(exc)
                if kind is Failure.OUTAGE:
                    raise
                if kind is Failure.REFUSED:
                    raise exc if isinstance(exc, Refused) else Refused(describe(exc)) from exc
                log_failure(log, "outbox delivery hit a bug", exc, topic=self.topic, attempt=attempt)
                if attempt >= self._policy.bug_attempts:
                    raise Refused(f"failed {attempt} times with {describe(exc)}") from exc
                attempt += 1
                await self._pause(self._policy.backoff(attempt))

    def _dead(self, rows: list[OutboxRecord], exc: Refused) -> list[int]:
        self.dead_letters += len(rows)
        log.error(
            "outbox record refused by the receiver; set aside as a dead letter",
            extra={
                "topic": self.topic,
                "rows": [r.id for r in rows],
                "records": sum(r.records for r in rows),
                "code": describe(exc.__cause__ or exc),
            },
        )
        return [r.id for r in rows]

    # -- deleting what was delivered ---------------------------------------------------------------

    async def _deleter(self) -> None:
        """Delete delivered rows a little after their delivery, many batches' rows at once, without
        waiting for the commit to be flushed (a delete lost in a crash means a redelivery, which
        receivers deduplicate). At stop, once the workers are done, what is left is deleted."""
        attempt = 0
        while not (self._workers_done and not self._done):
            await self._delete_due.wait()
            self._delete_due.clear()
            if not self._done:
                continue
            await self._pause(self._delete_after)
            ids = list(self._done)
            try:
                await self._delete(ids)
                attempt = 0
            except Exception as exc:
                attempt += 1
                log_failure(log, "deleting delivered outbox rows failed; will retry", exc, topic=self.topic)
                if self._workers_done:
                    return  # the next owner delivers them again: receivers deduplicate
                self._delete_due.set()
                await self._pause(self._policy.backoff(attempt))
                continue
            for i in ids:
                self._done.pop(i, None)
            self._deleted = set(ids)

    async def _delete(self, ids: list[int]) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))"
                " DELETE FROM outbox USING relaxed WHERE id = ANY($1::bigint[]) AND topic = $2",
                ids,
                self.topic,
            )
