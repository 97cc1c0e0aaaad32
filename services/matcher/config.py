"""Matcher settings (environment variables with the ANPR_ prefix)."""

from __future__ import annotations

from anpr.runtime.config import ServiceSettings


class MatcherSettings(ServiceSettings):
    grpc_port: int = 50052
    # gRPC targets of notify and firearms, e.g. dns:///notify:50053
    notify_addr: str
    firearms_addr: str
    # Token this service presents to notify and firearms (role: service).
    service_token: str
