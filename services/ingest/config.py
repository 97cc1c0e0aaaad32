"""Ingest settings (environment variables with the ANPR_ prefix)."""

from __future__ import annotations

from anpr.runtime.config import ServiceSettings


class IngestSettings(ServiceSettings):
    grpc_port: int = 50051
    # gRPC target of matcher, e.g. dns:///matcher:50052
    matcher_addr: str
    # Token this service presents to matcher (role: service).
    service_token: str
    # Reads captured more than this far in the future are rejected.
    max_clock_skew_s: float = 300.0
    # Reads older than this are rejected; partitions older than this are dropped.
    read_retention_days: int = 365
    # Largest plate patch or overview image accepted, in bytes.
    max_image_bytes: int = 1024 * 1024
    # Most reads in one request or batch.
    max_batch_reads: int = 500
