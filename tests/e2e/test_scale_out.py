"""Delivery scales out: with two ingest and two matcher processes both replicas of each deliver
(they share the outbox partitions), every listed read gives exactly one alert, and each camera's
reads are alerted in the order they were read - also when, mid-feed, one ingest replica is stopped
and one matcher replica is killed (SIGKILL: its partitions are taken over when their leases expire)."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

import asyncpg
import grpc

from anpr.runtime.auth import Role
from anpr.v1 import ingest_pb2, ingest_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from anpr.v1 import types_pb2 as T
from tests.support import (
    channel,
    eventually,
    free_ports,
    make_entry,
    make_read,
    next_alert,
    register_cameras,
    subscribe,
)

# Enough cameras (and listed vehicles) that both replicas certainly lease some of their partitions.
CAMERAS = [f"CAM-SCALE-{i}" for i in range(16)]
BATCHES, PER_BATCH = 8, 4
# What a vendor client retries (resubmitting is idempotent): the replica it called went away.
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}


async def camera(
    suite, cam: str, vrm: str, targets: list[str], sent: list[str], halfway: asyncio.Event, resume: asyncio.Event
) -> None:
    """Sends its reads in order, alternating between the ingest replicas (the survivor only, once
    one has been killed), resubmitting a batch until it is acknowledged; halfway, it says so and
    waits to be told to go on."""
    for i in range(BATCHES):
        batch = [make_read(vrm, camera_id=cam) for _ in range(PER_BATCH)]
        attempt = 0
        while True:
            target = targets[(i + attempt) % len(targets)]
            try:
                async with channel(suite.addr(target), suite.tokens[Role.CAMERA]) as ch:
                    await ingest_pb2_grpc.IngestServiceStub(ch).SubmitReads(
                        iter([ingest_pb2.SubmitReadsRequest(reads=batch)]), timeout=5
                    )
                break
            except grpc.aio.AioRpcError as err:
                assert err.code() in RETRYABLE, err
                attempt += 1
        sent.extend(r.read_id for r in batch)
        if i == BATCHES // 2:
            halfway.set()
            await resume.wait()


def delivered(log_text: str, topic: str) -> int:
    """Records a replica's relay says it delivered (logged when it stops)."""
    for line in log_text.splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
            if rec.get("message") == "outbox relay stopped" and rec.get("topic") == topic:
                return rec["delivered"]
    raise AssertionError(f"no 'outbox relay stopped' line for {topic}")


async def test_two_replicas_share_delivery_keep_order_and_alert_once(processes, database_url):
    processes.ports.update(zip(("ingest-2", "matcher-2"), free_ports(2), strict=True))
    processes.start_replica("matcher", "matcher-2")
    processes.start_replica("ingest", "ingest-2")
    await processes.wait_serving("matcher-2")
    await processes.wait_serving("ingest-2")
    await register_cameras(processes.addr("ingest"), processes.tokens, CAMERAS)
    vrms = {cam: f"SC{i:02d}ALE" for i, cam in enumerate(CAMERAS)}
    async with channel(processes.addr("matcher"), processes.tokens[Role.HOTLIST_ADMIN]) as ch:
        admin = matcher_pb2_grpc.MatcherServiceStub(ch)
        await admin.UpsertHotlist(
            matcher_pb2.UpsertHotlistRequest(
                hotlist=T.Hotlist(hotlist_id="l1", name="List", source=T.HOTLIST_SOURCE_LOCAL_FORCE)
            )
        )
        for vrm in vrms.values():
            await admin.UpsertEntry(matcher_pb2.UpsertEntryRequest(entry=make_entry(vrm, "l1")))

    conn = await asyncpg.connect(database_url)
    try:

        async def leases_shared():
            rows = await conn.fetch(
                "SELECT 'ingest' s, topic, owner FROM ingest.outbox_leases WHERE owner IS NOT NULL"
                " UNION ALL SELECT 'matcher', topic, owner FROM matcher.outbox_leases"
                " WHERE owner IS NOT NULL"
            )
            owners = defaultdict(set)
            for r in rows:
                owners[(r["s"], r["topic"])].add(r["owner"])
            return all(len(owners[k]) == 2 for k in (("ingest", "match"), ("matcher", "notify")))

        await eventually(leases_shared, seconds=15)  # each replica holds a share of the partitions
    finally:
        await conn.close()

    sent = {cam: [] for cam in CAMERAS}
    halfway, resume = asyncio.Event(), asyncio.Event()
    targets = ["ingest", "ingest-2"]
    feeds = [
        asyncio.create_task(camera(processes, cam, vrms[cam], targets, sent[cam], halfway, resume)) for cam in CAMERAS
    ]
    await asyncio.wait_for(halfway.wait(), 60)
    targets.remove("ingest-2")
    assert await processes.stop("ingest-2") == 0  # gives its leases back: the other takes over at once
    # Every read sent so far alerted before matcher-2 is killed: the alerts of its partitions only it
    # delivers while it holds their leases, so it has certainly delivered some (under load it had not
    # always, and the other then delivered every alert once the leases expired).
    so_far = {read_id for reads in sent.values() for read_id in reads}
    async with channel(processes.addr("notify"), processes.tokens[Role.CONTROL_ROOM]) as ch:
        stream = subscribe(ch, Role.CONTROL_ROOM, from_start=True)
        while so_far:
            so_far.discard((await next_alert(stream, 60)).hit.read.read_id)
        stream.cancel()
    processes.kill("matcher-2")  # its leases expire: the other takes over within seconds
    resume.set()
    await asyncio.wait_for(asyncio.gather(*feeds), 120)

    expected = sum(len(v) for v in sent.values())
    alerts: list[T.Alert] = []
    async with channel(processes.addr("notify"), processes.tokens[Role.CONTROL_ROOM]) as ch:
        stream = subscribe(ch, Role.CONTROL_ROOM, from_start=True)
        while len(alerts) < expected:
            alerts.append(await next_alert(stream, 60))
        stream.cancel()

    assert len({a.hit.hit_id for a in alerts}) == expected, "an alert was doubled"
    assert [a.sequence for a in alerts] == list(range(1, expected + 1)), "alert sequences have holes"
    for cam in CAMERAS:  # each camera's reads alerted in the order they were read
        got = [a.hit.read.read_id for a in alerts if a.hit.read.camera_id == cam]
        assert got == sent[cam], f"{cam}: alerts out of read order"

    for name in ("ingest", "matcher"):
        await processes.stop(name)
    shares = {
        name: delivered(processes.log(name), topic)
        for name, topic in (("ingest", "match"), ("ingest-2", "match"), ("matcher", "notify"))
    }
    assert shares["ingest"] > 0 and shares["ingest-2"] > 0, f"one ingest did all the work: {shares}"
    assert shares["ingest"] + shares["ingest-2"] >= expected  # at least once: all matched
    # matcher-2 delivered (and cleared) part of the hits before it was killed
    assert 0 < shares["matcher"] < expected, f"one matcher did all the work: {shares}"
