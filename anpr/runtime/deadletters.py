"""`anpr deadletters list|redrive SERVICE [--topic TOPIC]`: the records a service set aside.

A record the receiving service rejected as invalid stays in the sending service's `outbox` table
with the topic `dead-letter:<topic>` (anpr.runtime.outbox). Listing shows counts, ids, ages and
trace ids, never payloads (they hold plates). Re-driving strips the prefix, so the service's relay
delivers the records again (woken at once through NOTIFY); do it once the receiver is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from anpr.runtime.outbox import DEAD_LETTER_PREFIX


@dataclass(frozen=True)
class DeadLetter:
    id: int
    topic: str  # the original topic, without the prefix
    created_at: datetime
    traceparent: str

    @property
    def trace_id(self) -> str:
        parts = self.traceparent.split("-")
        return parts[1] if len(parts) == 4 else ""


def _topics(topic: str | None) -> str:
    """The LIKE pattern of the dead-letter topics to act on."""
    if topic is None:
        return DEAD_LETTER_PREFIX.replace("_", "\\_") + "%"
    return (DEAD_LETTER_PREFIX + topic).replace("_", "\\_").replace("%", "\\%")


async def list_dead_letters(
    conn: asyncpg.Connection, schema: str, topic: str | None = None, limit: int = 1000
) -> list[DeadLetter]:
    rows = await conn.fetch(
        f'SELECT id, topic, created_at, traceparent FROM "{schema}".outbox WHERE topic LIKE $1 ORDER BY id LIMIT $2',
        _topics(topic),
        limit,
    )
    return [
        DeadLetter(r["id"], r["topic"].removeprefix(DEAD_LETTER_PREFIX), r["created_at"], r["traceparent"])
        for r in rows
    ]


async def redrive(conn: asyncpg.Connection, schema: str, topic: str | None = None) -> dict[str, int]:
    """Give the dead letters (of `topic`, or all) their topic back; counts by topic. Their age
    restarts now, so that the outbox-age alert measures the new attempt."""
    async with conn.transaction():
        rows = await conn.fetch(
            f'UPDATE "{schema}".outbox SET topic = substr(topic, $2), created_at = now() '
            "WHERE topic LIKE $1 RETURNING topic",
            _topics(topic),
            len(DEAD_LETTER_PREFIX) + 1,
        )
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["topic"]] = counts.get(r["topic"], 0) + 1
        for name in counts:
            await conn.execute("SELECT pg_notify($1, $2)", f"{schema}_outbox", name)
    return counts


async def topics(conn: asyncpg.Connection, schema: str) -> set[str]:
    """The topics the service's outbox has (its relay leased their partitions), dead letters' included."""
    rows = await conn.fetch(
        f'SELECT topic FROM "{schema}".outbox_leases UNION'
        f' SELECT DISTINCT substr(topic, $2) FROM "{schema}".outbox WHERE topic LIKE $1',
        _topics(None),
        len(DEAD_LETTER_PREFIX) + 1,
    )
    return {r["topic"] for r in rows}
