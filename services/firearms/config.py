"""Firearms settings (environment variables with the ANPR_ prefix)."""

from __future__ import annotations

from anpr.runtime.config import ServiceSettings


class FirearmsSettings(ServiceSettings):
    grpc_port: int = 50054
    service_port: int = 50064
    # A sighting of a vehicle whose activation was raised less than this long ago is attached to
    # that activation instead of raising a new one.
    activation_attach_window_s: float = 7200.0
