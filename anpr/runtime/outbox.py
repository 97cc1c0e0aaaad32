"""The transactional outbox: records written in the same transaction as the data they describe,
delivered at least once by a relay task, in id order per topic.

Table (each service's migrations create it in the service's schema):

    CREATE TABLE outbox (
        id bigserial PRIMARY KEY, topic text NOT NULL, payload bytea NOT NULL,
        traceparent text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now());

The writer calls `enqueue` inside its transaction; the transaction's commit fires a NOTIFY that
wakes the relay, which also polls as a backstop. Delivery takes a batch with FOR UPDATE SKIP LOCKED
(so replicas never deliver the same row concurrently), calls the topic's deliver function, and
deletes the rows only when it returns. An advisory lock per topic lets one replica deliver at a
time, so the order holds with several replicas too. A failure leaves them for the next attempt, with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg
from opentelemetry import trace

from anpr.runtime.telemetry import ATTR_OUTBOX_BATCH, ATTR_OUTBOX_TOPIC

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("anpr.outbox")


@dataclass(frozen=True)
class OutboxRecord:
    id: int
    payload: bytes
    traceparent: str


# Delivers records; raises to retry them all later, or returns the ids of records that can never be
# delivered (the receiver rejected them as invalid), which are set aside as dead letters so that
# one bad record cannot hold up every record behind it.
Deliver = Callable[[Sequence[OutboxRecord]], Awaitable[Sequence[int] | None]]
DEAD_LETTER_PREFIX = "dead-letter:"


async def enqueue(conn: asyncpg.Connection, topic: str, records: Sequence[tuple[bytes, str]]) -> None:
    """Queue (payload, traceparent) pairs for `topic` in the caller's transaction."""
    if not records:
        return
    await conn.execute(
        "INSERT INTO outbox (topic, payload, traceparent)"
        " SELECT $1, p, t FROM unnest($2::bytea[], $3::text[]) AS u(p, t)",
        topic, [p for p, _ in records], [t for _, t in records])
    await conn.execute("SELECT pg_notify(current_schema() || '_outbox', $1)", topic)


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, topic: str, deliver: Deliver, *,
                 batch_size: int = 500, poll_s: float = 1.0, max_backoff_s: float = 2.0):
        self._pool = pool
        self.topic = topic
        self._deliver = deliver
        self._batch = batch_size
        self._poll = poll_s
        self._max_backoff = max_backoff_s
        self._wake = asyncio.Event()
        self._stopping = False
        self._stopped = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._stopped.set()
        self._wake.set()

    async def run(self) -> None:
        backoff = 0.05
        while not self._stopping:
            try:
                delivered = await self.deliver_once()
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the dependency is down or refused: keep the rows, retry
                log.warning("outbox delivery failed; will retry",
                            extra={"topic": self.topic, "error": type(exc).__name__,
                                   "retry_in_s": round(backoff, 2)})
                try:
                    await asyncio.wait_for(self._stopped.wait(), backoff)
                except TimeoutError:
                    pass
                backoff = min(backoff * 2, self._max_backoff)
                continue
            if delivered:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self._poll)
            except TimeoutError:
                pass

    async def deliver_once(self) -> int:
        """Deliver one batch; return how many records were delivered (0 when none waited)."""
        async with self._pool.acquire() as conn, conn.transaction():
            # One deliverer per topic at a time across replicas, so records go out in order.
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext(current_schema()), hashtext($1))",
                                       self.topic):
                return 0
            rows = await conn.fetch(
                "SELECT id, payload, traceparent FROM outbox WHERE topic = $1"
                " ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED", self.topic, self._batch)
            if not rows:
                return 0
            records = [OutboxRecord(r["id"], r["payload"], r["traceparent"]) for r in rows]
            with _tracer.start_as_current_span("anpr.outbox.deliver") as span:
                span.set_attribute(ATTR_OUTBOX_TOPIC, self.topic)
                span.set_attribute(ATTR_OUTBOX_BATCH, len(records))
                dead = set(await self._deliver(records) or ())
            if dead:
                log.error("outbox records rejected by the receiver; set aside as dead letters",
                          extra={"topic": self.topic, "count": len(dead)})
                await conn.execute("UPDATE outbox SET topic = $2 || topic WHERE id = ANY($1::bigint[])",
                                   list(dead), DEAD_LETTER_PREFIX)
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])",
                               [r.id for r in records if r.id not in dead])
            return len(records)


async def listen_for_outbox(listener, relays: Sequence[OutboxRelay]) -> None:
    """Wake each relay when its topic is notified (every relay when the payload is empty: the
    listener came back after missing notifications)."""
    by_topic = {r.topic: r for r in relays}

    def on_notify(_conn, _pid, _channel, payload):
        for relay in ([by_topic[payload]] if payload in by_topic else relays if not payload else []):
            relay.wake()

    await listener.add_listener(f"{listener.schema}_outbox", on_notify)
