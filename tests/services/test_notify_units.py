"""Notify for the people in cars: alerts only for a unit's area (also as it moves), a live stream
that says so and keeps a heartbeat, slow streams closed and resumed without slowing others, plate
patches and outcomes, and statistics."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import grpc
import pytest
from grpc import aio

from anpr.runtime.auth import Role, bearer_interceptors
from anpr.runtime.errors import field_violations_of
from anpr.v1 import ingest_pb2, ingest_pb2_grpc, notify_pb2, notify_pb2_grpc
from anpr.v1 import types_pb2 as T
from tests.support import (
    InProcessSuite,
    channel,
    make_entry,
    make_read,
    next_alert,
    next_message,
    register_cameras,
    subscribe,
)

READING = T.GeoPoint(latitude=51.4543, longitude=-0.9781)
OXFORD = T.GeoPoint(latitude=51.7520, longitude=-1.2577)  # about 38 km from Reading


@pytest.fixture
async def suite(database_url, tokens):
    s = InProcessSuite(database_url, tokens)
    await s.start("notify", heartbeat_s=0.2, subscriber_max_lag=50)
    yield s
    await s.stop()


def hit_at(where: T.GeoPoint | None, covert: bool = False, force: str = "Thames Valley") -> T.TracedHit:
    read = make_read("AB12CDE")
    read.ClearField("location")
    h = T.Hit(
        hit_id=str(uuid.uuid4()),
        read=read,
        entry=make_entry("AB12CDE", "list-1"),
        force=force,
        hotlist=T.Hotlist(hotlist_id="list-1", name="Force list", covert=covert),
        match_kind=T.MATCH_KIND_EXACT,
    )
    if where is not None:
        h.location.CopyFrom(where)
    return T.TracedHit(hit=h)


async def publish(suite, *hits: T.TracedHit) -> notify_pb2.PublishAlertsResponse:
    async with channel(suite.addr("notify"), suite.tokens[Role.SERVICE]) as ch:
        return await notify_pb2_grpc.NotifyServiceStub(ch).PublishAlerts(notify_pb2.PublishAlertsRequest(hits=hits))


def unit(center: T.GeoPoint, radius_km: float = 10) -> notify_pb2.Subscription:
    return notify_pb2.Subscription(
        unit_id="TV-ALPHA-2", force="Thames Valley", circle=notify_pb2.Circle(center=center, radius_km=radius_km)
    )


async def test_a_unit_gets_only_alerts_inside_its_circle_and_as_it_moves(suite):
    moves: asyncio.Queue = asyncio.Queue()
    await moves.put(notify_pb2.SubscribeRequest(subscription=unit(READING)))

    async def requests():
        while (request := await moves.get()) is not None:
            yield request

    async with channel(suite.addr("notify"), suite.tokens.named("tv-unit")) as ch:
        stream = notify_pb2_grpc.NotifyServiceStub(ch).Subscribe(requests())
        opened = (await next_message(stream)).opened
        assert opened.subscription.unit_id == "TV-ALPHA-2" and opened.heartbeat_seconds >= 1
        oxford, reading = hit_at(OXFORD), hit_at(READING)
        await publish(suite, oxford, reading)
        assert (await next_alert(stream)).hit.hit_id == reading.hit.hit_id  # the Oxford one was skipped

        await moves.put(notify_pb2.SubscribeRequest(subscription=unit(OXFORD)))  # the unit drives to Oxford
        while (message := await next_message(stream)).WhichOneof("event") != "opened":
            pass  # heartbeats until the move is confirmed
        assert message.opened.subscription.circle.center == OXFORD
        oxford2, reading2 = hit_at(OXFORD), hit_at(READING)
        await publish(suite, reading2, oxford2)
        assert (await next_alert(stream)).hit.hit_id == oxford2.hit.hit_id
        await moves.put(None)
        stream.cancel()


async def test_the_stream_opens_at_once_and_heartbeats_when_idle(suite):
    async with channel(suite.addr("notify"), suite.tokens[Role.TERMINAL]) as ch:
        stream = subscribe(ch, Role.TERMINAL)
        first = await next_message(stream, 5)
        assert first.WhichOneof("event") == "opened"
        beats = [await next_message(stream, 5) for _ in range(2)]
        assert [b.WhichOneof("event") for b in beats] == ["heartbeat", "heartbeat"]
        assert beats[1].heartbeat.at.ToDatetime() >= beats[0].heartbeat.at.ToDatetime()
        stream.cancel()


async def test_a_terminal_is_the_unit_its_token_says_where_it_says_within_the_limit(suite):
    async with channel(suite.addr("notify"), suite.tokens.named("tv-unit")) as ch:
        refused = []
        for sub in (
            notify_pb2.Subscription(circle=notify_pb2.Circle(center=READING, radius_km=51)),  # over the 50 km
            notify_pb2.Subscription(force="Thames Valley"),  # no circle
            unit(READING, radius_km=5),  # ... and one claiming another unit:
        ):
            if sub.unit_id:
                sub.unit_id = "HANTS-7"
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await next_message(subscribe(ch, Role.TERMINAL, subscription=sub))
            refused.append((err.value.code(), [f for f, _ in field_violations_of(err.value)]))
        opened = await next_message(
            subscribe(ch, Role.TERMINAL, subscription=notify_pb2.Subscription(circle=unit(READING).circle))
        )
    assert refused == [
        (grpc.StatusCode.INVALID_ARGUMENT, ["subscription.circle.radius_km"]),
        (grpc.StatusCode.INVALID_ARGUMENT, ["subscription.circle"]),
        (grpc.StatusCode.PERMISSION_DENIED, []),
    ]
    # who it is comes from its token
    assert (opened.opened.subscription.unit_id, opened.opened.subscription.force) == ("TV-ALPHA-2", "Thames Valley")


async def test_a_control_room_follows_its_force(suite):
    async with channel(suite.addr("notify"), suite.tokens[Role.CONTROL_ROOM]) as ch:
        stream = subscribe(ch, Role.CONTROL_ROOM, subscription=notify_pb2.Subscription(force="Thames Valley"))
        other, ours = hit_at(READING, force="Hampshire"), hit_at(None, covert=True)
        await publish(suite, other, ours)
        alert = await next_alert(stream)
        assert alert.hit.hit_id == ours.hit.hit_id and alert.covert  # the control room sees covert lists
        stream.cancel()


async def test_a_slow_stream_is_closed_and_resumes_without_slowing_a_fast_one(suite):
    # A slow terminal on a poor link: its receive window stays small (no BDP probing), so what it
    # has not read backs up at the server.
    slow_ch = aio.insecure_channel(
        suite.addr("notify"),
        options=[("grpc.http2.bdp_probe", 0)],
        interceptors=bearer_interceptors(suite.tokens[Role.CONTROL_ROOM]),
    )
    async with slow_ch, channel(suite.addr("notify"), suite.tokens[Role.CONTROL_ROOM]) as ch:
        slow = subscribe(slow_ch, Role.CONTROL_ROOM)
        fast = subscribe(ch, Role.CONTROL_ROOM)
        assert (await next_message(slow)).WhichOneof("event") == "opened"
        assert (await next_message(fast)).WhichOneof("event") == "opened"
        assert (await next_message(slow)).WhichOneof("event") == "heartbeat"  # live
        total = 300  # far more than the slow stream's flow-control window and its lag limit (50)
        got: list[T.Alert] = []

        async def read_fast():  # a terminal that keeps up
            while len(got) < total:
                got.append(await next_alert(fast))

        reader = asyncio.create_task(read_fast())
        published = []
        for _ in range(total // 10):  # in bursts smaller than the lag limit
            published += (await publish(suite, *(hit_at(READING) for _ in range(10)))).alerts
        await asyncio.wait_for(reader, 30)  # the fast one is not held up by the slow one
        assert [a.alert_id for a in got] == [p.alert_id for p in published]

        seen = []
        with pytest.raises(grpc.aio.AioRpcError) as err:
            for _ in range(total + 10):  # the slow one reads now: what was buffered, then it is closed
                message = await next_message(slow)
                if message.WhichOneof("event") == "alert":
                    seen.append(message.alert.sequence)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "resubscribe with after_sequence=" in err.value.details()
        last = seen[-1] if seen else published[0].sequence - 1
        resume = subscribe(ch, Role.CONTROL_ROOM, after_sequence=last)
        rest = [(await next_alert(resume)).sequence for _ in range(published[-1].sequence - last)]
        assert seen + rest == [p.sequence for p in published]  # nothing lost, nothing twice
        for s in (slow, fast, resume):
            s.cancel()


@pytest.fixture
async def chain(database_url, tokens):
    s = InProcessSuite(database_url, tokens)
    await s.start_all(dedup_window_s=0)
    await s.running["notify"].stop()
    del s.running["notify"]  # again, with plate patches configured (ingest's address is known now)
    await s.start(
        "notify",
        grpc_port=int(s.running["matcher"].settings.notify_addr.rsplit(":", 1)[1]),
        ingest_addr=s.addr("ingest"),
    )
    yield s
    await s.stop()


async def _listed(chain, vrm: str, covert: bool = False) -> None:
    from anpr.v1 import matcher_pb2, matcher_pb2_grpc

    async with channel(chain.addr("matcher"), chain.tokens[Role.HOTLIST_ADMIN]) as ch:
        admin = matcher_pb2_grpc.MatcherServiceStub(ch)
        list_id = "covert" if covert else "open"
        await admin.UpsertHotlist(
            matcher_pb2.UpsertHotlistRequest(
                hotlist=T.Hotlist(hotlist_id=list_id, name=list_id, source=T.HOTLIST_SOURCE_LOCAL_FORCE, covert=covert)
            )
        )
        await admin.UpsertEntry(matcher_pb2.UpsertEntryRequest(entry=make_entry(vrm, list_id)))


async def test_plate_patch_outcome_and_statistics_through_the_chain(chain, database_url):
    await _listed(chain, "PP11TCH")
    await _listed(chain, "CV22ERT", covert=True)
    await register_cameras(chain.addr("ingest"), chain.tokens, ["CAM-NO-GPS"])
    read = make_read("PP11TCH", camera_id="CAM-NO-GPS", plate_image=b"\xff\xd8jpeg-bytes")
    read.ClearField("location")  # the camera sent no coordinates: its registered position counts
    secret = make_read("CV22ERT")
    async with (
        channel(chain.addr("notify"), chain.tokens[Role.TERMINAL]) as tch,
        channel(chain.addr("notify"), chain.tokens[Role.CONTROL_ROOM]) as cch,
    ):
        terminal = subscribe(tch, Role.TERMINAL)
        room = subscribe(cch, Role.CONTROL_ROOM)
        await next_message(terminal)
        async with channel(chain.addr("ingest"), chain.tokens[Role.CAMERA]) as ich:
            await ingest_pb2_grpc.IngestServiceStub(ich).SubmitReads(
                iter([ingest_pb2.SubmitReadsRequest(reads=[secret, read])])
            )
        alert = await next_alert(terminal, 20)
        covert_alert = next(a for a in [await next_alert(room, 20), await next_alert(room, 20)] if a.covert)
        assert alert.hit.read.read_id == read.read_id and alert.hit.location_from_camera
        assert (alert.hit.location.latitude, alert.hit.location.longitude) == (51.5, -0.12)
        assert alert.hit.force == "Test Police"

        officer = notify_pb2_grpc.NotifyServiceStub(tch)
        patch = await officer.GetPlatePatch(notify_pb2.GetPlatePatchRequest(alert_id=alert.alert_id, reason="confirm"))
        assert patch.plate_image == b"\xff\xd8jpeg-bytes"
        for call in (
            officer.GetPlatePatch(notify_pb2.GetPlatePatchRequest(alert_id=covert_alert.alert_id, reason="confirm")),
            officer.AcknowledgeAlert(
                notify_pb2.AcknowledgeAlertRequest(alert_id=covert_alert.alert_id, outcome=T.ALERT_OUTCOME_SEEN)
            ),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call
            assert err.value.code() == grpc.StatusCode.NOT_FOUND  # a covert alert does not exist for them
        await officer.AcknowledgeAlert(
            notify_pb2.AcknowledgeAlertRequest(
                alert_id=alert.alert_id, outcome=T.ALERT_OUTCOME_REJECTED, reason_code="misread"
            )
        )
        stats = await notify_pb2_grpc.NotifyServiceStub(cch).GetAlertStats(notify_pb2.GetAlertStatsRequest())
        terminal.cancel()
        room.cancel()
    by_list = {s.key: s for s in stats.by_hotlist}
    assert (by_list["open"].alerts, by_list["open"].rejected, by_list["open"].misread_rate) == (1, 1, 1.0)
    assert (by_list["covert"].alerts, by_list["covert"].acknowledged) == (1, 0)
    assert [(s.key, s.rejected) for s in stats.by_reason_code] == [("misread", 1)]
    assert (stats.total.alerts, stats.total.accept_rate) == (2, 0.0)
    conn = await asyncpg.connect(database_url)
    try:
        audit = await conn.fetch("SELECT subject, role, bytes, reason FROM notify.plate_patch_audit")
        viewed = await conn.fetch("SELECT subject, role, viewer, reason, shown FROM ingest.read_audit")
    finally:
        await conn.close()
    assert [tuple(r) for r in audit] == [("test-terminal", "terminal", len(b"\xff\xd8jpeg-bytes"), "confirm")]
    # ingest audits the image it gave notify, for the officer notify named
    assert [tuple(r) for r in viewed] == [("test-service", "service", "test-terminal", "confirm", True)]
