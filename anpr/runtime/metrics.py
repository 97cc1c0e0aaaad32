"""Every metric of the suite, defined here, and their export (OTLP and a Prometheus endpoint).

Call sites are one line: `metrics.READS.add(n, {"status": "stored"})`. Labels are bounded sets
(statuses, match kinds, outbox topics, service names), never plates, people or read ids.

Export, from the standard variables:
- OTEL_METRICS_EXPORTER: "otlp" (default when an OTLP endpoint is set), "console" or "none";
  OTEL_EXPORTER_OTLP_* and OTEL_METRIC_EXPORT_INTERVAL are read by the SDK;
- ANPR_METRICS_PORT: a Prometheus scrape endpoint at http://<ANPR_GRPC_HOST>:<port>/metrics
  (names as Prometheus spells them: anpr.reads -> anpr_reads_total).

Gauges that need the database (outbox depth and age, dead letters, activations awaiting
acknowledgement) are sampled by `Sampler`, a task of each service, every few seconds; the
collection callbacks only read the last sample, so a scrape never waits on PostgreSQL.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timezone

import asyncpg
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from anpr.runtime.errors import ConfigError
from anpr.runtime.failures import keep_running
from anpr.runtime.outbox import DEAD_LETTER_PREFIX
from anpr.runtime.tasks import Tasks
from anpr.v1 import ingest_pb2, types_pb2

log = logging.getLogger(__name__)

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

_meter = metrics.get_meter("anpr")

READS = _meter.create_counter(
    "anpr.reads",
    unit="{read}",
    description="Reads answered by ingest, by status: stored, duplicate, rejected, throttled",
)
HITS = _meter.create_counter(
    "anpr.hits",
    unit="{hit}",
    description="Hits matcher made, by match_kind (exact, lookalike) and historical (true, false)",
)
ALERTS = _meter.create_counter("anpr.alerts", unit="{alert}", description="Alerts notify stored")
POSSIBLE_HELD = _meter.create_counter(
    "anpr.possible_alerts.held",
    unit="{alert}",
    description="POSSIBLE alerts held back, by reason: unsupported (matcher: a rarer confusion or a dropped or"
    " extra character on a well-formed read with no supporting evidence), budget (notify: over the control"
    " room's POSSIBLE alerts an hour)",
)
OUTCOMES = _meter.create_counter(
    "anpr.calibration.outcomes",
    unit="{outcome}",
    description="Alert outcomes matcher learnt from, by outcome: accepted, rejected (misread or wrong vehicle)",
)
ALERT_LATENCY = _meter.create_histogram(
    "anpr.alert.latency",
    unit="s",
    explicit_bucket_boundaries_advisory=LATENCY_BUCKETS_S,
    description="From the read's capture to the alert, by stage: stored (in notify), delivered (to a subscriber)",
)
STREAMS = _meter.create_up_down_counter(
    "anpr.streams",
    unit="{stream}",
    description="Server streams open, by method: Subscribe = terminals and control rooms connected, "
    "StreamActivations = TFC consoles, StreamReads = camera streams",
)
AUTH_REFUSALS = _meter.create_counter(
    "anpr.auth.refusals",
    unit="{call}",
    description="Calls refused before their handler, by code: UNAUTHENTICATED (no token, or one that does not "
    "verify), PERMISSION_DENIED (an identity the suite cannot serve, or a role not allowed), UNAVAILABLE "
    "(the identity provider's keys not loaded yet)",
)


def seconds_since(captured_at) -> float:
    """Seconds from a protobuf Timestamp to now (for ALERT_LATENCY)."""
    return max(0.0, datetime.now(timezone.utc).timestamp() - captured_at.ToMicroseconds() / 1e6)


def count_reads(results: Iterable) -> None:
    """READS for ingest's answers (anpr.v1.ReadResult), by status."""
    for status, n in Counter(r.status for r in results).items():
        READS.add(n, {"status": ingest_pb2.ReadStatus.Name(status).removeprefix("READ_STATUS_").lower()})


def count_hits(hits: Iterable) -> None:
    """HITS for hits made (anpr.v1.Hit), by match kind and whether historical."""
    for (kind, historical), n in Counter((h.match_kind, h.historical) for h in hits).items():
        HITS.add(
            n,
            {
                "match_kind": types_pb2.MatchKind.Name(kind).removeprefix("MATCH_KIND_").lower(),
                "historical": str(historical).lower(),
            },
        )


def possible_held(n: int, reason: str) -> None:
    """POSSIBLE_HELD for `n` alerts held back for `reason` (unsupported, budget)."""
    if n:
        POSSIBLE_HELD.add(n, {"reason": reason})


def count_outcomes(outcomes: Iterable) -> None:
    """OUTCOMES for outcomes learnt from (services.matcher.calibration.Outcome), by truth."""
    for truth, n in Counter(o.truth for o in outcomes).items():
        OUTCOMES.add(n, {"outcome": "accepted" if truth else "rejected"})


def alerts_stored(hits: Iterable) -> None:
    """ALERTS and ALERT_LATENCY (stage stored) for alerts newly stored from these hits."""
    for hit in hits:
        ALERTS.add(1)
        ALERT_LATENCY.record(seconds_since(hit.read.captured_at), {"stage": "stored"})


def alert_delivered(alert) -> None:
    ALERT_LATENCY.record(seconds_since(alert.hit.read.captured_at), {"stage": "delivered"})


# ------------------------------------------------------------------------------------------
# Gauges sampled from the database


class _Samples:
    """The last sample of every Sampler in this process, by service."""

    def __init__(self) -> None:
        self.outbox: dict[str, list[tuple[str, int, float]]] = {}

    def _outbox(self, dead: bool, index: int) -> Iterable[Observation]:
        for service, rows in list(self.outbox.items()):
            for topic, count, age in rows:
                if topic.startswith(DEAD_LETTER_PREFIX) == dead:
                    value = (count, age)[index]
                    yield Observation(value, {"service": service, "topic": topic.removeprefix(DEAD_LETTER_PREFIX)})

    def depth(self, _options: CallbackOptions) -> Iterable[Observation]:
        return self._outbox(False, 0)

    def age(self, _options: CallbackOptions) -> Iterable[Observation]:
        return self._outbox(False, 1)

    def dead_letters(self, _options: CallbackOptions) -> Iterable[Observation]:
        return self._outbox(True, 0)


_samples = _Samples()
_meter.create_observable_gauge(
    "anpr.outbox.depth",
    [_samples.depth],
    unit="{record}",
    description="Records waiting in a service's outbox, by topic",
)
_meter.create_observable_gauge(
    "anpr.outbox.oldest_age",
    [_samples.age],
    unit="s",
    description="Age of the oldest record waiting in the outbox, by topic",
)
_meter.create_observable_gauge(
    "anpr.outbox.dead_letters",
    [_samples.dead_letters],
    unit="{record}",
    description="Records set aside as dead letters, by original topic",
)

# A row may carry several records (anpr.runtime.outbox): depth counts records, not rows.
OUTBOX_SQL = """SELECT topic, sum(records)::bigint AS n, extract(epoch FROM now() - min(created_at))::float8 AS age
                FROM outbox GROUP BY topic"""


class Sampler:
    """Samples the service's own outbox every `interval` (when its schema has one)."""

    def __init__(self, pool: asyncpg.Pool, service: str, interval: float = 5.0):
        self._pool, self._service, self._interval = pool, service, interval

    async def sample(self) -> float:
        async with self._pool.acquire() as conn:
            if await conn.fetchval("SELECT to_regclass('outbox')") is None:
                return self._interval  # a service without an outbox (notify)
            rows = await conn.fetch(OUTBOX_SQL)
        _samples.outbox[self._service] = [(r["topic"], r["n"], r["age"]) for r in rows]
        return self._interval

    def start(self, tasks: Tasks) -> None:
        tasks.start("metrics-sampler", keep_running(self.sample, log, "metrics sample"), critical=False)

    def stop(self) -> None:
        """Forget this service's last sample (its task is stopped with the others)."""
        _samples.outbox.pop(self._service, None)


# ------------------------------------------------------------------------------------------
# Export


class Exporters:
    """The process's meter provider and Prometheus endpoint (one per process; later calls reuse it)."""

    provider: MeterProvider | None = None
    http_server = None


def setup_metrics(prometheus_host: str, prometheus_port: int | None) -> None:
    """Configure export once per process from OTEL_METRICS_EXPORTER / OTLP variables and the port."""
    if Exporters.provider is not None:
        return
    readers = []
    name = os.environ.get("OTEL_METRICS_EXPORTER")
    if name is None:
        endpoint_set = any(
            os.environ.get(v) for v in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
        )
        name = "otlp" if endpoint_set else "none"
    for exporter in (n.strip() for n in name.split(",")):
        if exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

            readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        elif exporter == "console":
            readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter(out=sys.stderr)))
        elif exporter not in ("none", ""):
            raise ConfigError(f"OTEL_METRICS_EXPORTER: unsupported exporter {exporter!r} (otlp, console, none)")
    if prometheus_port is not None:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server

        try:
            Exporters.http_server, _ = start_http_server(prometheus_port, addr=prometheus_host)
        except OSError:
            raise ConfigError(f"ANPR_METRICS_PORT: cannot listen on {prometheus_host}:{prometheus_port}") from None
        readers.append(PrometheusMetricReader())
    if readers:
        Exporters.provider = MeterProvider(resource=Resource.create(), metric_readers=readers)
        metrics.set_meter_provider(Exporters.provider)


def shutdown_metrics() -> None:
    if Exporters.http_server is not None:
        Exporters.http_server.shutdown()
        Exporters.http_server = None
    if Exporters.provider is not None:
        Exporters.provider.shutdown()
        Exporters.provider = None
