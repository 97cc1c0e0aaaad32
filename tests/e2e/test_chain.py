"""The whole chain, four OS processes: camera -> ingest -> matcher -> notify (terminal) and firearms
(TFC console), with one trace across all four."""

from __future__ import annotations

import os
import uuid

import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from anpr.runtime.auth import Role
from anpr.v1 import firearms_pb2, firearms_pb2_grpc, ingest_pb2, ingest_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from anpr.v1 import types_pb2 as T
from tests.e2e.processes import Collector, ProcessSuite
from tests.support import channel, make_entry, make_read, next_alert, next_message, subscribe

SERVICES = {
    "ingest": "anpr.v1.IngestService",
    "matcher": "anpr.v1.MatcherService",
    "notify": "anpr.v1.NotifyService",
    "firearms": "anpr.v1.FirearmsService",
}


@pytest.fixture
async def collector():
    c = Collector()
    await c.start()
    yield c
    await c.stop()


@pytest.fixture
async def chain(database_url, tokens, collector, tmp_path):
    suite = ProcessSuite(database_url, tokens, collector.port, tmp_path)
    try:
        await suite.start_all()
        yield suite
    finally:
        codes = await suite.stop_all()
    assert codes == {n: 0 for n in codes}, f"services did not stop cleanly on SIGTERM: {codes}"


def new_traceparent() -> tuple[str, str]:
    trace_id = uuid.uuid4().hex
    return trace_id, f"00-{trace_id}-{os.urandom(8).hex()}-01"


async def submit(suite, read: T.Read, traceparent: str) -> ingest_pb2.SubmitReadsResponse:
    async with channel(suite.addr("ingest"), suite.tokens[Role.CAMERA]) as ch:
        return await ingest_pb2_grpc.IngestServiceStub(ch).SubmitReads(
            iter([ingest_pb2.SubmitReadsRequest(reads=[read])]), metadata=[("traceparent", traceparent)]
        )


async def duty_rota(suite) -> None:
    """The session's tfc token on duty for the test entries' force, its supervisor above."""
    from datetime import datetime, timedelta, timezone

    from tests.support import ts

    now = datetime.now(timezone.utc)
    async with channel(suite.addr("firearms"), suite.tokens[Role.TFC_SUPERVISOR]) as ch:
        stub = firearms_pb2_grpc.FirearmsServiceStub(ch)
        for subject in ("test-tfc", "test-tfc_supervisor"):
            await stub.UpsertCommander(
                firearms_pb2.UpsertCommanderRequest(
                    commander=T.Commander(
                        subject=subject, name=subject, force="Test Police", supervisor=subject == "test-tfc_supervisor"
                    )
                )
            )
        await stub.AddShifts(
            firearms_pb2.AddShiftsRequest(
                shifts=[
                    T.Shift(
                        force="Test Police",
                        starts_at=ts(now - timedelta(minutes=1)),
                        ends_at=ts(now + timedelta(hours=1)),
                        primary="test-tfc",
                        supervisor="test-tfc_supervisor",
                    )
                ]
            )
        )


async def test_reads_become_alerts_and_activations_in_one_trace(chain, collector):
    async with channel(chain.addr("matcher"), chain.tokens[Role.HOTLIST_ADMIN]) as ch:
        admin = matcher_pb2_grpc.MatcherServiceStub(ch)
        await admin.UpsertHotlist(
            matcher_pb2.UpsertHotlistRequest(
                hotlist=T.Hotlist(
                    hotlist_id="force-list", name="Force list", source=T.HOTLIST_SOURCE_LOCAL_FORCE, priority=5
                )
            )
        )
        listed = make_entry("KX19 ZTB", "force-list", warning_markers=[T.WARNING_MARKER_DRUGS])
        armed = make_entry(
            "LR68HGW",
            "force-list",
            action=T.ACTION_DO_NOT_STOP_REPORT_SIGHTING,
            warning_markers=[T.WARNING_MARKER_FIREARMS, T.WARNING_MARKER_VIOLENT],
            reason="Linked to a firearms discharge",
            pnc_id="25/004417Q",
            source_reference="IR-2026-0977",
        )
        for entry in (listed, armed):
            await admin.UpsertEntry(matcher_pb2.UpsertEntryRequest(entry=entry))

    await duty_rota(chain)
    async with (
        channel(chain.addr("notify"), chain.tokens[Role.TERMINAL]) as tch,
        channel(chain.addr("firearms"), chain.tokens[Role.TFC]) as fch,
    ):
        terminal = subscribe(tch, Role.TERMINAL, from_start=True)
        console = firearms_pb2_grpc.FirearmsServiceStub(fch).StreamActivations(
            firearms_pb2.StreamActivationsRequest(from_start=True)
        )

        # 1. A listed VRM (read with a space, lower case): an alert with everything the officer needs.
        trace1, tp1 = new_traceparent()
        read1 = make_read("kx19 ztb", camera_id="CAM-M4-J12")
        resp = await submit(chain, read1, tp1)
        assert resp.results[0].status == ingest_pb2.READ_STATUS_STORED
        alert = await next_alert(terminal, 20)
        hit = alert.hit
        assert hit.read.read_id == read1.read_id and hit.match_kind == T.MATCH_KIND_EXACT
        assert hit.entry.reason == "Wanted in connection with a robbery"
        assert hit.entry.action == T.ACTION_STOP_VEHICLE
        assert list(hit.entry.warning_markers) == [T.WARNING_MARKER_DRUGS]
        assert hit.entry.pnc_id == "26/000123X" and hit.entry.source_reference == "IR-TEST-0001"
        assert hit.read.camera_id == "CAM-M4-J12" and hit.read.captured_at == read1.captured_at
        assert (hit.read.location.latitude, hit.read.location.longitude) == (51.5072, -0.1276)
        assert hit.entry.vehicle.make == "Ford" and hit.hotlist.name == "Force list"

        # 2. An unlisted VRM produces nothing: the next alert is the one for the read sent after it.
        _, tp_none = new_traceparent()
        await submit(chain, make_read("ZZ99ZZZ"), tp_none)

        # 3. A firearms-marked VRM: an alert and an activation on the TFC console, one trace.
        trace3, tp3 = new_traceparent()
        read3 = make_read("LR68 HGW", camera_id="CAM-A34-N")
        await submit(chain, read3, tp3)
        alert3 = await next_alert(terminal, 20)
        assert alert3.hit.read.read_id == read3.read_id, "the unlisted read must not produce an alert"
        assert T.WARNING_MARKER_FIREARMS in alert3.hit.entry.warning_markers
        assert alert3.firearms_commander_informed and not alert.firearms_commander_informed
        assert alert3.hit.entry.action == T.ACTION_DO_NOT_STOP_REPORT_SIGHTING
        activation = (await next_message(console, 20)).activation
        assert activation.hit.read.read_id == read3.read_id
        assert activation.state == T.ACTIVATION_STATE_RAISED and activation.assigned_to == "test-tfc"
        assert activation.hit.entry.reason == "Linked to a firearms discharge"
        terminal.cancel()
        console.cancel()

    everyone = {"anpr-ingest", "anpr-matcher", "anpr-notify", "anpr-firearms"}
    assert await collector.wait_for_services(trace3, everyone) == everyone
    seen1 = await collector.wait_for_services(trace1, everyone - {"anpr-firearms"})
    assert seen1 == everyone - {"anpr-firearms"}, "a non-firearms hit never reaches firearms"

    # No plate numbers in any span or log.
    for spans in collector.spans.values():
        for _, span in spans:
            values = " ".join(str(a.value) for a in span.attributes)
            assert "KX19" not in values and "LR68" not in values and "ZZ99" not in values
    for name in SERVICES:
        text = chain.log(name)
        assert "KX19" not in text and "LR68" not in text, f"plate number in {name} log"


async def test_services_answer_health_and_reflection_from_an_outside_client(chain):
    for name, full in SERVICES.items():
        async with aio.insecure_channel(chain.addr(name)) as ch:
            health = health_pb2_grpc.HealthStub(ch)
            resp = await health.Check(health_pb2.HealthCheckRequest(service=full))
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
            watch = health.Watch(health_pb2.HealthCheckRequest(service=full))
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
            watch.cancel()
            refl = reflection_pb2_grpc.ServerReflectionStub(ch)
            call = refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
            listed = {s.name async for r in call for s in r.list_services_response.service}
            assert {full, "grpc.health.v1.Health"} <= listed
