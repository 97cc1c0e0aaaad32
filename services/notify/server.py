"""Notify servicer: the alert log, live terminal streams with resume, acknowledgements."""

from __future__ import annotations

import logging
import uuid
from functools import partial
from pathlib import Path

import grpc
from opentelemetry import trace

from anpr.runtime.auth import Role, current_caller
from anpr.runtime.broadcast import LogServiceComponent, SequenceBroadcaster, follow_log
from anpr.runtime.errors import abort_invalid
from anpr.runtime.server import ServiceSpec
from anpr.runtime.telemetry import ATTR_ALERT_ID, ATTR_HIT_ID
from anpr.v1 import notify_pb2, notify_pb2_grpc, types_pb2
from services.notify import store
from services.notify.config import NotifySettings

log = logging.getLogger(__name__)

# What an in-car terminal does not see of an entry (control-room staff see everything).
TERMINAL_REDACTED_FIELDS = ("grading", "cad_information")


def view_for(alert: types_pb2.Alert, role: Role) -> types_pb2.Alert | None:
    """The alert as `role` may see it, or None if it may not see it at all."""
    if role == Role.CONTROL_ROOM:
        return alert
    if alert.covert:
        return None  # covert lists never reach patrol terminals
    for name in TERMINAL_REDACTED_FIELDS:
        alert.hit.entry.ClearField(name)
    return alert


class NotifyServicer(notify_pb2_grpc.NotifyServiceServicer):
    def __init__(self, pool, broadcaster: SequenceBroadcaster, settings: NotifySettings):
        self._pool = pool
        self._broadcaster = broadcaster

    async def PublishAlert(self, request, context):
        hit = request.hit
        if not hit.hit_id:
            await abort_invalid(context, [("hit.hit_id", "required")])
        async with self._pool.acquire() as conn, conn.transaction():
            alert, duplicate = await store.append_alert(conn, hit)
        span = trace.get_current_span()
        span.set_attribute(ATTR_HIT_ID, hit.hit_id)
        span.set_attribute(ATTR_ALERT_ID, alert.alert_id)
        await self._broadcaster.advance(alert.sequence)
        return notify_pb2.PublishAlertResponse(alert_id=alert.alert_id, sequence=alert.sequence,
                                               duplicate=duplicate)

    async def PublishAlerts(self, request, context):
        missing = [(f"hits[{i}].hit.hit_id", "required") for i, h in enumerate(request.hits) if not h.hit.hit_id]
        if missing:
            await abort_invalid(context, missing)
        async with self._pool.acquire() as conn, conn.transaction():
            stored = [await store.append_alert(conn, h.hit) for h in request.hits]
        if stored:
            await self._broadcaster.advance(max(a.sequence for a, _ in stored))
        return notify_pb2.PublishAlertsResponse(alerts=[
            notify_pb2.PublishAlertResponse(alert_id=a.alert_id, sequence=a.sequence, duplicate=d) for a, d in stored])

    async def Subscribe(self, request, context):
        role = current_caller().role
        after = request.after_sequence
        if after < 0:
            await abort_invalid(context, [("after_sequence", "must not be negative")])
        async for alert in follow_log(self._pool, self._broadcaster, after, request.from_start,
                                      store.latest_sequence, store.alerts_after):
            visible = view_for(alert, role)
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
                                            request.reason, may_see_covert=caller.role == Role.CONTROL_ROOM)
        if not found:
            await context.abort(grpc.StatusCode.NOT_FOUND, "alert_id: no such alert")
        return notify_pb2.AcknowledgeAlertResponse()


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
    build=partial(LogServiceComponent, servicer_cls=NotifyServicer, channel=store.ALERTS_CHANNEL,
                  latest_sequence=store.latest_sequence),
)
