"""The outbox relay against a real PostgreSQL (anpr/runtime/relay.py): a NOTIFY that comes while its
partition is in flight is not lost, one wake-up delivers every ready partition in one call, rows a
writer hands over after its commit are delivered from memory, an older row of another writer goes
first, and delivered rows are deleted. The periodic sweep is set to a minute, so that only the
mechanism under test can deliver within the test's limits."""

from __future__ import annotations

import asyncio

import pytest

import services
from anpr.runtime import outbox, pg
from tests.support import eventually

TOPIC = "match"  # ingest's outbox tables serve as any service's
NO_SWEEP = {"poll_s": 60.0}


class Receiver:
    """A peer that records each call's payloads; while `gate` is closed it holds the call (in flight)."""

    def __init__(self):
        self.calls: list[list[bytes]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()

    async def __call__(self, records) -> None:
        self.calls.append([bytes(r.payload) for r in records])
        self.entered.set()
        await self.gate.wait()

    def delivered(self) -> list[bytes]:
        return [p for call in self.calls for p in call]


@pytest.fixture
async def tables(database_url):
    conn = await pg.connect(database_url, "ingest")
    try:
        await pg.migrate(conn, "ingest", services.spec("ingest").migrations)
    finally:
        await conn.close()
    pool = await pg.create_pool(database_url, "ingest", max_size=4)
    listener = pg.Listener(database_url, "ingest")
    await listener.connect()
    yield pool, listener
    await listener.close()
    await pool.close()


@pytest.fixture
async def relay(tables):
    """(pool, receiver, outbox): an outbox of one topic delivering to `receiver`, leasing every partition."""
    pool, listener = tables
    receiver = Receiver()
    box = outbox.Outbox(pool, {TOPIC: (receiver, NO_SWEEP)})
    await box.start(listener)
    await eventually(lambda: len(box.leases.owned(TOPIC)) == outbox.PARTITIONS)
    await eventually(box.relays[TOPIC].idle)  # the first look at every partition (nothing there)
    yield pool, receiver, box
    await box.stop()


async def write(pool, rows, box: outbox.Outbox | None = None) -> list[outbox.Queued]:
    """Commit (partition, payload) rows as another replica (NOTIFY), or through `box` (then handed over)."""
    async with pool.acquire() as conn, conn.transaction():
        rows = [(p, payload, 1) for p, payload in rows]
        queued = await (box.enqueue(conn, TOPIC, rows) if box else outbox.enqueue(conn, TOPIC, rows))
    if box:
        box.handoff(TOPIC, queued)
    return queued


async def test_a_row_notified_while_its_partition_is_in_flight_is_delivered_without_waiting_for_the_sweep(relay):
    pool, receiver, box = relay
    receiver.gate.clear()
    await write(pool, [(5, b"first")])
    await asyncio.wait_for(receiver.entered.wait(), 10)  # partition 5 is in flight
    await write(pool, [(5, b"second")])  # its NOTIFY comes now
    await eventually(lambda: box.relays[TOPIC].marked(5))  # heard while the partition is in flight
    receiver.gate.set()
    await eventually(lambda: receiver.delivered() == [b"first", b"second"], seconds=5)


async def test_one_wake_up_delivers_every_ready_partition_in_one_call(relay):
    pool, receiver, _ = relay
    rows = [(p, f"row of {p}".encode()) for p in range(0, 30, 3)]
    await write(pool, rows)  # one transaction, one NOTIFY naming ten partitions
    await eventually(lambda: len(receiver.delivered()) == len(rows), seconds=5)
    assert len(receiver.calls) == 1
    assert sorted(receiver.calls[0]) == sorted(p for _, p in rows)


async def test_rows_handed_over_after_the_commit_are_delivered_from_memory_in_order_and_then_deleted(relay):
    pool, receiver, box = relay
    for i in range(5):
        await write(pool, [(7, f"mine {i}".encode()), (8, f"other {i}".encode())], box)
    want = [f"{k} {i}".encode() for k in ("mine", "other") for i in range(5)]
    await eventually(lambda: sorted(receiver.delivered()) == sorted(want), seconds=5)
    assert [p for p in receiver.delivered() if p.startswith(b"mine")] == want[:5]
    assert box.relays[TOPIC].from_memory == 10
    async with pool.acquire() as conn:
        await eventually(lambda: _empty(conn), seconds=5)


async def test_an_older_row_of_another_writer_is_delivered_before_a_row_handed_over(relay):
    """Another replica committed a row of partition 9 whose NOTIFY has not come (here: none was
    sent); a row this replica commits in partition 9 afterwards must not overtake it."""
    pool, receiver, box = relay
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO outbox (topic, partition, payload) VALUES ($1, 9, 'theirs')", TOPIC)
    await write(pool, [(9, b"mine")], box)
    await eventually(lambda: len(receiver.delivered()) == 2, seconds=5)
    assert receiver.delivered() == [b"theirs", b"mine"]
    assert box.relays[TOPIC].from_memory == 0


async def _empty(conn) -> bool:
    return await conn.fetchval("SELECT count(*) FROM outbox") == 0
