"""Firearms servicer: activations to the duty commander's console, acknowledgement, escalation,
the NDM decision log, closure with sign-off, and the duty rota."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from opentelemetry import trace

import services
from anpr.plate_patches import PlatePatches
from anpr.runtime.auth import Role, current_caller
from anpr.runtime.errors import InvalidArgument, NotFound
from anpr.runtime.failures import keep_running
from anpr.runtime.server import Runtime
from anpr.runtime.telemetry import (
    ATTR_ACTIVATION_ID,
    ATTR_HIT_COUNT,
    ATTR_HIT_ID,
    context_from_traceparent,
    current_traceparent,
)
from anpr.v1 import firearms_pb2 as F
from anpr.v1 import firearms_pb2_grpc, ingest_pb2_grpc
from anpr.v1 import types_pb2 as T
from services.firearms import escalation, eventlog, ndm, reading, rules, store
from services.firearms.config import FirearmsSettings
from services.firearms.duty import RotaRPCs
from services.firearms.escalation import UNASSIGNED, Escalator
from services.firearms.stream import EventLog

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)
MAX_RAISE_BATCH = 500
PAGE_DEFAULT, PAGE_MAX = 20, 50
ESCALATOR, DUTY_CHECK, GAUGES = "firearms-escalator", "firearms-duty-check", "firearms-activation-gauges"


def timing_of(settings: FirearmsSettings) -> store.Timing:
    return store.Timing(
        timedelta(seconds=settings.ack_deadline_s),
        timedelta(seconds=settings.unassigned_retry_s),
        timedelta(seconds=settings.activation_attach_window_s),
    )


def _raise_violations(hits) -> list[tuple[str, str]]:
    if len(hits) > MAX_RAISE_BATCH:
        return [("hits", f"at most {MAX_RAISE_BATCH} per call")]
    return [
        (f"hits[{i}].hit.{f}", p)
        for i, h in enumerate(hits)
        for f, v in (("hit_id", h.hit.hit_id), ("entry.entry_id", h.hit.entry.entry_id))
        if (p := ndm.name_problem(v, 256))
    ]


class FirearmsServicer(RotaRPCs, firearms_pb2_grpc.FirearmsServiceServicer):
    def __init__(self, pool, events: EventLog, settings: FirearmsSettings):
        self._pool = pool
        self._events = events
        self._timing = timing_of(settings)
        self.patches = PlatePatches(None)  # set by the component when ingest is configured

    # ---- raising (matcher) ----

    async def RaiseActivation(self, request, context):
        batch = F.RaiseActivationsRequest(hits=[T.TracedHit(hit=request.hit, traceparent=current_traceparent())])
        [one] = await self._raise(batch.hits, prefix="hit.")
        return one

    async def RaiseActivations(self, request, context):
        return F.RaiseActivationsResponse(activations=await self._raise(request.hits))

    async def _raise(self, traced, prefix: str = "") -> list[F.RaiseActivationResponse]:
        violations = _raise_violations(traced)
        if violations:
            raise InvalidArgument([(f.replace("hits[0].hit.", prefix) if prefix else f, d) for f, d in violations])
        started = time.time_ns()
        async with self._events.transaction() as conn:
            raised = await store.raise_batch(conn, [t.hit for t in traced], self._timing)
        trace.get_current_span().set_attribute(ATTR_HIT_COUNT, len(traced))
        for t, r in zip(traced, raised, strict=True):
            if r.new:
                self._trace_new(t, r, started)
        return [F.RaiseActivationResponse(activation_id=str(r.activation_id), duplicate=r.duplicate) for r in raised]

    def _trace_new(self, traced: T.TracedHit, r: store.Raised, started: int) -> None:
        """A span per new activation, continuing the trace of the read that made the hit."""
        span = tracer.start_span(
            "firearms.activation.raised",
            context=context_from_traceparent(traced.traceparent),
            start_time=started,
            attributes={ATTR_HIT_ID: traced.hit.hit_id, ATTR_ACTIVATION_ID: str(r.activation_id)},
        )
        if r.unassigned_force is not None:
            span.set_status(trace.StatusCode.ERROR, "no duty firearms commander")
            UNASSIGNED.add(1, {"force": r.unassigned_force})
            log.error(
                "activation raised with nobody on duty for the force",
                extra={"activation_id": str(r.activation_id), "force": r.unassigned_force},
            )
        span.end()

    # ---- the console ----

    async def StreamActivations(self, request, context):
        if request.after_sequence < 0:
            raise InvalidArgument.of("after_sequence", "must not be negative")
        async for response in self._events.follow(current_caller(), request.after_sequence, request.from_start):
            yield response

    async def _after(self, conn, activation_id: uuid.UUID) -> T.Activation:
        return await reading.get_activation(conn, await reading.activation_row(conn, activation_id))

    async def AcknowledgeActivation(self, request, context):
        activation_id = _uuid(request.activation_id)
        caller = current_caller()
        async with self._events.transaction() as conn:
            row = await _locked(conn, activation_id)
            rules.check_acknowledge(row, caller)
            if row["acknowledged_by"] is None:
                await store.acknowledge(conn, row, caller.subject)
            activation = await self._after(conn, activation_id)
        return F.AcknowledgeActivationResponse(activation=activation)

    async def RecordDecision(self, request, context):
        errors = ndm.validate_decision(request.decision)
        if errors:
            raise InvalidArgument(errors)
        activation_id = _uuid(request.decision.activation_id, "decision.activation_id")
        caller = current_caller()
        async with self._events.transaction() as conn:
            row = await _locked(conn, activation_id)
            rules.check_work(row, caller, "decision.activation_id")
            sequence = await store.record_decision(conn, row, request.decision, caller.subject)
            [event] = await reading.activation_events(conn, activation_id, sequence - 1, 1)
        return F.RecordDecisionResponse(decision=event.decision)

    async def CloseActivation(self, request, context):
        errors = ndm.validate_close(request.outcome, request.summary)
        if errors:
            raise InvalidArgument(errors)
        activation_id = _uuid(request.activation_id)
        caller = current_caller()
        async with self._events.transaction() as conn:
            row = await _locked(conn, activation_id)
            rules.check_work(row, caller, "activation_id")
            await store.request_close(conn, row, request.outcome, request.summary, caller.subject)
            activation = await self._after(conn, activation_id)
        return F.CloseActivationResponse(activation=activation)

    async def SignOffActivation(self, request, context):
        if problem := ndm.text_problem(request.remarks):
            raise InvalidArgument.of("remarks", problem)
        activation_id = _uuid(request.activation_id)
        caller = current_caller()
        async with self._events.transaction() as conn:
            row = await _locked(conn, activation_id)
            rules.check_sign_off(row, caller)
            await store.sign_off(conn, row, request.remarks, caller.subject)
            activation = await self._after(conn, activation_id)
        return F.SignOffActivationResponse(activation=activation)

    async def GetActivation(self, request, context):
        activation_id = _uuid(request.activation_id)
        async with self._pool.acquire() as conn:
            row = await _readable(conn, activation_id)
            return F.GetActivationResponse(activation=await reading.get_activation(conn, row))

    async def ListActivationEvents(self, request, context):
        activation_id = _uuid(request.activation_id)
        if request.after_sequence < 0:
            raise InvalidArgument.of("after_sequence", "must not be negative")
        if not 0 <= request.page_size <= PAGE_MAX:
            raise InvalidArgument.of("page_size", f"0-{PAGE_MAX}")
        size = request.page_size or PAGE_DEFAULT
        async with self._pool.acquire() as conn:
            await _readable(conn, activation_id)
            events = await reading.activation_events(conn, activation_id, request.after_sequence, size + 1)
        more = len(events) > size
        return F.ListActivationEventsResponse(
            events=events[:size], next_after_sequence=events[size - 1].sequence if more else 0
        )

    async def GetActivationPlatePatch(self, request, context):
        activation_id = _uuid(request.activation_id)
        if not request.reason.strip():
            raise InvalidArgument.of("reason", "required: every view of an image is audited with its reason")
        caller = current_caller()
        async with self._pool.acquire() as conn:
            row = await _readable(conn, activation_id)
            read = await store.read_of(conn, row, request.hit_id)
        if read is None:
            raise InvalidArgument.of("hit_id", "neither this activation's hit nor one of its sightings")
        image = await self.patches.of(read, caller.subject, request.reason)
        async with self._events.transaction() as conn:
            await store.plate_patch_viewed(conn, row, request.hit_id or row["hit_id"], caller.subject, request.reason)
        return F.GetActivationPlatePatchResponse(plate_image=image)

    async def VerifyLog(self, request, context):
        async with self._pool.acquire() as conn:
            v = await eventlog.verify(conn)
        if not v.ok:
            log.error("firearms event log does not verify", extra={"sequence": v.first_bad_sequence})
        return F.VerifyLogResponse(
            ok=v.ok,
            entries_verified=v.verified,
            first_bad_sequence=v.first_bad_sequence,
            problem=v.problem,
            head_hash=v.head_hash,
        )


def _uuid(value: str, field: str = "activation_id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument.of(field, "must be a UUID") from None


async def _locked(conn, activation_id: uuid.UUID):
    row = await store.lock_activation(conn, activation_id)
    if row is None:
        raise NotFound("activation_id: no such activation")
    return row


async def _readable(conn, activation_id: uuid.UUID):
    row = await reading.activation_row(conn, activation_id)
    if row is None:
        raise NotFound("activation_id: no such activation")
    rules.check_see(row, current_caller())
    return row


class FirearmsComponent:
    """The servicer and the activation log's tail, plus this replica's escalator (three tasks: the
    deadlines, the rota check and the gauges of activations awaiting acknowledgement)."""

    def __init__(self, rt: Runtime):
        settings: FirearmsSettings = rt.settings  # type: ignore[assignment]
        self._rt = rt
        self.events = EventLog(rt.pool)
        self.servicer = FirearmsServicer(rt.pool, self.events, settings)
        self.escalator = Escalator(
            rt.pool, self.events, timing_of(settings), settings.escalation_poll_s, settings.duty_check_s, rt.health
        )
        if settings.ingest_addr:
            ingest = ingest_pb2_grpc.IngestServiceStub(rt.channel(settings.ingest_addr))
            self.servicer.patches = PlatePatches(ingest)

    async def start(self) -> None:
        await self.events.tail.start(await self._rt.listener(), reading.EVENTS_CHANNEL, self._rt.tasks)
        tasks, e = self._rt.tasks, self.escalator
        tasks.start(ESCALATOR, keep_running(e.sweep, log, "escalation sweep", policy=escalation.POLICY))
        tasks.start(DUTY_CHECK, keep_running(e.check_duty, log, "duty rota check"))
        tasks.start(GAUGES, keep_running(e.sample_awaiting, log, "activations sample"), critical=False)

    async def stop(self) -> None:
        for name in (ESCALATOR, DUTY_CHECK, GAUGES):
            await self._rt.tasks.cancel(name)
        escalation.AWAITING.pop(escalation.SERVICE, None)
        await self.events.tail.stop()


CONSOLE = (  # what a commander's console does, and a supervisor's too
    "StreamActivations",
    "AcknowledgeActivation",
    "RecordDecision",
    "GetActivation",
    "ListActivationEvents",
    "GetActivationPlatePatch",
    "CloseActivation",
    "ListCommanders",
    "ListShifts",
    "GetDutyStatus",
)
ROLES = {  # who may call which RPC
    Role.SERVICE: ("RaiseActivation", "RaiseActivations"),
    Role.TFC: CONSOLE,
    Role.TFC_SUPERVISOR: (*CONSOLE, "SignOffActivation", "VerifyLog", "UpsertCommander", "AddShifts", "ImportShifts"),
}
SPEC = services.declare(
    "firearms", FirearmsSettings, firearms_pb2_grpc.add_FirearmsServiceServicer_to_server, FirearmsComponent, ROLES
)
