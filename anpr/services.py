"""The four services by name."""

from __future__ import annotations

import importlib

from anpr.runtime.server import ServiceSpec

NAMES = ("ingest", "matcher", "notify", "firearms")
DEFAULT_PORTS = {"ingest": 50051, "matcher": 50052, "notify": 50053, "firearms": 50054}


def spec(name: str) -> ServiceSpec:
    if name not in NAMES:
        raise SystemExit(f"unknown service {name!r}: choose one of {', '.join(NAMES)}")
    return importlib.import_module(f"services.{name}.server").SPEC
