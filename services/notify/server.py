"""Notify servicer: the alert log, live terminal streams with resume, acknowledgements; who sees
what is the caller's scope (services.notify.scope), with each list's current covert flag."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence

from google.protobuf import duration_pb2, timestamp_pb2
from google.rpc import error_details_pb2
from opentelemetry import trace

import services
from anpr.plate_patches import PlatePatches
from anpr.runtime import metrics, telemetry
from anpr.runtime.auth import Role, current_caller
from anpr.runtime.broadcast import LogTail
from anpr.runtime.errors import AnprError, FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from anpr.runtime.failures import keep_running
from anpr.runtime.outbox import Outbox
from anpr.runtime.rate_limit import RateLimiter
from anpr.runtime.server import Runtime
from anpr.v1 import ingest_pb2_grpc, matcher_pb2, notify_pb2, notify_pb2_grpc, types_pb2
from anpr.windows import stats_window
from services.notify import budget, store
from services.notify.alerts import AlertItem, Viewer
from services.notify.areas import AreaFilter, area_problems, subscription_problems
from services.notify.config import NotifySettings
from services.notify.scope import Flags, Scope

log = logging.getLogger(__name__)
tracer = trace.get_tracer("anpr.notify")

MAX_REASON = 1024
FLAGS_TASK, FILL_IN_TASK = "notify-hotlist-flags", "notify-fill-in-forces"
FLAGS_BACKSTOP_S = 5.0  # the lists' flags are read again at least this often (a lost NOTIFY)


class NotifyServicer(notify_pb2_grpc.NotifyServiceServicer):
    def __init__(self, pool, tail: LogTail, settings: NotifySettings, patches: PlatePatches, flags: Flags):
        self._pool = pool
        self._tail = tail
        self._settings = settings
        self._patches = patches
        self._flags = flags
        self._reasons = frozenset(r.strip() for r in settings.outcome_reasons.split(",") if r.strip())
        self._budgets = budget.Budgets(settings.possible_budget_per_hour, dict(settings.possible_budgets))
        self._outcomes_on = bool(settings.matcher_addr)
        # Streams opened and moved, per identity (a token bucket each, on this replica).
        self._changes = RateLimiter(settings.subscription_changes_per_s, settings.subscription_change_burst)

    def _scope(self) -> Scope:
        scope = Scope(current_caller(), self._settings.terminal_max_radius_km)
        scope.check_identity()
        return scope

    def items(self, alerts: Sequence[types_pb2.Alert]) -> list[tuple[int, AlertItem]]:
        """The tail's items of stored alerts; the lists' flags they carry are learnt on the way."""
        for a in alerts:
            self._flags.learn(a.hit.hotlist.hotlist_id, a.hit.hotlist.version, a.hit.hotlist.covert)
        return [(a.sequence, AlertItem.of(a)) for a in alerts]

    async def _append(self, traced: Sequence[tuple[types_pb2.Hit, str]]) -> list[notify_pb2.PublishAlertResponse]:
        """Store alerts for the hits in one transaction (POSSIBLE ones over their control room's
        budget held back instead: budget.py), continue each new one's trace, and hand them to this
        replica's streams without reading them back. One answer per hit, in order."""
        hits = [h for h, _ in traced]
        async with self._pool.acquire() as conn:
            # with a POSSIBLE hit the budget's decisions and the append commit together; without one,
            # the append is one statement in its own transaction (one round trip, not three)
            async with conn.transaction() if budget.concerns(hits) else contextlib.nullcontext():
                held, newly_held = await budget.hold_back(conn, hits, self._budgets)
                kept = [t for t in traced if t[0].hit_id not in held]
                stored = await store.append_alerts(conn, kept) if kept else []
        metrics.possible_held(newly_held, "budget")
        self._published(
            [(alert, tp) for (alert, duplicate), (_, tp) in zip(stored, kept, strict=True) if not duplicate]
        )
        by_hit = {alert.hit.hit_id: (alert, duplicate) for alert, duplicate in stored}
        return [_answer(*by_hit[h.hit_id]) if h.hit_id in by_hit else _HELD for h, _ in traced]

    def _published(self, new: list[tuple[types_pb2.Alert, str]]) -> None:
        for alert, traceparent in new:
            with tracer.start_as_current_span(
                "anpr.alert", context=telemetry.context_from_traceparent(traceparent)
            ) as span:
                span.set_attribute(telemetry.ATTR_HIT_ID, alert.hit.hit_id)
                span.set_attribute(telemetry.ATTR_ALERT_ID, alert.alert_id)
        self._tail.publish(self.items([a for a, _ in new]))
        metrics.alerts_stored(a.hit for a, _ in new)

    async def PublishAlert(self, request, context):
        if not request.hit.hit_id:
            raise InvalidArgument.of("hit.hit_id", "required")
        [answer] = await self._append([(request.hit, telemetry.current_traceparent())])
        return answer

    async def PublishAlerts(self, request, context):
        missing = [(f"hits[{i}].hit.hit_id", "required") for i, h in enumerate(request.hits) if not h.hit.hit_id]
        if missing:
            raise InvalidArgument(missing)
        answers = await self._append([(h.hit, h.traceparent) for h in request.hits])
        span = trace.get_current_span()
        span.set_attribute(telemetry.ATTR_HIT_COUNT, len(request.hits))
        return notify_pb2.PublishAlertsResponse(alerts=answers)

    async def PublishHotlists(self, request, context):
        missing = [
            (f"hotlists[{i}].hotlist_id", "required") for i, h in enumerate(request.hotlists) if not h.hotlist_id
        ]
        if missing:
            raise InvalidArgument(missing)
        async with self._pool.acquire() as conn, conn.transaction():
            moved = await store.save_flags(conn, request.hotlists)
        for h in moved:
            self._flags.learn(h.hotlist_id, h.version, h.covert)
        return notify_pb2.PublishHotlistsResponse(accepted=len(request.hotlists))

    def _change(self, subject: str) -> None:
        """One subscription change (a stream opened or moved) of `subject`; ResourceExhausted
        with RetryInfo when it is over its rate."""
        if not self._changes.allow(subject):
            delay = duration_pb2.Duration()
            delay.FromMilliseconds(max(1, int(self._changes.retry_after_s(subject) * 1000)))
            raise ResourceExhausted(
                f"more than {self._settings.subscription_changes_per_s:g} subscription changes a second"
                " from this identity; resubscribe later",
                details=[error_details_pb2.RetryInfo(retry_delay=delay)],
            )

    async def _located(self, scope: Scope, sub: notify_pb2.Subscription) -> None:
        if scope.terminal:
            async with self._pool.acquire() as conn:
                await store.record_position(conn, scope.caller.subject, sub)

    async def Subscribe(self, request_iterator, context):
        scope = self._scope()
        first = await anext(request_iterator, None)
        if first is None:
            raise InvalidArgument.of("subscription", "send a first request with the subscription")
        sub = scope.subscription(first.subscription)
        problems = subscription_problems(first.subscription) + scope.terminal_problems(first.subscription)
        if first.after_sequence < 0:
            problems.append(("after_sequence", "must not be negative"))
        if problems:
            raise InvalidArgument(problems)
        self._change(scope.caller.subject)
        await self._located(scope, sub)
        area = AreaFilter(sub)
        after = self._tail.start_of(first.after_sequence, first.from_start)
        yield self._opened(area, after)
        moves = asyncio.create_task(self._follow_moves(request_iterator, area, scope))
        try:
            async for response in self._stream(Viewer(scope, self._flags), area, after):
                yield response
        finally:
            moves.cancel()

    async def _stream(self, view: Viewer, area: AreaFilter, after: int):
        """The stream's alerts and heartbeats (and a new `opened` when a move takes effect); closed
        with RESOURCE_EXHAUSTED once a live stream falls more than subscriber_max_lag behind (its
        client is too slow)."""
        live = False
        moves_seen = 0

        def wants(item: AlertItem) -> bool:  # also what wakes this stream when it has caught up
            return area.covers(item.place, item.force, item.listing_force) and view(item) is not None

        async for run in self._tail.follow(after, idle_s=self._settings.heartbeat_s, wants=wants):
            if area.refusal is not None:
                raise area.refusal
            if area.moves != moves_seen:
                moves_seen = area.moves
                yield self._opened(area, after)
            if not run:
                live = True
                yield notify_pb2.SubscribeResponse(heartbeat=notify_pb2.Heartbeat(sequence=after, at=_now()))
                continue
            for sequence, item in run:  # one plain loop over the run: most alerts are for other areas
                if area.covers(item.place, item.force, item.listing_force) and (visible := view(item)) is not None:
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

    async def _follow_moves(self, request_iterator, area: AreaFilter, scope: Scope) -> None:
        """Later requests of a stream move its area (a unit on patrol), held to the rules of the
        first (a terminal: a circle within the limit), and counted against the identity's rate of
        changes; a refused move ends the stream. A client may close its side."""
        async for request in request_iterator:
            problems = area_problems(request.subscription) + scope.terminal_problems(request.subscription)
            try:
                if problems:
                    raise InvalidArgument(problems)
                self._change(scope.caller.subject)
            except AnprError as refusal:
                area.refusal = refusal
                return
            area.move(request.subscription)
            await self._located(scope, area.subscription)

    async def _actionable(self, alert_id: str, field: str) -> tuple[types_pb2.Alert, Scope]:
        """The alert, if the caller may act on it (and its scope); NOT_FOUND otherwise, as for an
        alert that does not exist (a covert or another force's alert is not told of)."""
        scope = self._scope()
        try:
            key = uuid.UUID(alert_id)
        except ValueError:
            raise InvalidArgument.of(field, "must be a UUID") from None
        async with self._pool.acquire() as conn:
            alert = await store.get_alert(conn, key)
            position = await store.position_of(conn, scope.caller.subject) if scope.terminal else None
        if alert is not None:
            hotlist = alert.hit.hotlist
            if scope.may_act(alert, self._flags.covert(hotlist.hotlist_id, hotlist.version, alert.covert), position):
                return alert, scope
        raise NotFound(f"{field}: no such alert")

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
        alert, scope = await self._actionable(request.alert_id, "alert_id")
        caller = scope.caller
        async with self._pool.acquire() as conn, conn.transaction():
            standing = await _decision_standing(conn, uuid.UUID(alert.alert_id), caller.subject, request.outcome)
            if standing is not None:  # SEEN after a decision: nothing to record
                return notify_pb2.AcknowledgeAlertResponse(standing=standing)
            await store.acknowledge(
                conn,
                uuid.UUID(alert.alert_id),
                caller.subject,
                caller.role,
                request.outcome,
                request.reason_code,
                request.reason.replace("\x00", ""),
            )
            if self._outcomes_on and request.outcome in (
                types_pb2.ALERT_OUTCOME_ACCEPTED,
                types_pb2.ALERT_OUTCOME_REJECTED,
            ):
                # on to matcher's calibration, in the same transaction: nothing acknowledged is lost
                await store.queue_outcome(
                    conn, alert, request.outcome, request.reason_code, telemetry.current_traceparent()
                )
        return notify_pb2.AcknowledgeAlertResponse(standing=request.outcome)

    async def GetPlatePatch(self, request, context):
        if not request.reason.strip():
            raise InvalidArgument.of("reason", "required: every view of an image is audited with its reason")
        alert, scope = await self._actionable(request.alert_id, "alert_id")
        caller = scope.caller
        image = await self._patches.of(alert.hit.read, caller.subject, request.reason)
        if image:  # the camera sent none: nothing was viewed
            async with self._pool.acquire() as conn:
                await store.audit_plate_patch(
                    conn, uuid.UUID(alert.alert_id), caller.subject, caller.role, len(image), request.reason
                )
        return notify_pb2.GetPlatePatchResponse(plate_image=image)

    async def GetAlertStats(self, request, context):
        window = stats_window(request.window_seconds)
        c = self._scope().caller
        scope = store.StatsScope(c.national, c.force, c.covert)
        async with self._pool.acquire() as conn:
            stats = await store.alert_stats(conn, window, scope)
            possible = await store.possible_stats(conn, window, scope)
        stats.possible_by_force.extend(
            notify_pb2.PossibleBudgetStats(
                force=r["force"], budget_per_hour=self._budgets.of(r["force"]), admitted=r["admitted"], held=r["held"]
            )
            for r in possible
        )
        return stats


_HELD = notify_pb2.PublishAlertResponse(held=True)


def _answer(alert: types_pb2.Alert, duplicate: bool) -> notify_pb2.PublishAlertResponse:
    return notify_pb2.PublishAlertResponse(alert_id=alert.alert_id, sequence=alert.sequence, duplicate=duplicate)


def _now() -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.GetCurrentTime()
    return ts


class NotifyComponent:
    def __init__(self, rt: Runtime):
        settings: NotifySettings = rt.settings  # type: ignore[assignment]
        self._rt = rt
        self.flags = Flags()
        self._flags_changed = asyncio.Event()
        self.tail = LogTail(rt.pool, self._items_after, store.latest_sequence, capacity=settings.alert_tail_size)
        ingest = None
        if settings.ingest_addr:
            ingest = ingest_pb2_grpc.IngestServiceStub(rt.channel(settings.ingest_addr))
        self.servicer = NotifyServicer(rt.pool, self.tail, settings, PlatePatches(ingest), self.flags)
        self.outbox: Outbox | None = None
        if settings.matcher_addr:  # outcomes on to matcher's calibration
            record_outcomes = rt.relay_call(
                settings.matcher_addr,
                "/anpr.v1.MatcherService/RecordOutcomes",
                matcher_pb2.RecordOutcomesResponse.FromString,
                answered=lambda r: r.accepted,
            )
            self.outbox = Outbox(rt.pool, {store.OUTCOMES_TOPIC: (record_outcomes, {"max_records": 500})})

    async def _items_after(self, conn, sequence: int, limit: int) -> list[tuple[int, AlertItem]]:
        return self.servicer.items([a for _, a in await store.alerts_after(conn, sequence, limit)])

    async def _read_flags(self) -> float:
        """The lists' flags as stored (other replicas' changes), once told or after the backstop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._flags_changed.wait(), FLAGS_BACKSTOP_S)
        self._flags_changed.clear()
        async with self._rt.pool.acquire() as conn:
            for hotlist_id, version, covert in await store.load_flags(conn):
                self.flags.learn(hotlist_id, version, covert)
        return 0.0

    async def _fill_in_forces(self) -> float:
        async with self._rt.pool.acquire() as conn:
            return 0.0 if await store.fill_in_forces(conn) else 3600.0

    async def start(self) -> None:
        async with self._rt.pool.acquire() as conn:
            for hotlist_id, version, covert in await store.load_flags(conn):
                self.flags.learn(hotlist_id, version, covert)
        listener = await self._rt.listener()
        await listener.add_listener(store.HOTLISTS_CHANNEL, lambda *_: self._flags_changed.set())
        tasks = self._rt.tasks
        tasks.start(FLAGS_TASK, keep_running(self._read_flags, log, "reading the lists' flags"))
        tasks.start(FILL_IN_TASK, keep_running(self._fill_in_forces, log, "filling in alerts' forces"), critical=False)
        await self.tail.start(listener, store.ALERTS_CHANNEL, tasks)
        if self.outbox is not None:
            await self.outbox.start(listener, tasks)

    async def stop(self) -> None:
        if self.outbox is not None:
            await self.outbox.stop(self._rt.settings.shutdown_grace_s)
        await self.tail.stop()
        for name in (FLAGS_TASK, FILL_IN_TASK):
            await self._rt.tasks.cancel(name)


ROLES = {  # who may call which RPC
    Role.SERVICE: ("PublishAlert", "PublishAlerts", "PublishHotlists"),
    Role.TERMINAL: ("Subscribe", "AcknowledgeAlert", "GetPlatePatch"),
    Role.CONTROL_ROOM: ("Subscribe", "AcknowledgeAlert", "GetPlatePatch", "GetAlertStats"),
    Role.HOTLIST_ADMIN: ("GetAlertStats",),
}
SPEC = services.declare(
    "notify", NotifySettings, notify_pb2_grpc.add_NotifyServiceServicer_to_server, NotifyComponent, ROLES
)


async def _decision_standing(conn, alert_id: uuid.UUID, subject: str, outcome: int) -> int | None:
    """The caller's decision of the alert when SEEN after it changes nothing (None: record the
    outcome); the other decision is refused (FAILED_PRECONDITION naming the first), so that no
    reversal goes unsaid."""
    before = await store.decided(conn, alert_id, subject)
    if before is None:
        return None
    if outcome == types_pb2.ALERT_OUTCOME_SEEN:
        return before[0]
    if before[0] != outcome:
        said = types_pb2.AlertOutcome.Name(before[0]).removeprefix("ALERT_OUTCOME_").lower()
        raise FailedPrecondition(f"outcome: you {said} this alert already" + (f" ({before[1]})" if before[1] else ""))
    return None
