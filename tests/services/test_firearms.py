"""Firearms on a real port with a real PostgreSQL: the duty rota and assignment, acknowledgement and
escalation, the NDM log stage by stage, closure with sign-off, limits, the paged record and the
batched raise."""

from __future__ import annotations

import logging
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from anpr.runtime.auth import Role
from anpr.runtime.errors import field_violations_of
from anpr.v1 import firearms_pb2 as F
from anpr.v1 import types_pb2 as T
from services.firearms.escalation import DUTY_HEALTH
from tests.firearms_support import FORCE, decision, firearms_hit, raise_hits, set_rota, stub
from tests.support import InProcessSuite, channel, eventually, next_message

K = T.ActivationEventKind


async def _firearms(database_url, people, ack_deadline_s: float):
    s = InProcessSuite(database_url, people.tokens)
    await s.start(
        "firearms", ack_deadline_s=ack_deadline_s, unassigned_retry_s=0.2, escalation_poll_s=0.1, duty_check_s=0.2
    )
    return s


@pytest.fixture
async def firearms(database_url, people):
    """Deadlines of a minute: nothing escalates while a test acts (however loaded the machine)."""
    s = await _firearms(database_url, people, 60.0)
    yield s
    await s.stop()


@pytest.fixture
async def quick(database_url, people):
    """Deadlines of two seconds, for the escalation tests."""
    s = await _firearms(database_url, people, 2.0)
    yield s
    await s.stop()


def addr(suite) -> str:
    return suite.addr("firearms")


async def test_an_activation_reaches_the_duty_commander_only_and_acknowledging_stops_escalation(firearms, people):
    await set_rota(addr(firearms), people, chain=("tfc-a", "tfc-b"), supervisor="sup-1")
    async with channel(addr(firearms), people["tfc-a"]) as a_ch, channel(addr(firearms), people["tfc-c"]) as c_ch:
        a_stream = stub(a_ch).StreamActivations(F.StreamActivationsRequest(from_start=True))
        c_stream = stub(c_ch).StreamActivations(F.StreamActivationsRequest(from_start=True))
        [raised] = (await raise_hits(addr(firearms), people, [firearms_hit()])).activations
        shown = await next_message(a_stream)
        assert shown.event.kind == K.ACTIVATION_EVENT_KIND_RAISED and shown.event.to_subject == "tfc-a"
        assert shown.activation.activation_id == raised.activation_id
        assert shown.activation.assigned_to == "tfc-a" and list(shown.activation.chain) == ["tfc-a", "tfc-b", "sup-1"]
        assert shown.activation.HasField("acknowledge_by") and shown.activation.force == FORCE
        assert T.WARNING_MARKER_FIREARMS in shown.activation.hit.entry.warning_markers
        with pytest.raises(grpc.aio.AioRpcError) as other:  # tfc-c is on no chain: not told, may not see
            await stub(c_ch).GetActivation(F.GetActivationRequest(activation_id=raised.activation_id))
        with pytest.raises(grpc.aio.AioRpcError) as none:
            await stub(c_ch).GetActivation(F.GetActivationRequest(activation_id=str(uuid.uuid4())))
        # exactly as for one that does not exist: its existence is not told
        assert (other.value.code(), other.value.details()) == (grpc.StatusCode.NOT_FOUND, none.value.details())
        acked = (
            await stub(a_ch).AcknowledgeActivation(F.AcknowledgeActivationRequest(activation_id=raised.activation_id))
        ).activation
        assert acked.state == T.ACTIVATION_STATE_ACKNOWLEDGED and acked.acknowledged_by == "tfc-a"
        assert not acked.HasField("acknowledge_by")
        assert (await next_message(a_stream)).event.kind == K.ACTIVATION_EVENT_KIND_ACKNOWLEDGED
        with pytest.raises(TimeoutError):  # nothing reaches tfc-c
            await next_message(c_stream, 2.0)
        a_stream.cancel()
        c_stream.cancel()
    async with channel(addr(firearms), people["sup-1"]) as ch:
        events = (
            await stub(ch).ListActivationEvents(F.ListActivationEventsRequest(activation_id=raised.activation_id))
        ).events
    assert [e.kind for e in events] == [K.ACTIVATION_EVENT_KIND_RAISED, K.ACTIVATION_EVENT_KIND_ACKNOWLEDGED]


async def test_unacknowledged_it_walks_the_chain_to_the_supervisor(quick, people):
    firearms = quick
    await set_rota(addr(firearms), people, chain=("tfc-a", "tfc-b"), supervisor="sup-1")
    async with channel(addr(firearms), people["tfc-b"]) as b_ch:
        b_stream = stub(b_ch).StreamActivations(F.StreamActivationsRequest(from_start=True))
        [raised] = (await raise_hits(addr(firearms), people, [firearms_hit()])).activations
        escalated = await next_message(b_stream)
        b_stream.cancel()
    e = escalated.event
    assert e.kind == K.ACTIVATION_EVENT_KIND_ESCALATED and (e.from_subject, e.to_subject, e.level) == (
        "tfc-a",
        "tfc-b",
        1,
    )
    assert e.at.ToDatetime() >= e.deadline_missed.ToDatetime() and e.due_at.ToDatetime() > e.at.ToDatetime()
    assert escalated.activation.state == T.ACTIVATION_STATE_ESCALATED
    async with channel(addr(firearms), people["sup-1"]) as ch:

        async def walked():
            events = (
                await stub(ch).ListActivationEvents(F.ListActivationEventsRequest(activation_id=raised.activation_id))
            ).events
            return events if events[-1].kind == K.ACTIVATION_EVENT_KIND_ESCALATION_EXHAUSTED else None

        events = await eventually(walked, seconds=15)
    assert [(e.kind, e.to_subject) for e in events] == [
        (K.ACTIVATION_EVENT_KIND_RAISED, "tfc-a"),
        (K.ACTIVATION_EVENT_KIND_ESCALATED, "tfc-b"),
        (K.ACTIVATION_EVENT_KIND_ESCALATED, "sup-1"),
        (K.ACTIVATION_EVENT_KIND_ESCALATION_EXHAUSTED, ""),
    ]


async def test_the_camera_force_rota_owns_the_activation_before_the_listing_force(firearms, people):
    await set_rota(addr(firearms), people, chain=("tfc-a",), force="Listing Police")
    await set_rota(addr(firearms), people, chain=("tfc-c",), force="Camera Police")
    [raised] = (
        await raise_hits(addr(firearms), people, [firearms_hit(force="Listing Police", camera_force="Camera Police")])
    ).activations
    async with channel(addr(firearms), people["tfc-c"]) as ch:
        got = (await stub(ch).GetActivation(F.GetActivationRequest(activation_id=raised.activation_id))).activation
    assert (got.force, got.assigned_to) == ("Camera Police", "tfc-c")


async def test_a_force_with_nobody_on_duty_is_surfaced_at_once(firearms, people, caplog):
    caplog.set_level(logging.ERROR)
    async with channel(addr(firearms), people.tokens[Role.TFC_SUPERVISOR]) as ch:  # a national supervisor
        supervisor = stub(ch).StreamActivations(F.StreamActivationsRequest(from_start=True))
        [raised] = (await raise_hits(addr(firearms), people, [firearms_hit(force="Empty Police")])).activations
        shown = await next_message(supervisor)
        assert shown.event.kind == K.ACTIVATION_EVENT_KIND_UNASSIGNED
        assert shown.activation.state == T.ACTIVATION_STATE_UNASSIGNED and not shown.activation.assigned_to
        assert any(
            r.getMessage() == "activation raised with nobody on duty for the force"
            and getattr(r, "force", "") == "Empty Police"
            for r in caplog.records
        )
        status = {s.force: s for s in (await stub(ch).GetDutyStatus(F.GetDutyStatusRequest())).forces}
        assert list(status["Empty Police"].chain) == [] and status["Empty Police"].unassigned_activations == 1
        await eventually(lambda: duty_health(firearms, NOT_SERVING))

        await set_rota(addr(firearms), people, chain=("tfc-b",), force="Empty Police")
        assigned = await next_message(supervisor)
        supervisor.cancel()
    assert assigned.event.kind == K.ACTIVATION_EVENT_KIND_ASSIGNED and assigned.event.to_subject == "tfc-b"
    assert assigned.activation.activation_id == raised.activation_id
    assert assigned.activation.state == T.ACTIVATION_STATE_RAISED
    await eventually(lambda: duty_health(firearms, SERVING))


SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


async def duty_health(suite, expected) -> bool:
    """The health detail of the duty rota (grpc.health.v1, service name anpr.firearms.duty_rota)."""
    async with channel(addr(suite)) as ch:
        resp = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=DUTY_HEALTH))
    return resp.status == expected


async def acknowledged(firearms, people, who: str = "tfc-a") -> str:
    await set_rota(addr(firearms), people, chain=(who,) if who.startswith("tfc") else ("tfc-a",))
    [raised] = (await raise_hits(addr(firearms), people, [firearms_hit()])).activations
    async with channel(addr(firearms), people[who]) as ch:
        await stub(ch).AcknowledgeActivation(F.AcknowledgeActivationRequest(activation_id=raised.activation_id))
    return raised.activation_id


async def test_decisions_stage_by_stage_then_closure_signed_off_by_a_different_supervisor(firearms, people):
    aid = await acknowledged(firearms, people)
    async with channel(addr(firearms), people["tfc-a"]) as ch, channel(addr(firearms), people["sup-1"]) as sch:
        a, sup = stub(ch), stub(sch)
        first = (
            await a.RecordDecision(
                F.RecordDecisionRequest(decision=decision(aid, information="Seen northbound on the M4, two occupants"))
            )
        ).decision
        assert first.decided_by == "tfc-a" and first.information.startswith("Seen") and first.decision_id
        await a.RecordDecision(
            F.RecordDecisionRequest(
                decision=decision(
                    aid,
                    code_of_ethics="Proportionate; public safety first",
                    threat_assessment="Credible handgun intelligence",
                    rationale="Threat to life cannot be excluded",
                    outcome=T.NDM_OUTCOME_ARMED_DEPLOYMENT,
                )
            )
        )
        with pytest.raises(grpc.aio.AioRpcError) as early:
            await sup.SignOffActivation(F.SignOffActivationRequest(activation_id=aid))
        assert early.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.aio.AioRpcError) as no_outcome:
            await a.CloseActivation(F.CloseActivationRequest(activation_id=aid, summary="Stopped at services"))
        assert [f for f, _ in field_violations_of(no_outcome.value)] == ["outcome"]
        closing = (
            await a.CloseActivation(
                F.CloseActivationRequest(
                    activation_id=aid, outcome=T.NDM_OUTCOME_ARMED_DEPLOYMENT, summary="Stopped at services"
                )
            )
        ).activation
        assert closing.state == T.ACTIVATION_STATE_AWAITING_SIGN_OFF
        with pytest.raises(grpc.aio.AioRpcError) as by_commander:
            await a.SignOffActivation(F.SignOffActivationRequest(activation_id=aid))
        assert by_commander.value.code() == grpc.StatusCode.PERMISSION_DENIED
        closed = (
            await sup.SignOffActivation(F.SignOffActivationRequest(activation_id=aid, remarks="Agreed"))
        ).activation
        final = (await a.GetActivation(F.GetActivationRequest(activation_id=aid))).activation
    assert closed.state == T.ACTIVATION_STATE_CLOSED and closed.signed_off_by == "sup-1"
    assert final.decision_count == 2 and [d.decided_by for d in final.decisions] == ["tfc-a", "tfc-a"]
    assert (
        final.decisions[1].code_of_ethics.startswith("Proportionate")
        and final.outcome == T.NDM_OUTCOME_ARMED_DEPLOYMENT
    )


async def test_a_supervisor_may_not_sign_off_their_own_closure(firearms, people):
    await set_rota(addr(firearms), people, chain=("tfc-a",), supervisor="sup-1")
    [raised] = (await raise_hits(addr(firearms), people, [firearms_hit()])).activations
    aid = raised.activation_id
    async with channel(addr(firearms), people["sup-1"]) as ch, channel(addr(firearms), people["sup-2"]) as ch2:
        s1 = stub(ch)
        await s1.AcknowledgeActivation(F.AcknowledgeActivationRequest(activation_id=aid))
        await s1.CloseActivation(
            F.CloseActivationRequest(
                activation_id=aid, outcome=T.NDM_OUTCOME_MONITOR, summary="Lost in traffic; intelligence updated"
            )
        )
        with pytest.raises(grpc.aio.AioRpcError) as own:
            await s1.SignOffActivation(F.SignOffActivationRequest(activation_id=aid))
        assert own.value.code() == grpc.StatusCode.PERMISSION_DENIED and "different person" in own.value.details()
        closed = (await stub(ch2).SignOffActivation(F.SignOffActivationRequest(activation_id=aid))).activation
    assert closed.state == T.ACTIVATION_STATE_CLOSED and closed.signed_off_by == "sup-2"


async def test_every_ndm_text_field_is_limited_and_one_stage_is_required(firearms, people):
    aid = await acknowledged(firearms, people)
    async with channel(addr(firearms), people["tfc-a"]) as ch:
        a = stub(ch)
        for name in (
            "information",
            "threat_assessment",
            "powers_and_policy",
            "options",
            "action_and_review",
            "rationale",
            "code_of_ethics",
        ):
            fields = {"information": "ok"} | {name: "x" * (16 * 1024 + 1)}
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await a.RecordDecision(F.RecordDecisionRequest(decision=decision(aid, **fields)))
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert [f for f, _ in field_violations_of(err.value)] == [f"decision.{name}"]
        with pytest.raises(grpc.aio.AioRpcError) as empty:
            await a.RecordDecision(F.RecordDecisionRequest(decision=decision(aid, rationale="why")))
        assert [f for f, _ in field_violations_of(empty.value)] == ["decision.information"]
        with pytest.raises(grpc.aio.AioRpcError) as big:
            await a.CloseActivation(
                F.CloseActivationRequest(
                    activation_id=aid, outcome=T.NDM_OUTCOME_MONITOR, summary="s" * (16 * 1024 + 1)
                )
            )
        assert [f for f, _ in field_violations_of(big.value)] == ["summary"]
        for _ in range(25):  # the largest entries allowed: the record still pages, GetActivation still answers
            await a.RecordDecision(
                F.RecordDecisionRequest(
                    decision=decision(
                        aid,
                        **{
                            n: "y" * 16 * 1024
                            for n in (
                                "information",
                                "threat_assessment",
                                "powers_and_policy",
                                "options",
                                "action_and_review",
                                "rationale",
                                "code_of_ethics",
                            )
                        },
                    )
                )
            )
        got = (await a.GetActivation(F.GetActivationRequest(activation_id=aid))).activation
        pages, after = [], 0
        while True:
            page = await a.ListActivationEvents(
                F.ListActivationEventsRequest(activation_id=aid, after_sequence=after, page_size=10)
            )
            pages.append(len(page.events))
            if not (after := page.next_after_sequence):
                break
    assert got.decision_count == 25 and len(got.decisions) == 20
    assert pages == [10, 10, 7]  # raised, acknowledged, 25 decisions


async def test_raise_in_batches_keeps_order_is_idempotent_and_continues_each_trace(firearms, people):
    exporter = InMemorySpanExporter()
    trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))
    await set_rota(addr(firearms), people)
    first, again = firearms_hit(entry_id="e-1"), firearms_hit(entry_id="e-2")
    sighting = firearms_hit(entry_id="e-1")
    others = [firearms_hit() for _ in range(196)]
    hits = [first, again, sighting, *others, first]  # the same hit twice in one batch: once
    trace_ids = {h.hit_id: f"{i + 1:032x}" for i, h in enumerate(hits[:-1])}
    parents = {k: f"00-{v}-{'ab' * 8}-01" for k, v in trace_ids.items()}
    resp = (await raise_hits(addr(firearms), people, hits, parents)).activations
    assert len(resp) == 200 and not any(r.duplicate for r in resp[:-1])
    assert (resp[-1].activation_id, resp[-1].duplicate) == (resp[0].activation_id, True)
    assert resp[2].activation_id == resp[0].activation_id  # a sighting of the same entry attaches
    assert len({r.activation_id for r in resp}) == 198
    repeat = (await raise_hits(addr(firearms), people, [hits[5], hits[2], hits[0]])).activations
    assert [(r.activation_id, r.duplicate) for r in repeat] == [
        (resp[5].activation_id, True),
        (resp[2].activation_id, True),
        (resp[0].activation_id, True),
    ]
    spans = [s for s in exporter.get_finished_spans() if s.name == "firearms.activation.raised"]
    assert len(spans) == 198
    assert {format(s.context.trace_id, "032x") for s in spans} == {
        trace_ids[h.hit_id] for h in hits if h is not sighting
    }
    assert all(s.parent is not None and s.parent.span_id == int("ab" * 8, 16) for s in spans)
    async with channel(addr(firearms), people["tfc-a"]) as ch:
        got = (await stub(ch).GetActivation(F.GetActivationRequest(activation_id=resp[0].activation_id))).activation
    assert got.sighting_count == 1 and got.sightings[0].hit_id == sighting.hit_id


async def test_raise_refuses_a_hit_without_ids_naming_the_field(firearms, people):
    bad = firearms_hit()
    bad.hit_id = ""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await raise_hits(addr(firearms), people, [firearms_hit(), bad])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in field_violations_of(err.value)] == ["hits[1].hit.hit_id"]


async def test_the_rota_refuses_unknown_people_and_bad_times(firearms, people):
    from datetime import datetime, timedelta, timezone

    from tests.support import ts

    await set_rota(addr(firearms), people)
    now = datetime.now(timezone.utc)
    async with channel(addr(firearms), people["sup-1"]) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub(ch).AddShifts(
                F.AddShiftsRequest(
                    shifts=[
                        T.Shift(
                            force=FORCE,
                            starts_at=ts(now),
                            ends_at=ts(now + timedelta(hours=1)),
                            primary="tfc-a",
                            backups=["nobody"],
                            supervisor="sup-1",
                        ),
                        T.Shift(
                            force=FORCE,
                            starts_at=ts(now),
                            ends_at=ts(now - timedelta(hours=1)),
                            primary="tfc-a",
                            supervisor="sup-1",
                        ),
                    ]
                )
            )
    assert [f for f, _ in field_violations_of(err.value)] == ["shifts[1].ends_at"]
    async with channel(addr(firearms), people["tfc-a"]) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub(ch).UpsertCommander(
                F.UpsertCommanderRequest(commander=T.Commander(subject="x", name="x", force=FORCE))
            )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_terminal_may_not_see_the_firearms_console(firearms, people):
    async with channel(addr(firearms), people.tokens[Role.TERMINAL]) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await next_message(stub(ch).StreamActivations(F.StreamActivationsRequest()))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_only_people_told_so_far_may_acknowledge(quick, people):
    firearms = quick
    await set_rota(addr(firearms), people, chain=("tfc-a", "tfc-b"), supervisor="sup-1")
    [raised] = (await raise_hits(addr(firearms), people, [firearms_hit()])).activations
    request = F.AcknowledgeActivationRequest(activation_id=raised.activation_id)
    async with channel(addr(firearms), people["tfc-b"]) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as early:  # tfc-b has not been told yet: not told of it
            await stub(ch).AcknowledgeActivation(request)
        assert early.value.code() == grpc.StatusCode.NOT_FOUND

        async def told():
            got = await stub(ch).AcknowledgeActivation(request)
            return got.activation

        acked = await eventually(_denied_as_none(told), seconds=10)  # after the escalation it may
    assert acked.acknowledged_by == "tfc-b" and acked.escalation_level == 1


def _denied_as_none(call):
    async def attempt():
        try:
            return await call()
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.NOT_FOUND:
                raise
            return None

    return attempt


async def test_the_commander_gets_the_plate_patch_and_the_fetch_is_logged(database_url, people):
    from anpr.v1 import ingest_pb2, ingest_pb2_grpc
    from tests.support import make_read

    suite = InProcessSuite(database_url, people.tokens)
    try:
        await suite.start("ingest", matcher_addr="127.0.0.1:9")
        await suite.start("firearms", ingest_addr=suite.addr("ingest"))
        read = make_read("LR68HGW", plate_image=b"\xff\xd8 a plate patch \xff\xd9")
        async with channel(suite.addr("ingest"), people.tokens[Role.CAMERA]) as ch:
            await ingest_pb2_grpc.IngestServiceStub(ch).SubmitReads(iter([ingest_pb2.SubmitReadsRequest(reads=[read])]))
        await set_rota(addr(suite), people, chain=("tfc-a",))
        hit = firearms_hit()
        hit.read.CopyFrom(read)
        hit.read.ClearField("plate_image")  # hits never carry images
        [raised] = (await raise_hits(addr(suite), people, [hit])).activations
        request = F.GetActivationPlatePatchRequest(activation_id=raised.activation_id, reason="confirm the read")
        async with channel(addr(suite), people["tfc-a"]) as ch, channel(addr(suite), people["tfc-c"]) as other:
            with pytest.raises(grpc.aio.AioRpcError) as no_reason:
                await stub(ch).GetActivationPlatePatch(
                    F.GetActivationPlatePatchRequest(activation_id=raised.activation_id)
                )
            image = (await stub(ch).GetActivationPlatePatch(request)).plate_image
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await stub(other).GetActivationPlatePatch(request)
            events = (
                await stub(ch).ListActivationEvents(F.ListActivationEventsRequest(activation_id=raised.activation_id))
            ).events
    finally:
        await suite.stop()
    assert image == b"\xff\xd8 a plate patch \xff\xd9"
    assert [f for f, _ in field_violations_of(no_reason.value)] == ["reason"]
    assert denied.value.code() == grpc.StatusCode.NOT_FOUND  # tfc-c was not told of it
    assert [(e.kind, e.actor, e.remarks) for e in events][-1] == (
        K.ACTIVATION_EVENT_KIND_PLATE_PATCH_VIEWED,
        "tfc-a",
        "confirm the read",
    )


async def test_with_no_attach_window_every_hit_raises_its_own_activation(database_url, people):
    suite = InProcessSuite(database_url, people.tokens)
    await suite.start("firearms", activation_attach_window_s=0)
    try:
        await set_rota(addr(suite), people)
        hits = [firearms_hit(entry_id="same") for _ in range(3)]
        first = (await raise_hits(addr(suite), people, hits[:2])).activations
        later = (await raise_hits(addr(suite), people, hits[2:])).activations
    finally:
        await suite.stop()
    assert len({a.activation_id for a in [*first, *later]}) == 3


async def test_without_ingest_a_plate_patch_is_a_failed_precondition_and_no_fetch_is_logged(firearms, people):
    await set_rota(addr(firearms), people, chain=("tfc-a",))
    [raised] = (await raise_hits(addr(firearms), people, [firearms_hit()])).activations
    async with channel(addr(firearms), people["tfc-a"]) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub(ch).GetActivationPlatePatch(
                F.GetActivationPlatePatchRequest(activation_id=raised.activation_id, reason="confirm the read")
            )
        events = (
            await stub(ch).ListActivationEvents(F.ListActivationEventsRequest(activation_id=raised.activation_id))
        ).events
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.value.details() == "plate patches are not configured on this service (ANPR_INGEST_ADDR)"
    assert [e.kind for e in events] == [K.ACTIVATION_EVENT_KIND_RAISED]
