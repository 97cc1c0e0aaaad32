"""Notify settings (environment variables with the ANPR_ prefix)."""

from __future__ import annotations

from anpr.runtime.config import ServiceSettings


class NotifySettings(ServiceSettings):
    grpc_port: int = 50053
    service_port: int = 50063
