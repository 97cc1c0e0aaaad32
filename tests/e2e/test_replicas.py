"""Several replicas: a second matcher process follows hotlist changes made through the first, and
hits made while notify is down all arrive, once, when it is back."""

from __future__ import annotations

import time

from anpr.runtime.auth import Role
from anpr.v1 import ingest_pb2, ingest_pb2_grpc, matcher_pb2, matcher_pb2_grpc, notify_pb2, notify_pb2_grpc
from anpr.v1 import types_pb2 as T
from tests.support import channel, free_port, make_entry, make_read, next_alert, next_message, subscribe


async def test_an_entry_added_through_one_replica_is_matched_by_the_other(processes):
    processes.ports["matcher-2"] = free_port()
    processes.start_replica("matcher", "matcher-2")
    await processes.wait_serving("matcher-2")
    async with channel(processes.addr("matcher"), processes.tokens[Role.HOTLIST_ADMIN]) as ch:
        admin = matcher_pb2_grpc.MatcherServiceStub(ch)
        await admin.UpsertHotlist(
            matcher_pb2.UpsertHotlistRequest(
                hotlist=T.Hotlist(hotlist_id="l1", name="List", source=T.HOTLIST_SOURCE_LOCAL_FORCE)
            )
        )
        await admin.UpsertEntry(matcher_pb2.UpsertEntryRequest(entry=make_entry("RE11PLA", "l1")))
        added = time.monotonic()
    async with channel(processes.addr("matcher-2"), processes.tokens[Role.SERVICE]) as ch:
        other = matcher_pb2_grpc.MatcherServiceStub(ch)
        while True:
            resp = await other.MatchReads(
                matcher_pb2.MatchReadsRequest(reads=[matcher_pb2.MatchRead(read=make_read("RE11PLA"))])
            )
            if resp.hits:
                break
            assert time.monotonic() - added < 5, "the second replica never saw the new entry"
    print(f"replica followed the change in {time.monotonic() - added:.3f} s")


async def test_hits_made_while_notify_is_down_arrive_once_when_it_is_back(processes):
    async with channel(processes.addr("matcher"), processes.tokens[Role.HOTLIST_ADMIN]) as ch:
        admin = matcher_pb2_grpc.MatcherServiceStub(ch)
        await admin.UpsertHotlist(
            matcher_pb2.UpsertHotlistRequest(
                hotlist=T.Hotlist(hotlist_id="l1", name="List", source=T.HOTLIST_SOURCE_LOCAL_FORCE)
            )
        )
        await admin.UpsertEntry(matcher_pb2.UpsertEntryRequest(entry=make_entry("ND11OWN", "l1")))
    await processes.stop("notify")
    reads = [make_read("ND11OWN") for _ in range(5)]
    async with channel(processes.addr("ingest"), processes.tokens[Role.CAMERA]) as ch:
        await ingest_pb2_grpc.IngestServiceStub(ch).SubmitReads(iter([ingest_pb2.SubmitReadsRequest(reads=reads)]))
    await processes.restart("notify")
    async with channel(processes.addr("notify"), processes.tokens[Role.CONTROL_ROOM]) as ch:
        stream = subscribe(ch, Role.CONTROL_ROOM, from_start=True)
        got = [(await next_alert(stream, 30)).hit.read.read_id for _ in range(5)]
        stream.cancel()
    assert got == [r.read_id for r in reads]


async def test_an_alert_published_to_one_notify_reaches_a_terminal_on_the_other(processes):
    processes.ports["notify-2"] = free_port()
    processes.start_replica("notify", "notify-2")
    await processes.wait_serving("notify-2")
    hits = [
        T.TracedHit(
            hit=T.Hit(
                hit_id=f"replica-hit-{i}",
                read=make_read("RE22PLA"),
                entry=make_entry("RE22PLA", "l1"),
                hotlist=T.Hotlist(hotlist_id="l1", name="List"),
                match_kind=T.MATCH_KIND_EXACT,
            )
        )
        for i in range(3)
    ]
    async with (
        channel(processes.addr("notify-2"), processes.tokens[Role.TERMINAL]) as tch,
        channel(processes.addr("notify"), processes.tokens[Role.SERVICE]) as sch,
    ):
        terminal = subscribe(tch, Role.TERMINAL)
        assert (await next_message(terminal, 10)).WhichOneof("event") == "opened"
        published = await notify_pb2_grpc.NotifyServiceStub(sch).PublishAlerts(
            notify_pb2.PublishAlertsRequest(hits=hits)
        )
        got = [await next_alert(terminal, 10) for _ in hits]
        terminal.cancel()
    assert [a.alert_id for a in got] == [p.alert_id for p in published.alerts]
