"""The four services of the suite, by name: what `anpr serve`, `anpr migrate`, the launcher and the
tests use to find a service's spec (its contract, schema, migrations, settings and component).

Each service is a package of its own (`services/<name>/`) and never imports another; this module
is their index, not a service.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anpr.runtime.server import ServiceSpec

NAMES = ("ingest", "matcher", "notify", "firearms")
DEFAULT_PORTS = {"ingest": 50051, "matcher": 50052, "notify": 50053, "firearms": 50054}


class UnknownService(ValueError):
    """A service name that is not one of NAMES."""


def spec(name: str) -> ServiceSpec:
    if name not in NAMES:
        raise UnknownService(f"unknown service {name!r}: choose one of {', '.join(NAMES)}")
    return importlib.import_module(f"services.{name}.server").SPEC


def serve(name: str) -> int:
    """Run service `name` in this process (`anpr serve NAME`, `python -m services.NAME`)."""
    from anpr.runtime.server import main

    return main(spec(name))
