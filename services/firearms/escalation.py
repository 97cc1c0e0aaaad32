"""The escalator: every firearms replica runs one. It acts on activations whose acknowledgement
deadline has passed (the next person of the chain, up to the force supervisor) and on activations
waiting for a duty commander, claiming them FOR UPDATE SKIP LOCKED so no two replicas act on the
same one; deadlines live in the database, so they survive restarts. It also watches the rota and
reports every force with nobody on duty (error log and a metric) as soon as it sees it."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from grpc_health.v1 import health_pb2
from opentelemetry import metrics

from anpr.v1 import types_pb2 as T
from services.firearms import rota, store

log = logging.getLogger(__name__)
_meter = metrics.get_meter("anpr.firearms")
ESCALATIONS = _meter.create_counter("anpr.firearms.escalations", description="activations escalated")
UNASSIGNED = _meter.create_counter(
    "anpr.firearms.activations.unassigned", description="activations raised with nobody on duty for the force"
)
DUTY_HEALTH = "anpr.firearms.duty_rota"  # grpc.health.v1 name: NOT_SERVING while a force has nobody on duty
BATCH = 100
MAX_BACKOFF_S = 2.0
OUTAGES = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError)


class Escalator:
    def __init__(self, pool: asyncpg.Pool, timing: store.Timing, poll_s: float, duty_check_s: float, health=None):
        self._pool = pool
        self._timing = timing
        self._poll = poll_s
        self._duty_check = duty_check_s
        self._health = health
        self.uncovered: set[tuple[str, str]] = set()  # (force, area) with nobody on duty
        _meter.create_observable_gauge(
            "anpr.firearms.forces_without_duty_commander",
            callbacks=[lambda _options: [metrics.Observation(len(self.uncovered))]],
        )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_duty_check, backoff = 0.0, self._poll
        while True:
            try:
                delay = await self.sweep_once()
                if loop.time() >= next_duty_check:
                    await self.check_duty()
                    next_duty_check = loop.time() + self._duty_check
                backoff = self._poll
            except OUTAGES as exc:  # deadlines wait in the database; act on them when it is back
                log.warning("escalator waiting for PostgreSQL", extra={"error": type(exc).__name__})
                delay = backoff = min(backoff * 2, MAX_BACKOFF_S)
            except Exception:  # a bug: log it with its traceback, and keep escalating the others
                log.exception("escalator pass failed; retrying")
                delay = self._poll
            await asyncio.sleep(delay)

    async def sweep_once(self) -> float:
        """One pass; returns how long to sleep (until the next known deadline, at most poll_s)."""
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                steps = await store.sweep(conn, self._timing, BATCH)
            until = await conn.fetchval(
                "SELECT extract(epoch FROM min(deadline_at) - clock_timestamp()) FROM activations"
                " WHERE deadline_at IS NOT NULL"
            )
        for step in steps:
            self._report(step)
        if len(steps) == BATCH:
            return 0.0
        return self._poll if until is None else max(0.0, min(self._poll, float(until)))

    def _report(self, step: store.Step) -> None:
        ids = {"activation_id": str(step.activation_id), "force": step.force, "lateness_s": round(step.lateness_s, 3)}
        if step.kind == T.ACTIVATION_EVENT_KIND_ESCALATED:
            ESCALATIONS.add(1, {"force": step.force})
            log.warning("activation not acknowledged in time: escalated", extra=ids)
        elif step.kind == T.ACTIVATION_EVENT_KIND_ESCALATION_EXHAUSTED:
            log.error("activation not acknowledged by anyone of the duty chain, supervisor included", extra=ids)
        elif step.kind == T.ACTIVATION_EVENT_KIND_ASSIGNED:
            log.info("waiting activation assigned to a duty commander", extra=ids)

    async def check_duty(self) -> None:
        async with self._pool.acquire() as conn:
            statuses = await rota.duty_status(conn, await conn.fetchval("SELECT clock_timestamp()"))
        now_uncovered = {
            (s.force, s.area) for s in statuses if not s.chain and (not s.area or s.unassigned_activations)
        }
        for force, area in sorted(now_uncovered - self.uncovered):
            log.error("no duty firearms commander on the rota", extra={"force": force, "area": area})
        for force, area in sorted(self.uncovered - now_uncovered):
            log.info("duty firearms commander on the rota again", extra={"force": force, "area": area})
        self.uncovered = now_uncovered
        if self._health is not None:
            status = health_pb2.HealthCheckResponse
            await self._health.set(DUTY_HEALTH, status.NOT_SERVING if now_uncovered else status.SERVING)
