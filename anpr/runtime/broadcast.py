"""Fan-out of an append-only log to long-lived streams, through PostgreSQL LISTEN/NOTIFY.

Writers append rows with strictly increasing sequence numbers, committed in sequence order (they
serialise on an advisory transaction lock), and NOTIFY the channel with the new sequence. Every
replica keeps one listener; a stream reads rows after the last sequence it sent, then waits here
until a higher sequence is known. A periodic wake-up covers a lost notification.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg


class SequenceBroadcaster:
    def __init__(self, channel: str, backstop_s: float = 2.0):
        self.channel = channel
        self.latest = 0
        self._cond = asyncio.Condition()
        self._backstop = backstop_s
        self._rounds = 0  # bumped to make every stream look again

    async def attach(self, listener, latest: int) -> None:
        self.latest = latest
        await listener.add_listener(self.channel, self._on_notify)

    def _on_notify(self, _conn, _pid, _channel, payload: str) -> None:
        loop = asyncio.get_running_loop()
        loop.create_task(self.advance(int(payload)) if payload else self.look_again())

    async def look_again(self) -> None:
        """Wake every stream to read the log (notifications may have been missed)."""
        async with self._cond:
            self._rounds += 1
            self._cond.notify_all()

    async def advance(self, sequence: int) -> None:
        async with self._cond:
            if sequence > self.latest:
                self.latest = sequence
                self._cond.notify_all()

    async def wait_beyond(self, sequence: int) -> None:
        """Return once a sequence above `sequence` is known, or after the backstop interval."""
        async with self._cond:
            rounds = self._rounds
            try:
                await asyncio.wait_for(
                    self._cond.wait_for(lambda: self.latest > sequence or self._rounds != rounds), self._backstop)
            except TimeoutError:
                pass


class LogServiceComponent:
    """The component of a service that streams an append-only log (notify's alerts, firearms'
    events): its servicer shares a broadcaster fed by a LISTEN connection of its own."""

    def __init__(self, rt, servicer_cls, channel: str,
                 latest_sequence: Callable[[asyncpg.Connection], Awaitable[int]]):
        self._rt = rt
        self._latest = latest_sequence
        self.broadcaster = SequenceBroadcaster(channel)
        self.servicer = servicer_cls(rt.pool, self.broadcaster, rt.settings)

    async def start(self) -> None:
        listener = await self._rt.listener()
        async with self._rt.pool.acquire() as conn:
            latest = await self._latest(conn)
        await self.broadcaster.attach(listener, latest)

    async def stop(self) -> None:
        """Nothing to drain: every entry of the log is committed before it is acknowledged."""


PAGE = 200


async def follow_log(pool: asyncpg.Pool, broadcaster: SequenceBroadcaster, after: int, from_start: bool,
                     latest: Callable[[asyncpg.Connection], Awaitable[int]],
                     fetch: Callable[[asyncpg.Connection, int, int], Awaitable[list[tuple[int, object]]]]):
    """Yield the log's items after sequence `after` (from now when it is 0 and not `from_start`),
    then each new one as it is committed. `fetch(conn, after, limit)` gives (sequence, item) pairs
    in sequence order."""
    if after == 0 and not from_start:
        async with pool.acquire() as conn:
            after = await latest(conn)
    while True:
        async with pool.acquire() as conn:
            page = await fetch(conn, after, PAGE)
        for sequence, item in page:
            after = sequence
            yield item
        if len(page) < PAGE:
            await broadcaster.wait_beyond(after)
