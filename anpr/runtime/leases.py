"""The partitions of each outbox topic a replica delivers, leased from `outbox_leases`
(see anpr.runtime.outbox for the pattern)."""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta

import asyncpg

from anpr.runtime.failures import keep_running, log_failure

log = logging.getLogger(__name__)

PARTITIONS = 32  # per topic; the most replicas that can share one topic's delivery
LEASE_TTL_S = 3.0  # a lease not renewed for this long is free for another replica
LEASE_RENEW_S = 1.0


class PartitionLeases:
    """The partitions of each topic this replica delivers.

    Every `LEASE_RENEW_S` (1 s) the replica marks itself alive in `outbox_members`, renews its leases,
    gives back what exceeds its fair share (ceil(partitions / live replicas), only partitions its
    relay does not hold: no batch in flight, no delivered row still to delete, so order holds across
    the hand-over) and claims free or expired ones up to its share. If it cannot renew (the database
    is unreachable) it stops delivering once its leases may have expired. On stop it gives every
    lease back at once.
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
        self.partitions = partitions
        self._owned: dict[str, frozenset[int]] = {t: frozenset() for t in self.topics}
        self._valid_until = 0.0
        self.busy: dict[str, set[int]] = {t: set() for t in self.topics}  # a batch in flight
        # partitions a topic's relay still holds otherwise (delivered rows not deleted yet)
        self._held: dict[str, Callable[[], set[int]]] = {}
        self._changed: list[Callable[[], None]] = []

    def owned(self, topic: str) -> frozenset[int]:
        if asyncio.get_running_loop().time() > self._valid_until:
            return frozenset()
        return self._owned[topic]

    def on_change(self, callback: Callable[[], None]) -> None:
        self._changed.append(callback)

    def holds(self, topic: str, held: Callable[[], set[int]]) -> None:
        """`held()` names partitions of `topic` not to give away yet (besides those busy)."""
        self._held[topic] = held

    async def setup(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO outbox_leases (topic, partition)"
                " SELECT t, p FROM unnest($1::text[]) t, generate_series(0, $2 - 1) p ON CONFLICT DO NOTHING",
                list(self.topics),
                self.partitions,
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
            share = math.ceil(self.partitions / max(1, live))
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
            held = self.busy[topic] | (self._held[topic]() if topic in self._held else set())
            spare = sorted(mine - held)[: len(mine) - share]
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
        """Renew every LEASE_RENEW_S until cancelled (the first renewal was made by `setup`)."""

        async def renew() -> float:
            await self.renew_once()
            return self._renew

        await asyncio.sleep(self._renew)
        await keep_running(renew, log, "outbox lease renewal")

    async def release(self) -> None:
        """Give every lease back (at stop, once renewals are cancelled), so other replicas take over at once."""
        self._valid_until = 0.0
        try:
            async with self._pool.acquire() as conn:
                await conn.execute(
                    "UPDATE outbox_leases SET owner = NULL, expires_at = '-infinity' WHERE owner = $1", self.member
                )
                await conn.execute("DELETE FROM outbox_members WHERE member = $1", self.member)
        except Exception as exc:
            log_failure(log, "could not release outbox leases; they expire by themselves", exc)
