"""The four services of the suite, by name: what `anpr serve`, `anpr migrate`, the launcher and the
tests use to find a service's spec (its contract, schema, migrations, settings and component).

Each service is a package of its own (`services/<name>/`) and never imports another; this module
is their index, not a service.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anpr  # noqa: F401  (before grpc: gRPC's fork handlers, anpr/__init__.py)

if TYPE_CHECKING:
    from anpr.runtime.auth import Role
    from anpr.runtime.config import ServiceSettings
    from anpr.runtime.server import ServiceSpec

NAMES = ("ingest", "matcher", "notify", "firearms")
DEFAULT_PORTS = {"ingest": 50051, "matcher": 50052, "notify": 50053, "firearms": 50054}


class UnknownService(ValueError):
    """A service name that is not one of NAMES."""


def spec(name: str) -> ServiceSpec:
    if name not in NAMES:
        raise UnknownService(f"unknown service {name!r}: choose one of {', '.join(NAMES)}")
    return importlib.import_module(f"services.{name}.server").SPEC


# Variables of the suite that no service reads: the command's own (the caller's token).
COMMAND_VARIABLES = frozenset({"ANPR_TOKEN"})


def settings_variables() -> frozenset[str]:
    """Every ANPR_* variable some service of the suite reads, and the command's: one environment (a
    ConfigMap, an env file) may hold them all; anything else with the prefix is a misspelling."""
    from anpr.runtime.config import ServiceSettings, known_variables

    names = set(COMMAND_VARIABLES)
    for name in NAMES:
        module = importlib.import_module(f"services.{name}.config")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, ServiceSettings) and value is not ServiceSettings:
                names |= known_variables(value)
    return frozenset(names)


def declare(
    name: str,
    settings_cls: type[ServiceSettings],
    add_servicer: Callable[[Any, Any], None],
    build: Callable[[Any], Any],
    roles: Mapping[Role, Iterable[str]],
) -> ServiceSpec:
    """The spec of service `name` (its server.py's SPEC): what the name decides (the package
    services.<name>, the contract anpr.v1.<Name>Service, the schema <name>, the migrations beside
    it), its settings, servicer and component, and which roles may call which RPC (given per role)."""
    from anpr.runtime.server import ServiceSpec

    allowed: dict[str, set[Role]] = {}
    for role, rpcs in roles.items():
        for rpc in rpcs:
            allowed.setdefault(rpc, set()).add(role)
    return ServiceSpec(
        name=name,
        module=f"{__name__}.{name}",
        grpc_service=f"anpr.v1.{name.capitalize()}Service",
        schema=name,
        migrations=Path(__file__).parent / name / "migrations",
        settings_cls=settings_cls,
        method_roles={rpc: frozenset(r) for rpc, r in allowed.items()},
        add_servicer=add_servicer,
        build=build,
    )


def serve(name: str) -> int:
    """Run service `name` in this process (`anpr serve NAME`, `python -m services.NAME`); the exit status."""
    from anpr.runtime.server import main

    return main(spec(name), settings_variables())
