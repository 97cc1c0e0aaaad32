"""Firearms settings (environment variables with the ANPR_ prefix)."""

from __future__ import annotations

from pathlib import Path

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
    # The log's key (services/firearms/keys.py): an Ed25519 private key (PEM) that seals every log
    # entry and signs the checkpoints of the head; the database never sees it. Unset: the file
    # log-signing-key.pem in ANPR_DATA_DIR, made on first start (anpr up). On Kubernetes a Secret.
    log_signing_key_file: Path | None = None
    # Earlier keys after a rotation, kept to verify what they sealed and signed (files, comma-separated).
    log_previous_key_files: str = ""
    # How often each replica signs the log's head while it moves (and once more at shutdown).
    checkpoint_interval_s: float = Field(default=2.0, gt=0, le=300)
    # The append-only file checkpoints are appended to (a relative path is in ANPR_DATA_DIR; empty:
    # none). One file serves one log: keep it with the database it checkpoints.
    checkpoint_file: str = "firearms-checkpoints.jsonl"
    # Checkpoints also as JSON log lines ("firearms log checkpoint"), for the log collector.
    checkpoint_log: bool = True
    # An S3 bucket with Object Lock (s3://bucket/prefix): one object per checkpoint, in compliance
    # mode for checkpoint_s3_retain_days (needs boto3 and the AWS_* settings); empty: none.
    checkpoint_s3_url: str = ""
    checkpoint_s3_retain_days: int = Field(default=2557, ge=1, le=36500)

    def signing_key_path(self) -> Path:
        return self.log_signing_key_file or self.data_dir / "log-signing-key.pem"

    def previous_key_paths(self) -> list[Path]:
        return [Path(p.strip()) for p in self.log_previous_key_files.split(",") if p.strip()]

    def checkpoint_path(self) -> Path | None:
        return self.data_dir / self.checkpoint_file if self.checkpoint_file else None
