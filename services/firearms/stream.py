"""The consoles' stream of activation events: firearms' log held in this replica's LogTail
(anpr.runtime.broadcast), shared by every console it serves.

An item is one event, as a console is shown it (with its activation's head), and its audience. A
supervisor's stream takes every item of their force (a national one's every item); a commander's
those whose audience holds their subject.
What this replica commits is handed to the tail as it commits (`EventLog.transaction`); what other
replicas commit comes by NOTIFY.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from anpr.runtime.auth import Caller
from anpr.runtime.broadcast import LogTail
from anpr.scope import in_scope
from anpr.v1 import firearms_pb2 as F
from services.firearms import reading, rules
from services.firearms.projection import Seals

TAIL_SIZE = 2000  # events held in memory (each with its activation's head)
PUBLISH_LIMIT = 100  # events read back by one transaction for the tail (more come by NOTIFY)
CAUGHT_UP = F.StreamActivationsResponse(caught_up=True)  # the end of a replay (shared: never changed)


@dataclass(frozen=True, slots=True)
class EventItem:
    # shared by every stream that sends it: never changed; None: an entry that does not verify,
    # shown to nobody
    response: F.StreamActivationsResponse | None
    audience: frozenset[str]


def items_reader(seals: Seals):
    """The tail's reader: the items after a sequence (the log's entries as the consoles see them)."""

    async def items_after(conn: asyncpg.Connection, sequence: int, limit: int) -> list[tuple[int, EventItem]]:
        return [
            (s, EventItem(response, audience))
            for s, response, audience in await reading.stream_after(conn, sequence, limit, seals)
        ]

    return items_after


def wants_of(caller: Caller) -> Callable[[EventItem], bool] | None:
    """Which items `caller`'s stream shows: None for all (a national supervisor); a supervisor's
    force's; a commander's what they were told."""
    if rules.is_supervisor(caller):
        return None if caller.national else lambda item: in_scope(caller, item.response.activation.force)
    subject = caller.subject
    return lambda item: subject in item.audience


class EventLog:
    """The tail of the activation log on this replica, and the transactions that write to it."""

    def __init__(self, pool: asyncpg.Pool, seals: Seals):
        self._pool = pool
        self.seals = seals
        self._items_after = items_reader(seals)
        self.tail = LogTail(pool, self._items_after, reading.latest_sequence, capacity=TAIL_SIZE)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A transaction whose log entries are handed to this replica's streams once it commits:
        read back in the transaction (their heads as it leaves them), published after the commit."""
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                yield conn
                items = await self._items_after(conn, self.tail.latest, PUBLISH_LIMIT)
            self.tail.publish(items)

    async def follow(
        self, caller: Caller, after: int, from_start: bool, mark_caught_up: bool = False
    ) -> AsyncIterator[F.StreamActivationsResponse]:
        """What `caller`'s console is shown after sequence `after` (from now when 0 and not
        `from_start`), then each new event as it is committed. With `mark_caught_up`, CAUGHT_UP once
        the stream has passed every event committed before it began (the database's, not only this
        replica's)."""
        wants = wants_of(caller)
        from_now, until = after == 0 and not from_start, 0
        if from_now or mark_caught_up:  # the database's latest, not this replica's
            async with self._pool.acquire() as conn:
                until = await reading.latest_sequence(conn)
            after = until if from_now else after
        replaying = mark_caught_up and after < until
        if mark_caught_up and not replaying:
            yield CAUGHT_UP
        async for run in self.tail.follow(after, wants=wants):
            for _, item in run:
                if item.response is not None and (wants is None or wants(item)):
                    yield item.response
            if replaying and run and run[-1][0] >= until:
                replaying = False
                yield CAUGHT_UP
