"""Firearms settings (environment variables with the ANPR_ prefix)."""

from __future__ import annotations

from pydantic import Field

from anpr.runtime.config import ServiceSettings


class FirearmsSettings(ServiceSettings):
    grpc_port: int = 50054
    service_port: int = 50064
    # A sighting of a vehicle whose activation was raised less than this long ago (and is not
    # closed) is attached to that activation instead of raising a new one (0: never attached).
    activation_attach_window_s: float = Field(default=7200.0, ge=0)
    # Seconds the person told of an activation has to acknowledge it before it escalates to the
    # next person of the duty chain (primary, backups in order, force supervisor).
    ack_deadline_s: float = Field(default=60.0, gt=0, le=86400)
    # How often an activation with nobody on duty for its force is tried against the rota again.
    unassigned_retry_s: float = Field(default=5.0, gt=0, le=3600)
    # Longest sleep of the escalator between looks at the deadlines (it wakes earlier for the next
    # deadline it knows of); bounds how late an escalation on another replica's activation can be.
    escalation_poll_s: float = Field(default=0.5, gt=0, le=60)
    # How often each replica checks the rota for forces with nobody on duty (logged as an error, a
    # gauge, and the health status of the service name `anpr.firearms.duty_rota`).
    duty_check_s: float = Field(default=10.0, gt=0, le=3600)
    # Plate patches: the gRPC target of ingest (called with this service's client credentials,
    # ANPR_SERVICE_CLIENT_*). Unset: GetActivationPlatePatch answers FAILED_PRECONDITION.
    ingest_addr: str = ""
