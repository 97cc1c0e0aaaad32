"""Typed settings read once from environment variables at start.

Every service has a frozen settings class deriving from `ServiceSettings`; a missing or malformed
value fails at start with a message naming the environment variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(SystemExit):
    """Raised at start when a setting is missing or invalid; its text names the variable."""


class ServiceSettings(BaseSettings):
    """Settings every service reads (prefix ANPR_)."""

    model_config = SettingsConfigDict(env_prefix="ANPR_", frozen=True, extra="ignore")

    # PostgreSQL DSN. Unset: an embedded PostgreSQL is started (see anpr.runtime.pg).
    database_url: str | None = None
    grpc_host: str = "0.0.0.0"
    grpc_port: int
    # JSON file mapping bearer-token hashes to roles (see anpr.runtime.auth).
    tokens_file: Path
    # Seconds the server lets in-flight calls finish after SIGTERM.
    shutdown_grace_s: float = 10.0
    log_level: str = "INFO"
    # Processes serving this service on the same port (SO_REUSEPORT; each its own event loop and
    # pool). Connections are spread over them; in Kubernetes prefer replicas of one worker each.
    workers: int = Field(default=1, ge=1, le=64)
    # Set by the supervisor for its workers: share the port (SO_REUSEPORT). Off otherwise, so that
    # a second server on a taken port fails at start instead of silently taking half its calls.
    reuse_port: bool = False
    # Where the embedded PostgreSQL keeps its data when database_url is unset.
    data_dir: Path = Path(".anpr")


S = TypeVar("S", bound=BaseSettings)


def load(cls: type[S], **overrides: object) -> S:
    """Read `cls` from the environment; raise ConfigError naming each missing or bad variable."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        prefix = cls.model_config.get("env_prefix", "")
        problems = []
        for err in exc.errors():
            name = (prefix + "_".join(str(p) for p in err["loc"])).upper()
            if err["type"] == "missing":
                problems.append(f"{name} is not set")
            else:
                problems.append(f"{name}: {err['msg']}")
        raise ConfigError("configuration error: " + "; ".join(problems)) from None
