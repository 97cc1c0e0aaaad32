"""Firearms servicer: activations to the TFC console, acknowledgement, the NDM decision log."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from functools import partial
from pathlib import Path

import grpc
from opentelemetry import trace

from anpr.runtime.auth import Role, current_caller
from anpr.runtime.broadcast import LogServiceComponent, SequenceBroadcaster, follow_log
from anpr.runtime.errors import abort_invalid
from anpr.runtime.server import ServiceSpec
from anpr.runtime.telemetry import ATTR_ACTIVATION_ID, ATTR_HIT_ID, context_from_traceparent
from anpr.v1 import firearms_pb2, firearms_pb2_grpc, types_pb2
from services.firearms import store
from services.firearms.config import FirearmsSettings
from services.firearms.ndm import validate_decision

log = logging.getLogger(__name__)
tracer = trace.get_tracer("anpr.firearms")


class FirearmsServicer(firearms_pb2_grpc.FirearmsServiceServicer):
    def __init__(self, pool, broadcaster: SequenceBroadcaster, settings: FirearmsSettings):
        self._pool = pool
        self._broadcaster = broadcaster
        self._attach_window = timedelta(seconds=settings.activation_attach_window_s)

    async def _activation_id(self, value: str, context, field: str = "activation_id") -> uuid.UUID:
        try:
            return uuid.UUID(value)
        except ValueError:
            await abort_invalid(context, [(field, "must be a UUID")])

    async def RaiseActivation(self, request, context):
        missing = [(f"hit.{f}", "required") for f, v in (("hit_id", request.hit.hit_id),
                                                          ("entry.entry_id", request.hit.entry.entry_id)) if not v]
        if missing:
            await abort_invalid(context, missing)
        async with self._pool.acquire() as conn, conn.transaction():
            activation_id, duplicate, attached = await store.raise_activation(conn, request.hit,
                                                                               self._attach_window)
        span = trace.get_current_span()
        span.set_attribute(ATTR_HIT_ID, request.hit.hit_id)
        span.set_attribute(ATTR_ACTIVATION_ID, str(activation_id))
        if not duplicate:
            log.info("sighting attached" if attached else "activation raised",
                     extra={"activation_id": str(activation_id)})
        return firearms_pb2.RaiseActivationResponse(activation_id=str(activation_id), duplicate=duplicate)

    async def RaiseActivations(self, request, context):
        missing = [(f"hits[{i}].hit.{f}", "required") for i, h in enumerate(request.hits)
                   for f, v in (("hit_id", h.hit.hit_id), ("entry.entry_id", h.hit.entry.entry_id)) if not v]
        if missing:
            await abort_invalid(context, missing)
        async with self._pool.acquire() as conn, conn.transaction():
            raised = [await store.raise_activation(conn, h.hit, self._attach_window) for h in request.hits]
        for h, (activation_id, duplicate, _) in zip(request.hits, raised, strict=True):
            if not duplicate:
                with tracer.start_as_current_span("anpr.activation", context=context_from_traceparent(h.traceparent)) as span:
                    span.set_attribute(ATTR_HIT_ID, h.hit.hit_id)
                    span.set_attribute(ATTR_ACTIVATION_ID, str(activation_id))
        return firearms_pb2.RaiseActivationsResponse(activations=[
            firearms_pb2.RaiseActivationResponse(activation_id=str(a), duplicate=d) for a, d, _ in raised])

    async def StreamActivations(self, request, context):
        after = request.after_sequence
        if after < 0:
            await abort_invalid(context, [("after_sequence", "must not be negative")])
        async for activation in follow_log(self._pool, self._broadcaster, after, request.from_start,
                                           store.latest_sequence, store.activations_after):
            yield firearms_pb2.StreamActivationsResponse(activation=activation)

    async def AcknowledgeActivation(self, request, context):
        activation_id = await self._activation_id(request.activation_id, context)
        async with self._pool.acquire() as conn, conn.transaction():
            owner = await store.acknowledge(conn, activation_id, current_caller().subject)
            activation = await store.get_activation(conn, activation_id) if owner else None
        if activation is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "activation_id: no such activation")
        return firearms_pb2.AcknowledgeActivationResponse(activation=activation)

    async def RecordDecision(self, request, context):
        errors = validate_decision(request.decision)
        if errors:
            await abort_invalid(context, errors)
        activation_id = await self._activation_id(request.decision.activation_id, context,
                                                  "decision.activation_id")
        caller = current_caller()
        async with self._pool.acquire() as conn, conn.transaction():
            state = await store.activation_state(conn, activation_id)
            if state is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, "decision.activation_id: no such activation")
            if state == types_pb2.ACTIVATION_STATE_RAISED:
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                    "decision.activation_id: acknowledge the activation first")
            decision_id = await store.record_decision(conn, request.decision, caller.subject)
            activation = await store.get_activation(conn, activation_id)
        decision = next(d for d in activation.decisions if d.decision_id == str(decision_id))
        return firearms_pb2.RecordDecisionResponse(decision=decision)

    async def GetActivation(self, request, context):
        activation_id = await self._activation_id(request.activation_id, context)
        async with self._pool.acquire() as conn:
            activation = await store.get_activation(conn, activation_id)
        if activation is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "activation_id: no such activation")
        return firearms_pb2.GetActivationResponse(activation=activation)


SPEC = ServiceSpec(
    name="firearms",
    grpc_service="anpr.v1.FirearmsService",
    schema="firearms",
    migrations=Path(__file__).parent / "migrations",
    settings_cls=FirearmsSettings,
    method_roles={
        "RaiseActivation": frozenset({Role.SERVICE}),
        "RaiseActivations": frozenset({Role.SERVICE}),
        "StreamActivations": frozenset({Role.TFC}),
        "AcknowledgeActivation": frozenset({Role.TFC}),
        "RecordDecision": frozenset({Role.TFC}),
        "GetActivation": frozenset({Role.TFC}),
    },
    add_servicer=firearms_pb2_grpc.add_FirearmsServiceServicer_to_server,
    build=partial(LogServiceComponent, servicer_cls=FirearmsServicer, channel=store.EVENTS_CHANNEL,
                  latest_sequence=store.latest_sequence),
)
