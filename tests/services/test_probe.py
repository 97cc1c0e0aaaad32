"""A security probe (issue 16): two forces' cameras and lists, covert and not, a list made covert
after its alerts, a national room, rooms cleared and not, a unit of each force, supervisors of each
force; every way of reading alerts, images, statistics, entries and activations, checked against an
oracle written apart (tests/probe.py). Targets: 0 cross-force alerts, images or statistics outside a
caller's scope, 0 area escapes by a terminal, 0 unaudited image views, 0 covert alerts (old or new)
at a terminal, 0 successes the role table forbids."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import grpc
import pytest

from anpr.runtime.auth import Role
from anpr.v1 import (
    firearms_pb2,
    firearms_pb2_grpc,
    ingest_pb2,
    ingest_pb2_grpc,
    matcher_pb2,
    matcher_pb2_grpc,
    notify_pb2,
    notify_pb2_grpc,
)
from anpr.v1 import types_pb2 as T
from benchmarks.fuzzing import CLIENT_WRITE_AFTER_END, call, every_rpc
from services import spec
from tests.probe import (
    CAMERAS,
    FORCE_B,
    IDENTITIES,
    LISTS,
    MADE_COVERT,
    READING,
    ROOMS,
    UNITS,
    build,
    delivered,
    learn_facts,
    may_act,
    room_sees,
    unit_gets,
    unit_subscription,
)
from tests.support import InProcessSuite, Tokens, channel, eventually, next_message, subscribe


@pytest.fixture
async def probed(database_url, tmp_path):
    tokens = Tokens.create(tmp_path / "issuer.json", prefix="probe", identities=IDENTITIES)
    suite = InProcessSuite(database_url, tokens)
    await suite.start_all(dedup_window_s=0)
    matcher = suite.running["matcher"].settings
    await suite.running.pop("notify").stop()  # again, with plate patches (ingest's address is known now)
    await suite.start(
        "notify",
        grpc_port=int(matcher.notify_addr.rsplit(":", 1)[1]),
        ingest_addr=suite.addr("ingest"),
    )
    await suite.running.pop("firearms").stop()  # again, an activation for every hit (whichever camera)
    await suite.start("firearms", grpc_port=int(matcher.firearms_addr.rsplit(":", 1)[1]), activation_attach_window_s=0)
    try:
        world = await build(suite)
        await learn_facts(suite, world, len(CAMERAS) * len(LISTS))
        async with channel(suite.addr("matcher"), tokens[Role.HOTLIST_ADMIN]) as ch:
            hotlist = T.Hotlist(
                hotlist_id=MADE_COVERT, name=MADE_COVERT, source=T.HOTLIST_SOURCE_LOCAL_FORCE, covert=True
            )
            await matcher_pb2_grpc.MatcherServiceStub(ch).UpsertHotlist(
                matcher_pb2.UpsertHotlistRequest(hotlist=hotlist)
            )

        async def made_covert() -> bool:  # notify has it from matcher's outbox
            world.facts.clear()
            await learn_facts(suite, world, len(CAMERAS) * len(LISTS))
            return all(f.covert for f in world.facts.values() if f.listing_force and _list_of(world, f) == MADE_COVERT)

        await eventually(made_covert, seconds=20, interval=0.2)
        yield suite, world
    finally:
        await suite.stop()
        tokens.close()


def _list_of(world, fact) -> str:
    vrm = fact.read_id.split("-")[2]
    return next(list_id for list_id, (_, _, v, _) in LISTS.items() if v == vrm)


async def test_nothing_reaches_anyone_outside_their_scope(probed, database_url):
    suite, world = probed
    await check_streams(suite, world)
    await check_widening(suite)
    await check_acting_and_images(suite, world, database_url)
    await check_statistics_entries_lists(suite, world)
    await check_activations(suite)


async def check_streams(suite, world) -> None:
    """Every stream gets exactly its scope."""
    facts = world.facts
    last = await _last_sequence(suite)
    for name in ROOMS:
        async with channel(suite.addr("notify"), suite.tokens.named(name)) as ch:
            got = await delivered(ch, Role.CONTROL_ROOM, last)
        want = {a for a, f in facts.items() if room_sees(IDENTITIES[name], f)}
        assert {a.alert_id for a in got} == want, (name, [facts[a] for a in want ^ {a.alert_id for a in got}])
        assert all(a.covert == facts[a.alert_id].covert for a in got)  # each list's flag as it is now
    for name, place in UNITS.items():
        async with channel(suite.addr("notify"), suite.tokens.named(name)) as ch:
            got = await delivered(ch, Role.TERMINAL, last, subscription=unit_subscription(place))
        want = {a for a, f in facts.items() if unit_gets(place, f)}
        assert want and {a.alert_id for a in got} == want, name  # covert ones, old and new, never
        assert not any(a.covert or a.hit.entry.cad_information or a.hit.entry.force for a in got)
    # Force B's unit gets Force A's alert read inside its circle (a unit in pursuit crosses boundaries)
    assert any(f.camera_force != "Force B" and unit_gets(UNITS["unit-b"], f) for f in facts.values())


async def check_widening(suite) -> None:
    """No subscription widens itself, first or on a move."""
    attempts = {
        "another force": notify_pb2.Subscription(force=FORCE_B, circle=unit_subscription(READING).circle),
        "another unit": notify_pb2.Subscription(unit_id="B-1", circle=unit_subscription(READING).circle),
        "a wider circle": unit_subscription(READING, radius_km=200),
        "no circle": notify_pb2.Subscription(),
        "a polygon": _globe(),
    }
    codes = {}
    async with channel(suite.addr("notify"), suite.tokens.named("unit-a")) as ch:
        for what, sub in attempts.items():
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await next_message(subscribe(ch, Role.TERMINAL, subscription=sub))
            codes[what] = err.value.code()
        for move in (_globe(), unit_subscription(READING, radius_km=200)):  # a move is held to the same rules
            moves: asyncio.Queue = asyncio.Queue()
            await moves.put(notify_pb2.SubscribeRequest(subscription=unit_subscription(READING)))
            stream = notify_pb2_grpc.NotifyServiceStub(ch).Subscribe(_drain(moves))
            assert (await next_message(stream)).WhichOneof("event") == "opened"
            await moves.put(notify_pb2.SubscribeRequest(subscription=move))
            with pytest.raises(grpc.aio.AioRpcError) as err:
                while (await next_message(stream)).WhichOneof("event") != "opened":  # a move taking effect
                    pass
            codes[f"a move to {move.WhichOneof('area')}"] = err.value.code()
            await moves.put(None)
    async with channel(suite.addr("notify"), suite.tokens.named("room-a")) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await next_message(subscribe(ch, Role.CONTROL_ROOM, subscription=notify_pb2.Subscription(force=FORCE_B)))
        codes["a room naming another force"] = err.value.code()
    denied, invalid = grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT
    assert codes == {
        "another force": denied,
        "another unit": denied,
        "a wider circle": invalid,
        "no circle": invalid,
        "a polygon": invalid,
        "a move to polygon": invalid,
        "a move to circle": invalid,
        "a room naming another force": denied,
    }


async def check_acting_and_images(suite, world, database_url) -> None:
    """Acting on alerts and fetching images only within scope, every view audited."""
    shown = 0
    for name in [*ROOMS, *UNITS]:
        async with channel(suite.addr("notify"), suite.tokens.named(name)) as ch:
            stub = notify_pb2_grpc.NotifyServiceStub(ch)
            if name in UNITS:  # the unit reported where it is (its last circle counts for acting)
                await next_message(subscribe(ch, Role.TERMINAL, subscription=unit_subscription(UNITS[name])))
            for alert_id, fact in world.facts.items():
                outcome = await _codes(
                    stub.GetPlatePatch(notify_pb2.GetPlatePatchRequest(alert_id=alert_id, reason="probe")),
                    stub.AcknowledgeAlert(
                        notify_pb2.AcknowledgeAlertRequest(alert_id=alert_id, outcome=T.ALERT_OUTCOME_SEEN)
                    ),
                )
                expected = grpc.StatusCode.OK if may_act(name, fact) else grpc.StatusCode.NOT_FOUND
                assert outcome == [expected, expected], (name, fact)
                shown += expected == grpc.StatusCode.OK
    reads_shown = 0
    for name in ROOMS:
        async with channel(suite.addr("ingest"), suite.tokens.named(name)) as ch:
            stub = ingest_pb2_grpc.IngestServiceStub(ch)
            for read_id, camera in world.reads.items():
                [code] = await _codes(stub.GetRead(ingest_pb2.GetReadRequest(read_id=read_id, reason="probe")))
                who = IDENTITIES[name]
                ok = who.national or who.force == CAMERAS[camera][0]
                assert code == (grpc.StatusCode.OK if ok else grpc.StatusCode.NOT_FOUND), (name, read_id)
                reads_shown += ok
    conn = await asyncpg.connect(database_url)
    try:
        patches = await conn.fetchval("SELECT count(*) FROM notify.plate_patch_audit WHERE reason = 'probe'")
        by_ingest = await conn.fetchval("SELECT count(*) FROM ingest.read_audit WHERE role = 'service' AND shown")
        get_reads = await conn.fetch(
            "SELECT shown, count(*) AS n FROM ingest.read_audit WHERE role = 'control_room' GROUP BY shown"
        )
    finally:
        await conn.close()
    assert shown > 0 and patches == by_ingest == shown  # every image shown, audited (by notify and by ingest)
    assert {r["shown"]: r["n"] for r in get_reads} == {
        True: reads_shown,
        False: len(ROOMS) * len(world.reads) - reads_shown,
    }


async def check_statistics_entries_lists(suite, world) -> None:
    """Statistics, entries and lists only within scope."""
    for name in [*ROOMS, "admin-b"]:
        who = IDENTITIES[name]
        async with channel(suite.addr("notify"), suite.tokens.named(name)) as ch:
            stats = await notify_pb2_grpc.NotifyServiceStub(ch).GetAlertStats(notify_pb2.GetAlertStatsRequest())
        visible = [f for f in world.facts.values() if room_sees(who, f)]
        assert stats.total.alerts == len(visible), name
        assert {s.key for s in stats.by_hotlist} == {_list_of(world, f) for f in visible}, name
        async with channel(suite.addr("matcher"), suite.tokens.named(name)) as ch:
            matcher = matcher_pb2_grpc.MatcherServiceStub(ch)
            lists = {h.hotlist_id for h in (await matcher.ListHotlists(matcher_pb2.ListHotlistsRequest())).hotlists}
            for list_id, (covert, force, _, _) in LISTS.items():
                covert_now = covert or list_id == MADE_COVERT
                [code] = await _codes(
                    matcher.GetEntry(matcher_pb2.GetEntryRequest(entry_id=f"entry-{list_id}", reason="probe"))
                )
                ok = (who.national or who.force == force) and (who.covert or not covert_now)
                assert code == (grpc.StatusCode.OK if ok else grpc.StatusCode.NOT_FOUND), (name, list_id)
                assert (list_id in lists) == (who.covert or not covert_now), (name, list_id)


async def check_activations(suite) -> None:
    """A supervisor sees the activations of their force only; the others are NOT_FOUND."""
    async with channel(suite.addr("firearms"), suite.tokens[Role.TFC_SUPERVISOR]) as ch:  # national
        stream = firearms_pb2_grpc.FirearmsServiceStub(ch).StreamActivations(
            firearms_pb2.StreamActivationsRequest(from_start=True)
        )
        forces: dict[str, str] = {}
        while {"Force A", "Force B"} - set(forces.values()):
            shown = await next_message(stream, 20)
            forces[shown.activation.activation_id] = shown.activation.force
        stream.cancel()
    for name, force in (("sup-a", "Force A"), ("sup-b", "Force B")):
        async with channel(suite.addr("firearms"), suite.tokens.named(name)) as ch:
            stub = firearms_pb2_grpc.FirearmsServiceStub(ch)
            [(_, none)] = await _errors(
                stub.GetActivation(firearms_pb2.GetActivationRequest(activation_id=str(uuid.uuid4())))
            )
            for activation_id, of in forces.items():
                [(code, details)] = await _errors(
                    stub.GetActivation(firearms_pb2.GetActivationRequest(activation_id=activation_id))
                )
                if of == force:
                    assert code == grpc.StatusCode.OK
                else:  # exactly as one that does not exist
                    assert (code, details) == (grpc.StatusCode.NOT_FOUND, none), (name, activation_id)


async def test_no_role_succeeds_at_an_rpc_the_role_table_forbids(database_url, tokens):
    suite = InProcessSuite(database_url, tokens)
    await suite.start_all()
    try:
        unauthorised = []
        for rpc in every_rpc():
            allowed = spec(rpc.service).method_roles[rpc.method.name]
            for role in set(Role) - set(allowed):
                async with channel(suite.addr(rpc.service), suite.tokens[role]) as ch:
                    request = rpc_request(rpc)
                    code, details, _ = await call(ch, rpc, [request])
                    if details == CLIENT_WRITE_AFTER_END and rpc.method.client_streaming:
                        # grpc-python's own INTERNAL: the server refused while the request was
                        # still being written; asked again without writing, the refusal arrives
                        code, _, _ = await call(ch, rpc, [])
                if code != grpc.StatusCode.PERMISSION_DENIED:
                    unauthorised.append((rpc.path, str(role), code.name))
    finally:
        await suite.stop()
    assert unauthorised == []


def rpc_request(rpc):
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(rpc.method.input_type)()


def _globe() -> notify_pb2.Subscription:
    corners = [(-89, -179), (-89, 179), (89, 179), (89, -179)]
    return notify_pb2.Subscription(
        polygon=notify_pb2.Polygon(vertices=[T.GeoPoint(latitude=a, longitude=b) for a, b in corners])
    )


async def _drain(queue: asyncio.Queue):
    while (item := await queue.get()) is not None:
        yield item


async def _errors(*calls) -> list[tuple[grpc.StatusCode, str]]:
    out = []
    for c in calls:
        try:
            await c
            out.append((grpc.StatusCode.OK, ""))
        except grpc.aio.AioRpcError as err:
            out.append((err.code(), err.details()))
    return out


async def _codes(*calls) -> list[grpc.StatusCode]:
    return [code for code, _ in await _errors(*calls)]


async def _last_sequence(suite) -> int:
    async with channel(suite.addr("notify"), suite.tokens.named("national")) as ch:
        opened = await next_message(subscribe(ch, Role.CONTROL_ROOM))
    return opened.opened.sequence
