"""Notify on real ports (firearms beside it): ordered alert log with resume, covert and terminal
views. Firearms' own tests are in test_firearms.py and test_firearms_log.py."""

from __future__ import annotations

import uuid

import asyncpg
import grpc
import pytest

from anpr.runtime.auth import Role
from anpr.runtime.errors import field_violations_of
from anpr.v1 import notify_pb2, notify_pb2_grpc
from anpr.v1 import types_pb2 as T
from tests.support import InProcessSuite, channel, make_entry, make_read, next_alert, subscribe


@pytest.fixture
async def suite(database_url, tokens):
    s = InProcessSuite(database_url, tokens)
    await s.start("notify")
    await s.start("firearms")
    yield s
    await s.stop()


def hit(covert: bool = False, firearms: bool = False) -> T.Hit:
    markers = [T.WARNING_MARKER_FIREARMS] if firearms else [T.WARNING_MARKER_DRUGS]
    return T.Hit(
        hit_id=str(uuid.uuid4()),
        read=make_read("AB12CDE"),
        entry=make_entry("AB12CDE", "list-1", warning_markers=markers),
        hotlist=T.Hotlist(hotlist_id="list-1", name="List", covert=covert),
        match_kind=T.MATCH_KIND_EXACT,
    )


async def publish(suite, h: T.Hit) -> notify_pb2.PublishAlertResponse:
    async with channel(suite.addr("notify"), suite.tokens[Role.SERVICE]) as ch:
        return await notify_pb2_grpc.NotifyServiceStub(ch).PublishAlert(notify_pb2.PublishAlertRequest(hit=h))


async def test_publishing_the_same_hit_twice_stores_one_alert(suite):
    h = hit()
    first, second = await publish(suite, h), await publish(suite, h)
    assert not first.duplicate and second.duplicate
    assert second.alert_id == first.alert_id and second.sequence == first.sequence


async def test_terminal_resumes_after_last_sequence_without_gap(suite):
    published = [await publish(suite, hit()) for _ in range(3)]
    async with channel(suite.addr("notify"), suite.tokens[Role.TERMINAL]) as ch:
        stream = subscribe(ch, Role.TERMINAL, after_sequence=published[0].sequence)
        got = [await next_alert(stream), await next_alert(stream)]
        live = await publish(suite, hit())
        got.append(await next_alert(stream))
        stream.cancel()
    assert [a.alert_id for a in got] == [published[1].alert_id, published[2].alert_id, live.alert_id]
    assert [a.sequence for a in got] == [published[1].sequence, published[1].sequence + 1, live.sequence]
    assert live.sequence == published[2].sequence + 1  # consecutive: a hole would mean a lost alert


async def test_terminal_sees_operational_subset_and_no_covert_alerts(suite):
    covert, normal = hit(covert=True), hit()
    async with (
        channel(suite.addr("notify"), suite.tokens[Role.TERMINAL]) as tch,
        channel(suite.addr("notify"), suite.tokens[Role.CONTROL_ROOM]) as cch,
    ):
        terminal = subscribe(tch, Role.TERMINAL, from_start=True)
        room = subscribe(cch, Role.CONTROL_ROOM, from_start=True)
        await publish(suite, covert)
        await publish(suite, normal)
        t_alert = await next_alert(terminal)
        r_alerts = [await next_alert(room), await next_alert(room)]
        terminal.cancel()
        room.cancel()
    assert t_alert.hit.hit_id == normal.hit_id  # the covert one never reached the terminal
    assert t_alert.hit.entry.reason == normal.entry.reason
    assert t_alert.hit.entry.pnc_id == "26/000123X"
    assert not t_alert.hit.entry.cad_information and not t_alert.hit.entry.HasField("grading")
    assert not t_alert.hit.entry.force and not t_alert.hit.entry.area  # the operational subset only
    assert not t_alert.hit.entry.protective_marking and not t_alert.hit.entry.HasField("weed_at")
    assert t_alert.hit.entry.action == T.ACTION_STOP_VEHICLE and list(t_alert.hit.entry.warning_markers)
    assert t_alert.hit.entry.source_reference == "IR-TEST-0001" and t_alert.hit.entry.vehicle.make == "Ford"
    assert [a.hit.hit_id for a in r_alerts] == [covert.hit_id, normal.hit_id]
    assert r_alerts[0].covert and r_alerts[1].hit.entry.cad_information == "CAD 4411 23/11"


async def test_alert_acknowledgement_requires_a_reason_code_when_rejecting(suite):
    published = await publish(suite, hit())
    async with channel(suite.addr("notify"), suite.tokens[Role.TERMINAL]) as ch:
        s = notify_pb2_grpc.NotifyServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await s.AcknowledgeAlert(
                notify_pb2.AcknowledgeAlertRequest(
                    alert_id=published.alert_id, outcome=T.ALERT_OUTCOME_REJECTED, reason="Different vehicle"
                )
            )
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await s.AcknowledgeAlert(
                notify_pb2.AcknowledgeAlertRequest(
                    alert_id=published.alert_id, outcome=T.ALERT_OUTCOME_REJECTED, reason_code="bored"
                )
            )
        await s.AcknowledgeAlert(
            notify_pb2.AcknowledgeAlertRequest(
                alert_id=published.alert_id,
                outcome=T.ALERT_OUTCOME_REJECTED,
                reason_code="wrong_vehicle",
                reason="Different vehicle",
            )
        )
    assert err.value.code() == unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in field_violations_of(err.value)] == ["reason_code"]
    assert "wrong_vehicle" in dict(field_violations_of(unknown.value))["reason_code"]


async def test_live_streams_survive_the_loss_of_the_listen_connection(suite, database_url):
    from tests.support import eventually

    listener = suite.running["notify"]._runtime._listeners[0]
    async with channel(suite.addr("notify"), suite.tokens[Role.TERMINAL]) as ch:
        stream = subscribe(ch, Role.TERMINAL, from_start=True)
        first = await publish(suite, hit())
        assert (await next_alert(stream)).alert_id == first.alert_id

        admin = await asyncpg.connect(database_url)
        try:  # as a PostgreSQL restart would
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", listener.server_pid())
        finally:
            await admin.close()
        await eventually(lambda: listener.reconnects == 1, seconds=10)

        second = await publish(suite, hit())
        assert (await next_alert(stream)).alert_id == second.alert_id
        stream.cancel()
