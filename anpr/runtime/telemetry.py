"""OpenTelemetry and JSON logging, configured from the standard OTEL_* variables.

- OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES name the process.
- OTEL_TRACES_EXPORTER: "otlp" (default when OTEL_EXPORTER_OTLP_ENDPOINT or
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set), "console", or "none" (default otherwise).
- OTEL_EXPORTER_OTLP_* and OTEL_BSP_* are read by the SDK itself.

Span attributes of our own live under `anpr.*` and are listed here, in one place. No plate
numbers, names or intelligence text ever go into spans or logs: ids and counts only.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback

import asyncpg
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pythonjsonlogger.json import JsonFormatter

from anpr.runtime.errors import ConfigError

# Span attributes (the only custom ones; ids and counts, never personal data).
ATTR_READ_ID = "anpr.read.id"
ATTR_READ_COUNT = "anpr.read.count"
ATTR_READ_REJECTED = "anpr.read.rejected"
ATTR_READ_DUPLICATE = "anpr.read.duplicate"
ATTR_HIT_ID = "anpr.hit.id"
ATTR_HIT_COUNT = "anpr.hit.count"
ATTR_ALERT_ID = "anpr.alert.id"
ATTR_ACTIVATION_ID = "anpr.activation.id"
ATTR_OUTBOX_TOPIC = "anpr.outbox.topic"
ATTR_OUTBOX_BATCH = "anpr.outbox.batch_size"

_propagator = TraceContextTextMapPropagator()


def setup_tracing(default_service_name: str) -> TracerProvider:
    """Configure the process's tracer provider once (later calls return the same one)."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    os.environ.setdefault("OTEL_SERVICE_NAME", default_service_name)
    provider = TracerProvider(resource=Resource.create())
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER")
    if exporter_name is None:
        endpoint_set = any(
            os.environ.get(v) for v in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        )
        exporter_name = "otlp" if endpoint_set else "none"
    for name in (n.strip() for n in exporter_name.split(",")):
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
        elif name not in ("none", ""):
            raise ConfigError(f"OTEL_TRACES_EXPORTER: unsupported exporter {name!r} (otlp, console, none)")
    trace.set_tracer_provider(provider)
    return provider


class _TraceIds(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            record.trace_id = format(ctx.trace_id, "032x")
            record.span_id = format(ctx.span_id, "016x")
        return True


def _safe_text(exc: BaseException) -> str:
    """What a log may say of a database error: its class, SQLSTATE and the names of the objects
    involved. Never its message or DETAIL, which carry row values (plates, covert entries)."""
    names = ", ".join(
        f"{a}={getattr(exc, a)}"
        for a in ("schema_name", "table_name", "column_name", "constraint_name")
        if getattr(exc, a, None)
    )
    return f"SQLSTATE {getattr(exc, 'sqlstate', '?')}" + (f" ({names})" if names else "")


def _redact(exc: BaseException | None, te: traceback.TracebackException | None, seen: set[int]) -> None:
    while exc is not None and te is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, asyncpg.PostgresError):
            te._str = _safe_text(exc)  # the one rendering of the exception's text
        _redact(exc.__context__, te.__context__, seen)
        exc, te = exc.__cause__, te.__cause__


def format_exception_safely(exc_info) -> str:
    """A traceback with the text of database errors replaced by `_safe_text` (defect: DETAIL lines
    of unique violations carried VRMs into the logs)."""
    te = traceback.TracebackException(*exc_info)
    _redact(exc_info[1], te, set())
    return "".join(te.format()).rstrip("\n")


class _SafeJsonFormatter(JsonFormatter):
    def formatException(self, ei) -> str:
        return format_exception_safely(ei)


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _SafeJsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    )
    handler.addFilter(_TraceIds())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def current_traceparent() -> str:
    """The W3C traceparent of the current span, to store with a queued record ('' if none)."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent", "")


def context_from_traceparent(traceparent: str) -> otel_context.Context:
    """The context a queued record was made in, to continue its trace across an async hop."""
    return _propagator.extract({"traceparent": traceparent} if traceparent else {})
