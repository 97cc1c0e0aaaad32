"""Ingest's SQL. Reads are committed together with their outbox records to matcher."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import asyncpg
from google.protobuf import timestamp_pb2

from anpr.runtime import outbox
from anpr.vrm import normalise_vrm
from anpr.v1 import matcher_pb2, types_pb2

MATCH_TOPIC = "match"


@dataclass(frozen=True)
class NewRead:
    read: types_pb2.Read
    traceparent: str


def _without_images(read: types_pb2.Read) -> types_pb2.Read:
    slim = types_pb2.Read()
    slim.CopyFrom(read)
    slim.ClearField("plate_image")
    slim.ClearField("overview_image")
    return slim


async def store_reads(conn: asyncpg.Connection, reads: Sequence[NewRead]) -> set[str]:
    """Insert reads not stored before; queue them for matching. Returns the read ids stored now.

    The caller holds the transaction; acknowledge only after it commits.
    """
    if not reads:
        return set()
    cols: dict[str, list] = {k: [] for k in (
        "read_id", "vrm", "vrm_normalised", "confidence", "camera_id", "source_id", "captured_at",
        "latitude", "longitude", "direction", "heading_degrees", "lane", "make", "model", "colour",
        "plate_country")}
    for item in reads:
        r = item.read
        has_loc = r.HasField("location")
        for key, value in (
            ("read_id", r.read_id), ("vrm", r.vrm), ("vrm_normalised", normalise_vrm(r.vrm)),
            ("confidence", r.confidence), ("camera_id", r.camera_id), ("source_id", r.source_id),
            ("captured_at", r.captured_at.ToDatetime(tzinfo=timezone.utc)),
            ("latitude", r.location.latitude if has_loc else None),
            ("longitude", r.location.longitude if has_loc else None),
            ("direction", r.direction), ("heading_degrees", r.heading_degrees), ("lane", r.lane),
            ("make", r.vehicle.make), ("model", r.vehicle.model), ("colour", r.vehicle.colour),
            ("plate_country", r.plate_country),
        ):
            cols[key].append(value)
    stored = {row["read_id"] for row in await conn.fetch(
        """
        INSERT INTO reads (read_id, vrm, vrm_normalised, confidence, camera_id, source_id, captured_at,
                           latitude, longitude, direction, heading_degrees, lane, make, model, colour,
                           plate_country)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::real[], $5::text[], $6::text[],
                             $7::timestamptz[], $8::float8[], $9::float8[], $10::int2[], $11::real[],
                             $12::int4[], $13::text[], $14::text[], $15::text[], $16::text[])
        ON CONFLICT (read_id) DO NOTHING
        RETURNING read_id
        """, *cols.values())}
    fresh = [item for item in reads if item.read.read_id in stored]
    images = [(i.read.read_id, i.read.plate_image or None, i.read.overview_image or None)
              for i in fresh if i.read.plate_image or i.read.overview_image]
    if images:
        await conn.executemany(
            "INSERT INTO read_images (read_id, plate_image, overview_image) VALUES ($1, $2, $3)", images)
    await outbox.enqueue(conn, MATCH_TOPIC, [
        (matcher_pb2.MatchRead(read=_without_images(i.read)).SerializeToString(), i.traceparent)
        for i in fresh])
    return stored


def _row_to_read(row: asyncpg.Record) -> types_pb2.Read:
    captured = timestamp_pb2.Timestamp()
    captured.FromDatetime(row["captured_at"])
    read = types_pb2.Read(
        read_id=row["read_id"], vrm=row["vrm"], confidence=row["confidence"], camera_id=row["camera_id"],
        source_id=row["source_id"], captured_at=captured, direction=row["direction"],
        heading_degrees=row["heading_degrees"], lane=row["lane"], plate_country=row["plate_country"],
        vehicle=types_pb2.VehicleDescription(make=row["make"], model=row["model"], colour=row["colour"]))
    if row["latitude"] is not None:
        read.location.latitude = row["latitude"]
        read.location.longitude = row["longitude"]
    return read


async def get_read(conn: asyncpg.Connection, read_id: str) -> types_pb2.Read | None:
    row = await conn.fetchrow(
        "SELECT r.*, i.plate_image, i.overview_image FROM reads r"
        " LEFT JOIN read_images i USING (read_id) WHERE r.read_id = $1", read_id)
    if row is None:
        return None
    read = _row_to_read(row)
    if row["plate_image"]:
        read.plate_image = row["plate_image"]
    if row["overview_image"]:
        read.overview_image = row["overview_image"]
    return read


async def search_reads(conn: asyncpg.Connection, vrm_normalised: str, since: datetime,
                       limit: int) -> list[types_pb2.Read]:
    rows = await conn.fetch(
        "SELECT * FROM reads WHERE vrm_normalised = $1 AND captured_at >= $2"
        " ORDER BY captured_at DESC LIMIT $3", vrm_normalised, since, limit)
    return [_row_to_read(r) for r in rows]


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def lookback(seconds: int) -> datetime:
    return now_utc() - timedelta(seconds=seconds)
