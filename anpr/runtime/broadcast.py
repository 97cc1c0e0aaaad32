"""Fan-out of an append-only log to long-lived streams, through PostgreSQL LISTEN/NOTIFY.

Writers append rows with strictly increasing sequence numbers, committed in sequence order (they
serialise on an advisory transaction lock), and NOTIFY the channel with the new sequence. Every
replica keeps one listener; a stream reads rows after the last sequence it sent, then waits here
until a higher sequence is known. A periodic wake-up covers a lost notification.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from anpr.runtime.failures import keep_running
from anpr.runtime.tasks import Tasks

log = logging.getLogger(__name__)


PAGE = 200


class LogTail:
    """The recent end of an append-only log, held in memory once per replica and shared by every
    stream it serves (notify's alerts).

    Items enter in sequence order, without holes. What this replica commits is handed over at
    once (`publish`: no re-read); what other replicas commit is read once per replica, not once per
    stream, when their NOTIFY arrives (and by a periodic backstop for a lost notification). A
    stream whose cursor is inside the tail reads from memory; one further behind pages from the
    database until it catches up.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        fetch: Callable[[asyncpg.Connection, int, int], Awaitable[list]],
        latest: Callable[[asyncpg.Connection], Awaitable[int]],
        *,
        capacity: int = 10_000,
        backstop_s: float = 2.0,
    ):
        self._pool = pool
        self._fetch = fetch
        self._latest = latest
        self._capacity = capacity
        self._backstop = backstop_s
        self._items: dict[int, object] = {}
        self.first = 1  # lowest sequence held (when any)
        self.latest = 0  # highest sequence held: every item up to it is committed and known here
        self._event = asyncio.Event()
        self._waiters: dict[asyncio.Event, Callable[[object], bool]] = {}  # caught-up filtered streams
        self._want = asyncio.Event()
        self._tasks: Tasks | None = None
        self._name = ""

    async def start(self, listener, channel: str, tasks: Tasks | None = None) -> None:
        """Follow `channel` (on the replica's LISTEN connection); the follower is a task named
        "log-tail-<channel>" in `tasks` (the runtime's; a registry of its own when none is given)."""
        async with self._pool.acquire() as conn:
            self.latest = await self._latest(conn)
        self.first = self.latest + 1
        await listener.add_listener(channel, self._on_notify)
        self._tasks = tasks if tasks is not None else Tasks()
        self._name = f"log-tail-{channel}"
        self._tasks.start(self._name, keep_running(self._read_new, log, "reading the log"))

    async def stop(self) -> None:
        if self._tasks is not None:
            await self._tasks.cancel(self._name)

    def _on_notify(self, _conn, _pid, _channel, payload: str) -> None:
        if not payload or int(payload) > self.latest:
            self._want.set()

    def publish(self, items: list[tuple[int, object]]) -> None:
        """Items this replica has just committed, in sequence order."""
        if items and items[0][0] == self.latest + 1:
            self._append(items)
        elif items and items[-1][0] > self.latest:
            self._want.set()  # others committed before these: read the log to close the gap

    def _append(self, items) -> None:
        grew = False
        for sequence, item in items:
            if sequence == self.latest + 1:
                self._items[sequence] = item
                self.latest = sequence
                grew = True
        while len(self._items) > self._capacity:
            del self._items[self.first]
            self.first += 1
        if grew:
            self._event.set()
            self._event = asyncio.Event()
            new = [item for _, item in items]
            for event, wants in list(self._waiters.items()):  # wake only the streams an item is for
                if any(wants(item) for item in new):
                    event.set()

    async def _read_new(self) -> float:
        """Read what other replicas committed, once told (or after the backstop interval)."""
        try:
            await asyncio.wait_for(self._want.wait(), self._backstop)
        except TimeoutError:
            pass
        self._want.clear()
        try:
            while True:
                async with self._pool.acquire() as conn:
                    page = await self._fetch(conn, self.latest, PAGE)
                self._append(page)
                if len(page) < PAGE:
                    return 0.0
        except BaseException:
            self._want.set()  # not read: look again after the pause
            raise

    def start_of(self, after: int, from_start: bool) -> int:
        """Where a stream starts: after `after`, or from now when it is 0 and not `from_start`."""
        return self.latest if after == 0 and not from_start else after

    async def follow(self, after: int, idle_s: float | None = None, wants: Callable[[object], bool] | None = None):
        """Yield runs of (sequence, item) for the log's items after sequence `after`, then of each
        new one as it is committed (a run is what was there at once, up to a page: a stream filters
        it in one loop); with `idle_s`, an empty run whenever that long passes with nothing new (a
        heartbeat for the stream). With `wants`, a caught-up stream sleeps until an item it wants
        comes (or `idle_s` passes): with many streams each for a small area, an alert wakes only
        the few it is for."""
        wait = idle_s if idle_s is not None else self._backstop
        while True:
            if after + 1 < self.first:  # behind the tail: page from the database
                async with self._pool.acquire() as conn:
                    page = await self._fetch(conn, after, PAGE)
                if page:
                    after = page[-1][0]
                    yield page
                else:  # the rows before the tail are gone (retention): go on from the tail
                    after = self.first - 1
                continue
            if after < self.latest:
                run = []
                for sequence in range(after + 1, min(self.latest, after + PAGE) + 1):
                    item = self._items.get(sequence)
                    if item is None:  # trimmed meanwhile: page from the database
                        break
                    run.append((sequence, item))
                if run:
                    after = run[-1][0]
                    yield run
                continue
            if wants is None:
                event = self._event
            else:
                event = asyncio.Event()
                self._waiters[event] = wants
            try:
                await asyncio.wait_for(event.wait(), wait)
            except TimeoutError:
                if idle_s is not None:
                    yield []
            finally:
                self._waiters.pop(event, None)
