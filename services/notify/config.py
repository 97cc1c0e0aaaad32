"""Notify settings (environment variables with the ANPR_ prefix)."""

from __future__ import annotations

from pydantic import Field

from anpr.runtime.config import ServiceSettings


class NotifySettings(ServiceSettings):
    grpc_port: int = 50053
    # Seconds between heartbeats on an idle subscription stream (both sides notice a dead link).
    heartbeat_s: float = Field(default=5.0, gt=0, le=60)
    # A live stream further behind the log than this many alerts is closed with RESOURCE_EXHAUSTED
    # (the client resubscribes from its last sequence and catches up from the database).
    subscriber_max_lag: int = Field(default=2000, ge=10)
    # Alerts held in memory per replica for the streams (the recent end of the log).
    alert_tail_size: int = Field(default=10_000, ge=100)
    # Reason codes an officer may give when acknowledging an alert (comma-separated).
    outcome_reasons: str = "stopped,not_found,wrong_vehicle,misread,no_action_needed,other"
    # Plate patches: the gRPC target of ingest (called with this service's client credentials,
    # ANPR_SERVICE_CLIENT_*). Unset: GetPlatePatch answers FAILED_PRECONDITION.
    ingest_addr: str = ""
    service_port: int = 50063
