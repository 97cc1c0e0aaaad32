"""Ingest settings (environment variables with the ANPR_ prefix)."""

from __future__ import annotations

from pydantic import SecretStr

from anpr.runtime.config import ServiceSettings


class IngestSettings(ServiceSettings):
    grpc_port: int = 50051
    service_port: int = 50061
    # gRPC target of matcher, e.g. dns:///matcher:50052
    matcher_addr: str
    # This service calls others: its client secret is required (ANPR_SERVICE_CLIENT_SECRET).
    service_client_secret: SecretStr
    # Reads captured more than this far in the future are rejected.
    max_clock_skew_s: float = 300.0
    # Reads older than this are rejected; partitions older than this are dropped.
    read_retention_days: int = 365
    # Largest plate patch or overview image accepted, in bytes.
    max_image_bytes: int = 1024 * 1024
    # Most reads in one request or batch.
    max_batch_reads: int = 500
    # Per-camera rate limit (reads per second, sustained) and the burst allowed above it.
    camera_rate_per_s: float = 50.0
    camera_burst: int = 500
    # Group commit: a flush takes up to this many reads, waiting at most this long for more
    # while another flush is in flight (no wait at all when the writer is idle).
    flush_max_reads: int = 2000
    flush_window_s: float = 0.003
    # Reads accepted but not yet committed, at most (beyond it, callers wait: backpressure).
    max_pending_reads: int = 20000
