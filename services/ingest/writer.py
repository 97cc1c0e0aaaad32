"""Group commit for reads: many callers, few transactions.

Callers hand a batch to `write` and wait for its commit. A flusher takes what is queued, up to
`max_reads`: when the writer is idle it flushes at once (no added latency at low load); while a
flush is in flight it waits up to `window_s` for more, so batches grow with load. The queue is
bounded in reads: a caller beyond it waits, its handler stops reading from its stream, and gRPC
flow control slows the camera down instead of this process buffering without bound.

A flush that PostgreSQL refuses for a reason other than an outage (a value validation let through)
is split in halves and retried until only the culprit reads fail: every other caller's reads are
stored. An outage fails the whole flush with `Unavailable` (the callers get UNAVAILABLE).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import asyncpg

from anpr.runtime.errors import Unavailable
from anpr.runtime.failures import Failure, classify, describe, is_outage
from anpr.runtime.outbox import Outbox
from anpr.runtime.tasks import Tasks
from services.ingest import store

Key = tuple[str, datetime]
WRITER_TASK = "read-writer"


@dataclass
class Written:
    """What became of a caller's reads: keys stored now (the rest are duplicates or refused)."""

    stored: set[Key]
    refused: set[Key]


log = logging.getLogger(__name__)


@dataclass
class _Pending:
    reads: Sequence[store.NewRead]
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class ReadWriter:
    def __init__(
        self,
        pool: asyncpg.Pool,
        tasks: Tasks | None = None,
        *,
        max_reads: int = 2000,
        window_s: float = 0.003,
        max_pending_reads: int = 20000,
        max_inflight: int = 2,
        outbox: Outbox | None = None,
    ):
        self._pool = pool
        self._outbox = outbox  # its relay gets each flush's rows once committed
        self._max_reads = max_reads
        self._window = window_s
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._room = asyncio.Condition()
        self._pending_reads = 0  # queued or in flight
        self._held_back = 0  # callers waiting for room
        self._max_pending = max_pending_reads
        self._inflight = asyncio.Semaphore(max_inflight)
        self._flushing = 0
        self._days: set[date] = set()
        self._tasks = tasks if tasks is not None else Tasks()
        self._flushes: set[asyncio.Task] = set()

    async def start(self) -> None:
        async with self._pool.acquire() as conn:
            self._days = (await store.existing_partition_days(conn))["reads"]
        if WRITER_TASK not in self._tasks:  # start may be retried after an outage during start-up
            self._tasks.start(WRITER_TASK, self._run())

    async def stop(self) -> None:
        """Finish what was queued (every waiting caller gets its answer), then stop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10.0
        while (not self._queue.empty() or self._flushes) and loop.time() < deadline:
            await asyncio.gather(*self._flushes, return_exceptions=True)
            await asyncio.sleep(0.01)  # let the flusher pick up what is left
        await self._tasks.cancel(WRITER_TASK)

    async def write(self, reads: Sequence[store.NewRead]) -> Written:
        """Store `reads`; returns once committed. Raises `Unavailable` when PostgreSQL is down."""
        n = len(reads)
        if self._pending_reads + n > self._max_pending and self._pending_reads > 0:
            self._held_back += 1
            try:
                async with self._room:
                    await self._room.wait_for(
                        lambda: self._pending_reads + n <= self._max_pending or self._pending_reads == 0
                    )
            finally:
                self._held_back -= 1
        self._pending_reads += n
        pending = _Pending(reads)
        self._queue.put_nowait(pending)
        try:
            return await asyncio.shield(pending.done)
        finally:
            self._pending_reads -= n
            if self._held_back:  # callers waiting for room
                async with self._room:
                    self._room.notify_all()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            n = len(batch[0].reads)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._window
            while n < self._max_reads:
                if self._queue.empty():
                    remaining = deadline - loop.time()
                    if self._flushing == 0 or remaining <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self._queue.get(), remaining)
                    except TimeoutError:
                        break
                else:
                    item = self._queue.get_nowait()
                batch.append(item)
                n += len(item.reads)
            await self._inflight.acquire()
            self._flushing += 1
            task = asyncio.create_task(self._flush(batch))
            self._flushes.add(task)
            task.add_done_callback(self._flush_done)

    def _flush_done(self, task: asyncio.Task) -> None:
        self._flushes.discard(task)
        self._flushing -= 1
        self._inflight.release()

    async def _flush(self, batch: list[_Pending]) -> None:
        reads = [r for p in batch for r in p.reads]
        try:
            stored, refused = await self._store_isolating(reads)
        except Exception as exc:  # an outage, or a bug: every caller of the flush gets it
            error = Unavailable("the read store is unavailable; resubmit") if is_outage(exc) else exc
            for p in batch:
                if not p.done.done():
                    p.done.set_exception(error)
            return
        # A key stored now belongs to the first caller that sent it; later ones are duplicates.
        claimed: set[Key] = set()
        for p in batch:
            mine = set()
            for r in p.reads:
                key = r.key
                if key in stored and key not in claimed:
                    claimed.add(key)
                    mine.add(key)
            if not p.done.done():
                p.done.set_result(Written(mine, {r.key for r in p.reads} & refused))

    async def _store_isolating(self, reads: list[store.NewRead]) -> tuple[set[Key], set[Key]]:
        """(keys stored, keys refused): one transaction, or, when PostgreSQL refuses a value, halves
        in transactions of their own down to the culprit reads. Outages raise."""
        try:
            return await self._store(reads), set()
        except Exception as exc:
            if classify(exc) is not Failure.REFUSED:
                raise  # an outage or a bug: not the reads' fault
            if len(reads) == 1:
                log.warning("read refused by the store", extra={"error": describe(exc)})
                return set(), {reads[0].key}
        mid = len(reads) // 2
        stored_a, refused_a = await self._store_isolating(reads[:mid])
        stored_b, refused_b = await self._store_isolating(reads[mid:])
        return stored_a | stored_b, refused_a | refused_b

    async def _store(self, reads: list[store.NewRead]) -> set[Key]:
        """One transaction; once committed, its outbox rows go to the relay (delivery from memory)."""
        days = {r.captured_at.date() for r in reads} - self._days
        queue = self._outbox.enqueue if self._outbox is not None else store.outbox.enqueue
        async with self._pool.acquire() as conn:
            if days:
                await store.ensure_partitions(conn, days)
                self._days |= days
            try:
                async with conn.transaction():
                    stored, queued = await store.store_reads(conn, reads, queue)
            except asyncpg.UniqueViolationError:  # a read stored before: again, keeping only the new ones
                async with conn.transaction():
                    stored, queued = await store.store_reads(conn, reads, queue, resubmitted=True)
        if self._outbox is not None:
            self._outbox.handoff(store.MATCH_TOPIC, queued)
        return stored
