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
from anpr.runtime.errors import ConfigError, InvalidArgument
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
from services.firearms import checkpoints, escalation, eventlog, keys, ndm, reading, rules, store, verification
from services.firearms.config import FirearmsSettings
from services.firearms.duty import RotaRPCs
from services.firearms.escalation import UNASSIGNED, Escalator
from services.firearms.projection import Seals
from services.firearms.stream import EventLog

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)
MAX_RAISE_BATCH = 500
PAGE_DEFAULT, PAGE_MAX = 20, 50
ESCALATOR, DUTY_CHECK, GAUGES = "firearms-escalator", "firearms-duty-check", "firearms-activation-gauges"
CHECKPOINTS = "firearms-log-checkpoints"


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
    def __init__(self, pool, events: EventLog, settings: FirearmsSettings, readers: list[checkpoints.Readable] = ()):
        self._pool = pool
        self._events = events
        self._seals = events.seals
        self._timing = timing_of(settings)
        self._readers = list(readers)  # where VerifyLog reads checkpoints (the database's copy, the file)
        self._grace = timedelta(seconds=max(60.0, 10 * settings.checkpoint_interval_s))
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
            raised = await store.raise_batch(conn, [t.hit for t in traced], self._timing, self._seals)
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
        async for response in self._events.follow(
            current_caller(), request.after_sequence, request.from_start, request.mark_caught_up
        ):
            yield response

    async def _after(self, conn, activation_id: uuid.UUID) -> T.Activation:
        return await reading.get_activation(conn, await reading.record(conn, activation_id, self._seals))

    async def AcknowledgeActivation(self, request, context):
        activation_id = _uuid(request.activation_id)
        caller = current_caller()
        async with self._events.transaction() as conn:
            rec = await store.lock_activation(conn, activation_id, self._seals)
            rules.check_acknowledge(rec.state, caller)
            s = store.verified(rec)
            if s.acknowledged_by is None:
                await store.acknowledge(conn, s, caller.subject, self._seals)
            activation = await self._after(conn, activation_id)
        return F.AcknowledgeActivationResponse(activation=activation)

    async def RecordDecision(self, request, context):
        errors = ndm.validate_decision(request.decision)
        if errors:
            raise InvalidArgument(errors)
        activation_id = _uuid(request.decision.activation_id, "decision.activation_id")
        caller = current_caller()
        async with self._events.transaction() as conn:
            rec = await store.lock_activation(conn, activation_id, self._seals)
            rules.check_work(rec.state, caller, "decision.activation_id")
            s = store.verified(rec)
            sequence = await store.record_decision(conn, s, request.decision, caller.subject, self._seals)
            [event] = await reading.activation_events(conn, activation_id, sequence - 1, 1, self._seals)
        return F.RecordDecisionResponse(decision=event.decision)

    async def CloseActivation(self, request, context):
        errors = ndm.validate_close(request.outcome, request.summary)
        if errors:
            raise InvalidArgument(errors)
        activation_id = _uuid(request.activation_id)
        caller = current_caller()
        async with self._events.transaction() as conn:
            rec = await store.lock_activation(conn, activation_id, self._seals)
            rules.check_work(rec.state, caller, "activation_id")
            s = store.verified(rec)
            rules.check_close(request.outcome, s.stages, ndm.STAGES)
            await store.request_close(conn, s, request.outcome, request.summary, caller.subject, self._seals)
            activation = await self._after(conn, activation_id)
        return F.CloseActivationResponse(activation=activation)

    async def SignOffActivation(self, request, context):
        if problem := ndm.text_problem(request.remarks):
            raise InvalidArgument.of("remarks", problem)
        activation_id = _uuid(request.activation_id)
        caller = current_caller()
        async with self._events.transaction() as conn:
            rec = await store.lock_activation(conn, activation_id, self._seals)
            rules.check_sign_off(rec.state, caller)
            await store.sign_off(conn, store.verified(rec), request.remarks, caller.subject, self._seals)
            activation = await self._after(conn, activation_id)
        return F.SignOffActivationResponse(activation=activation)

    async def GetActivation(self, request, context):
        activation_id = _uuid(request.activation_id)
        async with self._pool.acquire() as conn:
            rec = await self._readable(conn, activation_id)
            return F.GetActivationResponse(activation=await reading.get_activation(conn, rec))

    async def _readable(self, conn, activation_id: uuid.UUID):
        """The activation's record as its log makes it, when the caller may see it and it verifies."""
        rec = store.found(await reading.record(conn, activation_id, self._seals))
        rules.check_see(rec.state, current_caller())
        store.verified(rec)
        return rec

    async def ListActivationEvents(self, request, context):
        activation_id = _uuid(request.activation_id)
        if request.after_sequence < 0:
            raise InvalidArgument.of("after_sequence", "must not be negative")
        if not 0 <= request.page_size <= PAGE_MAX:
            raise InvalidArgument.of("page_size", f"0-{PAGE_MAX}")
        size = request.page_size or PAGE_DEFAULT
        async with self._pool.acquire() as conn:
            await self._readable(conn, activation_id)
            events = await reading.activation_events(conn, activation_id, request.after_sequence, size + 1, self._seals)
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
            rec = await self._readable(conn, activation_id)
            read = await reading.read_of(conn, rec, request.hit_id)
        if read is None:
            raise InvalidArgument.of("hit_id", "neither this activation's hit nor one of its sightings")
        image = await self.patches.of(read, caller.subject, request.reason)
        if image:  # the camera sent none: nothing was viewed, nothing to log
            async with self._events.transaction() as conn:
                s = store.verified(await store.lock_activation(conn, activation_id, self._seals))
                await store.plate_patch_viewed(
                    conn, s, request.hit_id or s.hit_id, caller.subject, request.reason, self._seals
                )
        return F.GetActivationPlatePatchResponse(plate_image=image)

    async def VerifyLog(self, request, context):
        given = [checkpoints.from_message(c) for c in request.checkpoints]
        async with self._pool.acquire() as conn:
            r = await verification.verify(conn, self._seals, given, self._readers, self._grace)
        if not r.ok:
            log.error(
                "firearms record does not verify",
                extra={"sequence": r.first_bad_sequence, "activation_id": r.activation_id},
            )
        return F.VerifyLogResponse(
            ok=r.ok,
            entries_verified=r.verified,
            first_bad_sequence=r.first_bad_sequence,
            problem=r.problem,
            head_hash=r.head_hash,
            checkpoints_verified=r.checkpoints_verified,
            checkpoints_ignored=r.checkpoints_ignored,
            anchored_sequence=r.anchored.sequence if r.anchored else 0,
            anchored_at=r.anchored.at if r.anchored else None,
            activations_verified=r.activations_verified,
            activation_id=r.activation_id,
        )


def _uuid(value: str, field: str = "activation_id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument.of(field, "must be a UUID") from None


class FirearmsComponent:
    """The servicer and the activation log's tail, plus this replica's escalator (three tasks: the
    deadlines, the rota check and the gauges of activations awaiting acknowledgement)."""

    def __init__(self, rt: Runtime):
        settings: FirearmsSettings = rt.settings  # type: ignore[assignment]
        self._rt = rt
        self.seals = Seals(log_keyring(settings))
        self.events = EventLog(rt.pool, self.seals)
        publishers, readers = checkpoint_places(rt.pool, settings)
        self.checkpointer = checkpoints.Checkpointer(
            rt.pool, self.seals, publishers, readers, settings.checkpoint_interval_s
        )
        self.servicer = FirearmsServicer(rt.pool, self.events, settings, readers)
        self.escalator = Escalator(
            rt.pool, self.events, timing_of(settings), settings.escalation_poll_s, settings.duty_check_s, rt.health
        )
        if settings.ingest_addr:
            ingest = ingest_pb2_grpc.IngestServiceStub(rt.channel(settings.ingest_addr))
            self.servicer.patches = PlatePatches(ingest)

    async def start(self) -> None:
        async with self._rt.pool.acquire() as conn:
            self.seals.sealed_from = await eventlog.sealed_from(conn)
        await self.events.tail.start(await self._rt.listener(), reading.EVENTS_CHANNEL, self._rt.tasks)
        tasks, e = self._rt.tasks, self.escalator
        tasks.start(ESCALATOR, keep_running(e.sweep, log, "escalation sweep", policy=escalation.POLICY))
        tasks.start(DUTY_CHECK, keep_running(e.check_duty, log, "duty rota check"))
        tasks.start(GAUGES, keep_running(e.sample_awaiting, log, "activations sample"), critical=False)
        tasks.start(CHECKPOINTS, keep_running(self.checkpointer.tick, log, "log checkpoint"))

    async def stop(self) -> None:
        for name in (ESCALATOR, DUTY_CHECK, GAUGES, CHECKPOINTS):
            await self._rt.tasks.cancel(name)
        escalation.AWAITING.pop(escalation.SERVICE, None)
        await self.events.tail.stop()
        await self.checkpointer.final()  # the head as this replica leaves it


def log_keyring(settings: FirearmsSettings) -> keys.Keyring:
    """The log's keys: the configured key file (which must exist), else the data directory's
    (made on first start); and the earlier keys kept after a rotation."""
    try:
        path = settings.signing_key_path()
        current = keys.Key.of(keys.read_private(path)) if settings.log_signing_key_file else keys.load_or_create(path)
        previous = [keys.Key.of(keys.read_private(p)) for p in settings.previous_key_paths()]
    except keys.KeyProblem as exc:
        raise ConfigError(f"ANPR_LOG_SIGNING_KEY_FILE / ANPR_LOG_PREVIOUS_KEY_FILES: {exc}") from None
    return keys.Keyring(current, previous)


def checkpoint_places(pool, settings: FirearmsSettings) -> tuple[list, list]:
    """Where checkpoints are published, and those of them VerifyLog and the checkpointer read back."""
    database = checkpoints.DatabaseCopy(pool)
    publishers: list = [database]
    readers: list = [database]
    if path := settings.checkpoint_path():
        publishers.append(file := checkpoints.AppendOnlyFile(path))
        readers.append(file)
    if settings.checkpoint_log:
        publishers.append(checkpoints.LogStream())
    if settings.checkpoint_s3_url:
        publishers.append(
            s3 := checkpoints.ObjectLockStore(settings.checkpoint_s3_url, settings.checkpoint_s3_retain_days)
        )
        readers.append(s3)
    return publishers, readers


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
