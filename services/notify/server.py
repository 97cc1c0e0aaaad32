"""Notify servicer: the alert log, live terminal streams with resume, acknowledgements."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from google.protobuf import timestamp_pb2
from opentelemetry import trace

import services
from anpr.plate_patches import PlatePatches
from anpr.runtime import metrics, telemetry
from anpr.runtime.auth import Role, current_caller
from anpr.runtime.broadcast import LogTail
from anpr.runtime.errors import InvalidArgument, NotFound, ResourceExhausted
from anpr.runtime.server import Runtime
from anpr.v1 import ingest_pb2_grpc, notify_pb2, notify_pb2_grpc, types_pb2
from services.notify import store
from services.notify.areas import AreaFilter, area_problems, place_of, subscription_problems
from services.notify.config import NotifySettings

log = logging.getLogger(__name__)
tracer = trace.get_tracer("anpr.notify")

# What an in-car terminal sees of an entry and its list: the operational subset an officer needs
# (documented in protos/anpr/v1/notify.proto and the README); everything else is withheld.
TERMINAL_ENTRY_FIELDS = frozenset(
    {
        "entry_id",
        "hotlist_id",
        "vrm",
        "vehicle",
        "action",
        "warning_markers",
        "reason",
        "information",
        "pnc_id",
        "operational_instructions",
        "source_reference",
    }
)
TERMINAL_HOTLIST_FIELDS = frozenset({"hotlist_id", "name", "source"})
MAX_REASON = 1024
DEFAULT_STATS_WINDOW = timedelta(days=7)


def _keep_only(message, names: frozenset[str]) -> None:
    for field in message.DESCRIPTOR.fields:
        if field.name not in names:
            message.ClearField(field.name)


@dataclass(frozen=True, slots=True)
class AlertItem:
    """An alert as held in the log tail: the full alert, what a terminal may see of it (None for
    covert lists), and where and by which force's camera its read was made: made once per replica
    and shared by every stream, which only compares."""

    full: types_pb2.Alert
    terminal: types_pb2.Alert | None
    place: tuple[float, float] | None
    force: str

    @classmethod
    def of(cls, alert: types_pb2.Alert) -> "AlertItem":
        return cls(alert, terminal_view(alert), place_of(alert.hit), alert.hit.force)

    def view_for(self, role: Role) -> types_pb2.Alert | None:
        """The alert as `role` may see it, or None if it may not see it at all."""
        return self.full if role == Role.CONTROL_ROOM else self.terminal


def terminal_view(alert: types_pb2.Alert) -> types_pb2.Alert | None:
    if alert.covert:
        return None  # covert lists never reach patrol terminals
    if alert.hit.tier == types_pb2.MATCH_TIER_POSSIBLE:
        return None  # a possible match is the control room's to confirm, never a patrol's
    view = types_pb2.Alert()
    view.CopyFrom(alert)
    _keep_only(view.hit.entry, TERMINAL_ENTRY_FIELDS)
    _keep_only(view.hit.hotlist, TERMINAL_HOTLIST_FIELDS)
    return view


async def alert_items_after(conn, sequence: int, limit: int) -> list[tuple[int, AlertItem]]:
    return [(s, AlertItem.of(a)) for s, a in await store.alerts_after(conn, sequence, limit)]


class NotifyServicer(notify_pb2_grpc.NotifyServiceServicer):
    def __init__(self, pool, tail: LogTail, settings: NotifySettings, patches: PlatePatches):
        self._pool = pool
        self._tail = tail
        self._settings = settings
        self._patches = patches
        self._reasons = frozenset(r.strip() for r in settings.outcome_reasons.split(",") if r.strip())

    async def _append(self, traced: Sequence[tuple[types_pb2.Hit, str]]) -> list[tuple[types_pb2.Alert, bool]]:
        """Store alerts for the hits in one transaction, continue each new one's trace, and hand
        them to this replica's streams without reading them back."""
        async with self._pool.acquire() as conn:
            stored = await store.append_alerts(conn, traced)  # one statement: its own transaction
        new = [(alert, tp) for (alert, duplicate), (_, tp) in zip(stored, traced, strict=True) if not duplicate]
        for alert, traceparent in new:
            with tracer.start_as_current_span(
                "anpr.alert", context=telemetry.context_from_traceparent(traceparent)
            ) as span:
                span.set_attribute(telemetry.ATTR_HIT_ID, alert.hit.hit_id)
                span.set_attribute(telemetry.ATTR_ALERT_ID, alert.alert_id)
        self._tail.publish([(a.sequence, AlertItem.of(a)) for a, _ in new])
        metrics.alerts_stored(a.hit for a, _ in new)
        return stored

    async def PublishAlert(self, request, context):
        if not request.hit.hit_id:
            raise InvalidArgument.of("hit.hit_id", "required")
        [(alert, duplicate)] = await self._append([(request.hit, telemetry.current_traceparent())])
        return notify_pb2.PublishAlertResponse(alert_id=alert.alert_id, sequence=alert.sequence, duplicate=duplicate)

    async def PublishAlerts(self, request, context):
        missing = [(f"hits[{i}].hit.hit_id", "required") for i, h in enumerate(request.hits) if not h.hit.hit_id]
        if missing:
            raise InvalidArgument(missing)
        stored = await self._append([(h.hit, h.traceparent) for h in request.hits])
        span = trace.get_current_span()
        span.set_attribute(telemetry.ATTR_HIT_COUNT, len(request.hits))
        return notify_pb2.PublishAlertsResponse(
            alerts=[
                notify_pb2.PublishAlertResponse(alert_id=a.alert_id, sequence=a.sequence, duplicate=d)
                for a, d in stored
            ]
        )

    async def Subscribe(self, request_iterator, context):
        role = current_caller().role
        first = await anext(request_iterator, None)
        if first is None:
            raise InvalidArgument.of("subscription", "send a first request with the subscription")
        problems = subscription_problems(first.subscription, terminal=role != Role.CONTROL_ROOM)
        if first.after_sequence < 0:
            problems.append(("after_sequence", "must not be negative"))
        if problems:
            raise InvalidArgument(problems)
        area = AreaFilter(first.subscription)
        after = self._tail.start_of(first.after_sequence, first.from_start)
        yield self._opened(area, after)
        moves = asyncio.create_task(self._follow_moves(request_iterator, area))
        try:
            async for response in self._stream(role, area, after):
                yield response
        finally:
            moves.cancel()

    async def _stream(self, role: Role, area: AreaFilter, after: int):
        """The stream's alerts and heartbeats (and a new `opened` when a move takes effect); closed
        with RESOURCE_EXHAUSTED once a live stream falls more than subscriber_max_lag behind (its
        client is too slow)."""
        live = False
        moves_seen = 0
        terminal = role != Role.CONTROL_ROOM

        def wants(item: AlertItem) -> bool:  # also what wakes this stream when it has caught up
            return (item.terminal if terminal else item.full) is not None and area.covers(item.place, item.force)

        async for run in self._tail.follow(after, idle_s=self._settings.heartbeat_s, wants=wants):
            if area.problems:
                raise InvalidArgument(area.problems)
            if area.moves != moves_seen:
                moves_seen = area.moves
                yield self._opened(area, after)
            if not run:
                live = True
                yield notify_pb2.SubscribeResponse(heartbeat=notify_pb2.Heartbeat(sequence=after, at=_now()))
                continue
            for sequence, item in run:  # one plain loop over the run: most alerts are for other areas
                if wants(item):
                    visible = item.terminal if terminal else item.full
                    lag = self._tail.latest - sequence  # where a slow client holds the stream up
                    if live and lag > self._settings.subscriber_max_lag:
                        raise ResourceExhausted(
                            f"the stream fell {lag} alerts behind; resubscribe with after_sequence={after}"
                        )
                    metrics.alert_delivered(visible)
                    yield notify_pb2.SubscribeResponse(alert=visible)
                after = sequence
            live = live or after >= self._tail.latest  # it has caught up: from now on it must keep up

    def _opened(self, area: AreaFilter, after: int) -> notify_pb2.SubscribeResponse:
        return notify_pb2.SubscribeResponse(
            opened=notify_pb2.SubscriptionOpened(
                sequence=self._tail.latest,
                after_sequence=after,
                subscription=area.subscription,
                heartbeat_seconds=max(1, round(self._settings.heartbeat_s)),
            )
        )

    async def _follow_moves(self, request_iterator, area: AreaFilter) -> None:
        """Later requests of a stream move its area (a unit on patrol); a client may close its side."""
        async for request in request_iterator:
            problems = area_problems(request.subscription)
            if problems:
                area.problems = problems
                return
            area.move(request.subscription)

    async def _visible_alert(self, alert_id: str, field: str) -> types_pb2.Alert:
        """The alert, if the caller may see it; NOT_FOUND otherwise (a covert alert's existence is
        not told to a terminal)."""
        try:
            key = uuid.UUID(alert_id)
        except ValueError:
            raise InvalidArgument.of(field, "must be a UUID") from None
        async with self._pool.acquire() as conn:
            alert = await store.get_alert(conn, key)
        if alert is None or AlertItem.of(alert).view_for(current_caller().role) is None:
            raise NotFound(f"{field}: no such alert")
        return alert

    async def AcknowledgeAlert(self, request, context):
        problems = []
        if (
            request.outcome == types_pb2.ALERT_OUTCOME_UNSPECIFIED
            or request.outcome not in types_pb2.AlertOutcome.values()
        ):
            problems.append(("outcome", "required: SEEN, ACCEPTED or REJECTED"))
        if request.reason_code and request.reason_code not in self._reasons:
            problems.append(("reason_code", f"one of: {', '.join(sorted(self._reasons))}"))
        if request.outcome == types_pb2.ALERT_OUTCOME_REJECTED and not request.reason_code:
            problems.append(("reason_code", "required when rejecting an alert"))
        if len(request.reason) > MAX_REASON:
            problems.append(("reason", f"at most {MAX_REASON} characters"))
        if problems:
            raise InvalidArgument(problems)
        alert = await self._visible_alert(request.alert_id, "alert_id")
        caller = current_caller()
        async with self._pool.acquire() as conn:
            await store.acknowledge(
                conn,
                uuid.UUID(alert.alert_id),
                caller.subject,
                caller.role,
                request.outcome,
                request.reason_code,
                request.reason.replace("\x00", ""),
            )
        return notify_pb2.AcknowledgeAlertResponse()

    async def GetPlatePatch(self, request, context):
        alert = await self._visible_alert(request.alert_id, "alert_id")
        image = await self._patches.of(alert.hit.read)
        caller = current_caller()
        async with self._pool.acquire() as conn:
            await store.audit_plate_patch(conn, uuid.UUID(alert.alert_id), caller.subject, caller.role, len(image))
        return notify_pb2.GetPlatePatchResponse(plate_image=image)

    async def GetAlertStats(self, request, context):
        if request.window_seconds < 0 or request.window_seconds > 366 * 86400:
            raise InvalidArgument.of("window_seconds", "between 1 s and 366 days (0: 7 days)")
        window = timedelta(seconds=request.window_seconds) if request.window_seconds else DEFAULT_STATS_WINDOW
        async with self._pool.acquire() as conn:
            return await store.alert_stats(conn, window)


def _now() -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.GetCurrentTime()
    return ts


class NotifyComponent:
    def __init__(self, rt: Runtime):
        settings: NotifySettings = rt.settings  # type: ignore[assignment]
        self._rt = rt
        self.tail = LogTail(rt.pool, alert_items_after, store.latest_sequence, capacity=settings.alert_tail_size)
        ingest = None
        if settings.ingest_addr:
            ingest = ingest_pb2_grpc.IngestServiceStub(rt.channel(settings.ingest_addr, settings.service_token))
        self.servicer = NotifyServicer(rt.pool, self.tail, settings, PlatePatches(ingest))

    async def start(self) -> None:
        await self.tail.start(await self._rt.listener(), store.ALERTS_CHANNEL, self._rt.tasks)

    async def stop(self) -> None:
        await self.tail.stop()


ROLES = {  # who may call which RPC
    Role.SERVICE: ("PublishAlert", "PublishAlerts"),
    Role.TERMINAL: ("Subscribe", "AcknowledgeAlert", "GetPlatePatch"),
    Role.CONTROL_ROOM: ("Subscribe", "AcknowledgeAlert", "GetPlatePatch", "GetAlertStats"),
    Role.HOTLIST_ADMIN: ("GetAlertStats",),
}
SPEC = services.declare(
    "notify", NotifySettings, notify_pb2_grpc.add_NotifyServiceServicer_to_server, NotifyComponent, ROLES
)
