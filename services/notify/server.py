"""Notify servicer: the alert log, live terminal streams with resume, acknowledgements."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from opentelemetry import trace

from anpr.runtime.auth import Role, current_caller
from anpr.runtime.broadcast import LogTail
from anpr.runtime.errors import abort_invalid
from anpr.runtime.server import Runtime, ServiceSpec
from anpr.runtime.telemetry import (ATTR_ALERT_ID, ATTR_HIT_COUNT, ATTR_HIT_ID, context_from_traceparent,
                                    current_traceparent)
from anpr.v1 import notify_pb2, notify_pb2_grpc, types_pb2
from services.notify import store
from services.notify.config import NotifySettings

log = logging.getLogger(__name__)
tracer = trace.get_tracer("anpr.notify")

# What an in-car terminal does not see of an entry (control-room staff see everything).
TERMINAL_REDACTED_FIELDS = ("grading", "cad_information")


@dataclass(frozen=True, slots=True)
class AlertItem:
    """An alert as held in the log tail: the full alert, and what a terminal may see of it (made
    once per replica, shared by every terminal stream; None for covert lists)."""

    full: types_pb2.Alert
    terminal: types_pb2.Alert | None

    @classmethod
    def of(cls, alert: types_pb2.Alert) -> "AlertItem":
        if alert.covert:
            return cls(alert, None)  # covert lists never reach patrol terminals
        terminal = types_pb2.Alert()
        terminal.CopyFrom(alert)
        for name in TERMINAL_REDACTED_FIELDS:
            terminal.hit.entry.ClearField(name)
        return cls(alert, terminal)

    def view_for(self, role: Role) -> types_pb2.Alert | None:
        """The alert as `role` may see it, or None if it may not see it at all."""
        return self.full if role == Role.CONTROL_ROOM else self.terminal


async def alert_items_after(conn, sequence: int, limit: int) -> list[tuple[int, AlertItem]]:
    return [(s, AlertItem.of(a)) for s, a in await store.alerts_after(conn, sequence, limit)]


class NotifyServicer(notify_pb2_grpc.NotifyServiceServicer):
    def __init__(self, pool, tail: LogTail):
        self._pool = pool
        self._tail = tail

    async def _append(self, traced: Sequence[tuple[types_pb2.Hit, str]]) -> list[tuple[types_pb2.Alert, bool]]:
        """Store alerts for the hits in one transaction, continue each new one's trace, and hand
        them to this replica's streams without reading them back."""
        async with self._pool.acquire() as conn, conn.transaction():
            stored = await store.append_alerts(conn, traced)
        new = [(alert, tp) for (alert, duplicate), (_, tp) in zip(stored, traced, strict=True) if not duplicate]
        for alert, traceparent in new:
            with tracer.start_as_current_span("anpr.alert", context=context_from_traceparent(traceparent)) as span:
                span.set_attribute(ATTR_HIT_ID, alert.hit.hit_id)
                span.set_attribute(ATTR_ALERT_ID, alert.alert_id)
        self._tail.publish([(a.sequence, AlertItem.of(a)) for a, _ in new])
        return stored

    async def PublishAlert(self, request, context):
        if not request.hit.hit_id:
            await abort_invalid(context, [("hit.hit_id", "required")])
        [(alert, duplicate)] = await self._append([(request.hit, current_traceparent())])
        return notify_pb2.PublishAlertResponse(alert_id=alert.alert_id, sequence=alert.sequence, duplicate=duplicate)

    async def PublishAlerts(self, request, context):
        missing = [(f"hits[{i}].hit.hit_id", "required") for i, h in enumerate(request.hits) if not h.hit.hit_id]
        if missing:
            await abort_invalid(context, missing)
        stored = await self._append([(h.hit, h.traceparent) for h in request.hits])
        span = trace.get_current_span()
        span.set_attribute(ATTR_HIT_COUNT, len(request.hits))
        return notify_pb2.PublishAlertsResponse(alerts=[
            notify_pb2.PublishAlertResponse(alert_id=a.alert_id, sequence=a.sequence, duplicate=d) for a, d in stored])

    async def Subscribe(self, request, context):
        role = current_caller().role
        after = request.after_sequence
        if after < 0:
            await abort_invalid(context, [("after_sequence", "must not be negative")])
        async for item in self._tail.follow(after, request.from_start):
            visible = item.view_for(role)
            if visible is not None:
                yield notify_pb2.SubscribeResponse(alert=visible)

    async def AcknowledgeAlert(self, request, context):
        try:
            alert_id = uuid.UUID(request.alert_id)
        except ValueError:
            await abort_invalid(context, [("alert_id", "must be a UUID")])
        if request.outcome == types_pb2.ALERT_OUTCOME_UNSPECIFIED:
            await abort_invalid(context, [("outcome", "required")])
        if request.outcome == types_pb2.ALERT_OUTCOME_REJECTED and not request.reason.strip():
            await abort_invalid(context, [("reason", "required when rejecting an alert")])
        caller = current_caller()
        async with self._pool.acquire() as conn:
            found = await store.acknowledge(conn, alert_id, caller.subject, caller.role, request.outcome,
                                            request.reason)
        if not found:
            await context.abort(grpc.StatusCode.NOT_FOUND, "alert_id: no such alert")
        return notify_pb2.AcknowledgeAlertResponse()


class Notify:
    def __init__(self, rt: Runtime):
        self._rt = rt
        self.tail = LogTail(rt.pool, alert_items_after, store.latest_sequence)
        self.servicer = NotifyServicer(rt.pool, self.tail)

    async def start(self) -> None:
        await self.tail.start(await self._rt.listener(), store.ALERTS_CHANNEL)

    async def stop(self) -> None:
        await self.tail.stop()


SPEC = ServiceSpec(
    name="notify",
    grpc_service="anpr.v1.NotifyService",
    schema="notify",
    migrations=Path(__file__).parent / "migrations",
    settings_cls=NotifySettings,
    method_roles={
        "PublishAlert": frozenset({Role.SERVICE}),
        "PublishAlerts": frozenset({Role.SERVICE}),
        "Subscribe": frozenset({Role.TERMINAL, Role.CONTROL_ROOM}),
        "AcknowledgeAlert": frozenset({Role.TERMINAL, Role.CONTROL_ROOM}),
    },
    add_servicer=notify_pb2_grpc.add_NotifyServiceServicer_to_server,
    build=Notify,
)
