"""The ingest benchmark's reads: UK-style VRMs passing cameras spread over southern England, drawn
once and made either into gRPC reads (the echo and ingest runs) or into the rows ingest's store
writes for them (the raw COPY baseline)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from google.protobuf import timestamp_pb2

from anpr.v1 import types_pb2 as T
from anpr.vrm import normalise_vrm
from benchmarks.common import AGES, camera_ids, camera_site

LETTERS = "ABCDEFGHJKLMNOPRSTUVWXY"  # current UK format: no I, Q or Z
VEHICLES = [
    ("Ford", "Focus", "Blue"),
    ("Vauxhall", "Corsa", "White"),
    ("BMW", "3 Series", "Black"),
    ("Volkswagen", "Golf", "Silver"),
    ("Toyota", "Yaris", "Red"),
    ("Nissan", "Qashqai", "Grey"),
    ("", "", ""),
]
COPY_COLUMNS = (
    "read_id",
    "vrm",
    "vrm_normalised",
    "confidence",
    "camera_id",
    "source_id",
    "captured_at",
    "latitude",
    "longitude",
    "direction",
    "heading_degrees",
    "lane",
    "make",
    "model",
    "colour",
    "plate_country",
)
CAMERAS = camera_ids(100)


def camera_heading(i: int) -> float:
    return float((i * 37) % 360)


def uk_vrm(rng: random.Random) -> str:
    c = rng.choice
    return f"{c(LETTERS)}{c(LETTERS)}{c(AGES)} {c(LETTERS)}{c(LETTERS)}{c(LETTERS)}"


def captured_now() -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(datetime.now(timezone.utc) - timedelta(milliseconds=500))
    return out


class ReadGen:
    """Reads for the gRPC phases and the equivalent rows for COPY, from the same draws.

    VRMs come from a table of 65,536 random UK-style marks (so a vehicle passes several cameras,
    as on real roads) and one random word per read picks the rest: cheap enough to generate
    hundreds of thousands up front.
    """

    def __init__(self, seed: int, cams: list[str]):
        rng = self.rng = random.Random(seed)
        self.vrms = [uk_vrm(rng) for _ in range(1 << 16)]
        self.norms = [normalise_vrm(v) for v in self.vrms]
        self.confs = [round(70.0 + i * 29.5 / 255, 1) for i in range(256)]
        self.cams = cams
        self.sites = [(*camera_site(i), camera_heading(i)) for i in range(len(cams))]

    def _draw(self):
        x = self.rng.getrandbits(32)
        return x & 0xFFFF, self.confs[(x >> 16) & 0xFF], 1 + (x >> 24) % 3, VEHICLES[(x >> 26) % len(VEHICLES)]

    def read(self, read_id: str, cam_index: int, captured: timestamp_pb2.Timestamp) -> T.Read:
        v, conf, lane, (make, model, colour) = self._draw()
        lat, lon, heading = self.sites[cam_index]
        return T.Read(
            read_id=read_id,
            vrm=self.vrms[v],
            confidence=conf,
            camera_id=self.cams[cam_index],
            source_id="lane-feed",
            captured_at=captured,
            location=T.GeoPoint(latitude=lat, longitude=lon),
            direction=T.DIRECTION_TOWARDS,
            heading_degrees=heading,
            lane=lane,
            vehicle=T.VehicleDescription(make=make, model=model, colour=colour),
            plate_country="GB",
        )

    def row(self, read_id: str, cam_index: int, captured: datetime) -> tuple:
        """The row ingest's store writes for such a read (see services/ingest/store.py), COPY_COLUMNS order."""
        v, conf, lane, (make, model, colour) = self._draw()
        lat, lon, heading = self.sites[cam_index]
        return (
            read_id,
            self.vrms[v],
            self.norms[v],
            conf,
            self.cams[cam_index],
            "lane-feed",
            captured,
            lat,
            lon,
            int(T.DIRECTION_TOWARDS),
            heading,
            lane,
            make,
            model,
            colour,
            "GB",
        )
