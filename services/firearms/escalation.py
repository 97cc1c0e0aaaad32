"""The escalator: every firearms replica runs one. It acts on activations whose acknowledgement
deadline has passed (the next person of the chain, up to the force supervisor) and on activations
waiting for a duty commander, claiming them FOR UPDATE SKIP LOCKED so no two replicas act on the
same one; deadlines live in the database, so they survive restarts. It also watches the rota and
reports every force with nobody on duty (error log and a metric) as soon as it sees it, and samples
the activations nobody has acknowledged yet (two gauges)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from grpc_health.v1 import health_pb2
from opentelemetry import metrics

from anpr.runtime.failures import RetryPolicy
from anpr.v1 import types_pb2 as T
from services.firearms import eventlog, rota, store
from services.firearms.stream import EventLog

log = logging.getLogger(__name__)
_meter = metrics.get_meter("anpr.firearms")
ESCALATIONS = _meter.create_counter("anpr.firearms.escalations", description="activations escalated")
UNASSIGNED = _meter.create_counter(
    "anpr.firearms.activations.unassigned", description="activations raised with nobody on duty for the force"
)
DUTY_HEALTH = "anpr.firearms.duty_rota"  # grpc.health.v1 name: NOT_SERVING while a force has nobody on duty
BATCH = 100
# Deadlines wait in the database during an outage: look again within 2 s of its end.
POLICY = RetryPolicy(initial_s=0.2, max_s=2.0)
SAMPLE_S = 5.0  # between samples of the activations awaiting acknowledgement
SERVICE = "firearms"  # the gauges' `service` label

# The last sample of the activations nobody has acknowledged yet, by service: (how many, age of the oldest).
AWAITING: dict[str, tuple[int, float]] = {}
_meter.create_observable_gauge(
    "anpr.activations.awaiting_ack",
    [lambda _options: [metrics.Observation(n, {"service": s}) for s, (n, _) in list(AWAITING.items())]],
    unit="{activation}",
    description="Firearms activations not yet acknowledged by the TFC",
)
_meter.create_observable_gauge(
    "anpr.activations.oldest_unacknowledged_age",
    [lambda _options: [metrics.Observation(age, {"service": s}) for s, (_, age) in list(AWAITING.items())]],
    unit="s",
    description="Age of the oldest activation not yet acknowledged",
)


@dataclass
class Escalator:
    """Its steps (`sweep`, `check_duty`, `sample_awaiting`) each return the pause before the next:
    the component runs each under keep_running, as a task of its own."""

    pool: asyncpg.Pool
    events: EventLog  # its transactions hand the escalations to this replica's consoles
    timing: store.Timing
    poll_s: float  # longest sleep between looks at the deadlines
    duty_check_s: float
    health: Any = None  # the server's health servicer, for DUTY_HEALTH
    uncovered: set[tuple[str, str]] = field(default_factory=set)  # (force, area) with nobody on duty

    def __post_init__(self) -> None:
        _meter.create_observable_gauge(
            "anpr.firearms.forces_without_duty_commander",
            callbacks=[lambda _options: [metrics.Observation(len(self.uncovered))]],
        )

    async def sweep(self) -> float:
        """One pass; returns how long to sleep (until the next known deadline, at most poll_s)."""
        async with self.events.transaction() as conn:
            steps = await store.sweep(conn, self.timing, self.events.seals, BATCH)
        for step in steps:
            self._report(step)
        if len(steps) == BATCH:
            return 0.0
        async with self.pool.acquire() as conn:
            until = await store.seconds_to_next_deadline(conn)
        return self.poll_s if until is None else max(0.0, min(self.poll_s, until))

    def _report(self, step: store.Step) -> None:
        ids = {"activation_id": str(step.activation_id), "force": step.force, "lateness_s": round(step.lateness_s, 3)}
        if step.kind == T.ACTIVATION_EVENT_KIND_ESCALATED:
            ESCALATIONS.add(1, {"force": step.force})
            log.warning("activation not acknowledged in time: escalated", extra=ids)
        elif step.kind == T.ACTIVATION_EVENT_KIND_ESCALATION_EXHAUSTED:
            log.error("activation not acknowledged by anyone of the duty chain, supervisor included", extra=ids)
        elif step.kind == T.ACTIVATION_EVENT_KIND_ASSIGNED:
            log.info("waiting activation assigned to a duty commander", extra=ids)

    async def check_duty(self) -> float:
        async with self.pool.acquire() as conn:
            at = await eventlog.now(conn)
            statuses = await rota.duty_status(conn, await rota.duty_places(conn, at, None), at)
        now_uncovered = {
            (s.force, s.area) for s in statuses if not s.chain and (not s.area or s.unassigned_activations)
        }
        for force, area in sorted(now_uncovered - self.uncovered):
            log.error("no duty firearms commander on the rota", extra={"force": force, "area": area})
        for force, area in sorted(self.uncovered - now_uncovered):
            log.info("duty firearms commander on the rota again", extra={"force": force, "area": area})
        self.uncovered = now_uncovered
        if self.health is not None:
            status = health_pb2.HealthCheckResponse
            await self.health.set(DUTY_HEALTH, status.NOT_SERVING if now_uncovered else status.SERVING)
        return self.duty_check_s

    async def sample_awaiting(self) -> float:
        async with self.pool.acquire() as conn:
            AWAITING[SERVICE] = await store.awaiting_acknowledgement(conn)
        return SAMPLE_S
