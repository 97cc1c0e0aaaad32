"""Fan-out of an append-only log to long-lived streams, through PostgreSQL LISTEN/NOTIFY.

Writers append rows with strictly increasing sequence numbers, committed in sequence order (they
serialise on an advisory transaction lock), and NOTIFY the channel with the new sequence. Every
replica keeps one listener; a stream reads rows after the last sequence it sent, then waits here
until a higher sequence is known. A periodic wake-up covers a lost notification.
"""

from __future__ import annotations

import asyncio

import asyncpg


class SequenceBroadcaster:
    def __init__(self, channel: str, backstop_s: float = 2.0):
        self.channel = channel
        self.latest = 0
        self._cond = asyncio.Condition()
        self._backstop = backstop_s

    async def attach(self, conn: asyncpg.Connection, latest: int) -> None:
        self.latest = latest
        await conn.add_listener(self.channel, self._on_notify)

    def _on_notify(self, _conn, _pid, _channel, payload: str) -> None:
        asyncio.get_running_loop().create_task(self.advance(int(payload)))

    async def advance(self, sequence: int) -> None:
        async with self._cond:
            if sequence > self.latest:
                self.latest = sequence
                self._cond.notify_all()

    async def wait_beyond(self, sequence: int) -> None:
        """Return once a sequence above `sequence` is known, or after the backstop interval."""
        async with self._cond:
            try:
                await asyncio.wait_for(self._cond.wait_for(lambda: self.latest > sequence), self._backstop)
            except TimeoutError:
                pass
