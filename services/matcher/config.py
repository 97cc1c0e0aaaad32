"""Matcher settings (environment variables with the ANPR_ prefix)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from anpr.runtime.config import ServiceSettings


class MatcherSettings(ServiceSettings):
    grpc_port: int = 50052
    service_port: int = 50062
    # gRPC targets of notify, firearms and ingest (for historical hits), e.g. dns:///notify:50053
    notify_addr: str
    firearms_addr: str
    ingest_addr: str
    # This service calls others: its client secret is required (ANPR_SERVICE_CLIENT_SECRET).
    service_client_secret: SecretStr
    # Matching (services/matcher/scoring.py; docs/matching.md). Common look-alike
    # classes, comma-separated: characters cameras often confuse with each other (cheap).
    lookalike_classes: str = "O0DQ,I1L,B8,S5,Z2,G6,T7"
    # Rarer confusions, comma-separated pairs (dearer: usually the control room's to confirm).
    match_rare_pairs: str = "EF,HM,MN,HN,UV,VW,VY,KX,38,CG,PR,A4,17"
    # Hits scoring at least this (the probability that the read is of the listed vehicle) go to
    # terminals too (CONFIRMED); at least possible_score, to the control room only (POSSIBLE);
    # below, no hit (docs/matching.md).
    match_confirm_score: float = Field(default=0.85, gt=0, lt=1)
    match_possible_score: float = Field(default=0.3, gt=0, lt=1)
    # Most hits made from one read, best first; the rest are counted (Hit.hits_over_cap).
    match_max_hits: int = Field(default=3, ge=1, le=50)
    # Find reads that dropped a character (keys of every entry's VRM less one character: about 80
    # bytes an entry beside the index's 32). Off: less memory, and such reads are not matched.
    match_dropped_characters: bool = True
    # Optional JSON file of costs and thresholds per force and per list (docs/matching.md).
    match_profiles_file: Path | None = None
    # Repeat hits on one entry, for one plate, in one area cell within this window are counted but
    # not re-alerted to terminals (firearms still gets every sighting).
    dedup_window_s: float = 600.0
    dedup_cell_km: float = 5.0
    # A new entry is checked against the reads of this many hours (historical hits).
    historical_lookback_h: float = 24.0
    # An import (ImportEntries) holds the hotlist writers' lock from its first message: one whose
    # next message takes longer than this is abandoned (DEADLINE_EXCEEDED) and lets go of it.
    import_idle_s: float = Field(default=30.0, gt=0, le=3600)
    # Calibration from outcomes (services/matcher/calibration.py): the most one key may move a hit's
    # log-odds for a camera or a list (0: outcomes are kept but change nothing), and how many
    # outcomes' worth of the model's own prediction a key's outcomes are weighed against.
    calibration_max_log_odds: float = Field(default=2.0, ge=0, le=5)
    calibration_prior_outcomes: float = Field(default=4.0, gt=0, le=1000)
