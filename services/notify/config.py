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
    # The largest circle a terminal may subscribe with, first or on a move (km, around its position).
    terminal_max_radius_km: float = Field(default=50.0, ge=0.1, le=200)
    # Subscription changes (a stream opened or moved) per identity: a token bucket of this rate per
    # second and burst, per replica; over it: RESOURCE_EXHAUSTED (a move over it ends its stream).
    subscription_changes_per_s: float = Field(default=1.0, gt=0)
    subscription_change_burst: int = Field(default=20, ge=1)
    # Reason codes an officer may give when acknowledging an alert (comma-separated).
    outcome_reasons: str = "stopped,not_found,wrong_vehicle,misread,no_action_needed,other"
    # Plate patches: the gRPC target of ingest (called with this service's client credentials,
    # ANPR_SERVICE_CLIENT_*). Unset: GetPlatePatch answers FAILED_PRECONDITION.
    ingest_addr: str = ""
    service_port: int = 50063
