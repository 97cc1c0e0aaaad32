"""Matcher settings (environment variables with the ANPR_ prefix)."""

from __future__ import annotations

from pydantic import Field

from anpr.runtime.config import ServiceSettings


class MatcherSettings(ServiceSettings):
    grpc_port: int = 50052
    service_port: int = 50062
    # gRPC targets of notify, firearms and ingest (for historical hits), e.g. dns:///notify:50053
    notify_addr: str
    firearms_addr: str
    ingest_addr: str
    # Token this service presents to the others (role: service).
    service_token: str
    # Look-alike character classes, comma-separated; each class is a set of characters a camera
    # confuses with each other.
    lookalike_classes: str = "O0DQ,I1L,B8,S5,Z2,G6"
    # How many look-alike differences a hit may have (0 = exact only). Lists may be exact-only.
    lookalike_max_differences: int = Field(default=1, ge=0, le=2)
    # Repeat hits on one entry, for one plate, in one area cell within this window are counted but
    # not re-alerted to terminals (firearms still gets every sighting).
    dedup_window_s: float = 600.0
    dedup_cell_km: float = 5.0
    # A new entry is checked against the reads of this many hours (historical hits).
    historical_lookback_h: float = 24.0
