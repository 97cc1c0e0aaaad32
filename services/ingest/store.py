"""Ingest's SQL: the camera registry, reads partitioned by capture day, images apart, the outbox
to matcher, and retention by partition drop."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta, timezone

import asyncpg

from anpr.runtime import outbox
from anpr.v1 import ingest_pb2, types_pb2

MATCH_TOPIC = "match"
CAMERAS_CHANNEL = "ingest_cameras"
PARTITIONED = ("reads", "read_images")
_PARTITION_LOCK = 0x70617274
DROP_LOCK_TIMEOUT = "500ms"
_PARTITION_NAME = re.compile(r"^(reads|read_images)_p(\d{8})$")

READ_COLUMNS = (
    "read_id",
    "captured_at",
    "vrm",
    "vrm_normalised",
    "confidence",
    "camera_id",
    "source_id",
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


class CameraInfo:
    """What matching needs of a read's camera: encoded once per camera, as the MatchRead fields
    force (3), location (4) and location_from_camera (5) (see `_match_item`)."""

    __slots__ = ("enabled", "force", "force_field", "location", "location_field")

    def __init__(self, enabled: bool, force: str, latitude: float | None, longitude: float | None):
        self.enabled = enabled
        self.force = force
        self.location = None if latitude is None or longitude is None else (latitude, longitude)
        self.force_field = outbox.encode_field(3, force.encode()) if force else b""
        self.location_field = b""
        if latitude is not None and longitude is not None:
            self.location_field = (
                outbox.encode_field(4, types_pb2.GeoPoint(latitude=latitude, longitude=longitude).SerializeToString())
                + b"\x28\x01"
            )

    @classmethod
    def of(cls, camera: types_pb2.Camera) -> "CameraInfo":
        return cls(camera.enabled, camera.force, *lat_lon(camera))

    def place(self, read: types_pb2.Read) -> ingest_pb2.ReadPlace:
        """A stored read's ReadPlace (SearchReads, ScanReads): as `_match_item` routes a live one."""
        place = ingest_pb2.ReadPlace(force=self.force)
        if read.HasField("location"):
            place.location.CopyFrom(read.location)
        elif self.location is not None:
            place.location.latitude, place.location.longitude = self.location
            place.location_from_camera = True
        return place


def lat_lon(message: types_pb2.Read | types_pb2.Camera) -> tuple[float | None, float | None]:
    """A read's or camera's location as (latitude, longitude) columns: (None, None) without one."""
    if message.HasField("location"):
        return message.location.latitude, message.location.longitude
    return None, None


UNKNOWN_CAMERA = CameraInfo(True, "", None, None)


class NewRead:
    """A validated read on its way to the store; `key` (read_id, captured_at) identifies it."""

    __slots__ = ("camera", "captured_at", "key", "read", "trace_field", "vrm")

    def __init__(
        self,
        read: types_pb2.Read,
        vrm: str,
        captured_at: datetime,
        trace_field: bytes,
        camera: CameraInfo = UNKNOWN_CAMERA,
    ):
        self.read = read
        self.vrm = vrm  # normalised
        self.captured_at = captured_at  # UTC
        self.trace_field = trace_field  # MatchRead.traceparent, encoded (see trace_field())
        self.camera = camera
        self.key = (read.read_id, captured_at)


def trace_field(traceparent: str) -> bytes:
    """anpr.v1.MatchRead.traceparent (field 2) encoded, once per call for all its reads."""
    return outbox.encode_field(2, traceparent.encode()) if traceparent else b""


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


# --- partitions ---------------------------------------------------------------------------------


async def ensure_partitions(conn: asyncpg.Connection, days: set[date]) -> None:
    """Create the day partitions of reads and read_images that do not exist yet."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _PARTITION_LOCK)
        for day in sorted(days):
            for table in PARTITIONED:  # as the owner (the service may not create tables)
                await conn.execute("SELECT create_day_partition($1, $2)", table, day)


async def existing_partition_days(conn: asyncpg.Connection) -> dict[str, set[date]]:
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace"
        " WHERE n.nspname = current_schema() AND p.relname = ANY($1::text[])",
        list(PARTITIONED),
    )
    out: dict[str, set[date]] = {t: set() for t in PARTITIONED}
    for r in rows:
        m = _PARTITION_NAME.match(r["relname"])
        if m:
            out[m.group(1)].add(datetime.strptime(m.group(2), "%Y%m%d").date())
    return out


async def drop_expired_partitions(conn: asyncpg.Connection, retention_days: int, now: datetime) -> list[str]:
    """Drop day partitions wholly older than the retention period; returns the tables dropped.

    A drop locks the whole table, so it waits for every open read of it (a ScanReads runs for
    minutes) and every write queues behind it: a drop that cannot have its lock within
    DROP_LOCK_TIMEOUT is left for the next run instead."""
    cutoff = (now - timedelta(days=retention_days)).date()
    dropped = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _PARTITION_LOCK)
        await conn.execute(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'")
        for table, days in (await existing_partition_days(conn)).items():
            for day in sorted(d for d in days if d < cutoff):
                name = f"{table}_p{day:%Y%m%d}"
                try:
                    async with conn.transaction():  # savepoint
                        await conn.execute("SELECT drop_day_partition($1, $2)", table, day)
                except asyncpg.LockNotAvailableError:
                    continue
                dropped.append(name)
    return dropped


# --- reads --------------------------------------------------------------------------------------


def _record(n: NewRead) -> tuple:
    r = n.read
    vehicle = r.vehicle
    return (
        r.read_id,
        n.captured_at,
        r.vrm,
        n.vrm,
        r.confidence,
        r.camera_id,
        r.source_id,
        *lat_lon(r),
        r.direction,
        r.heading_degrees,
        r.lane,
        vehicle.make,
        vehicle.model,
        vehicle.colour,
        r.plate_country,
    )


def _match_item(item: NewRead) -> bytes:
    """One item of anpr.v1.MatchReadsRequest.reads: the read without its images, the trace
    context of the call that stored it, its camera's force and where it was made (its own
    coordinates, else its camera's), built on the wire format directly (no message copies); an
    outbox row's payload is a run of these, so rows concatenate into one request."""
    read = item.read
    if read.HasField("location"):
        where = outbox.encode_field(4, read.location.SerializeToString())
    else:
        where = item.camera.location_field
    if read.plate_image or read.overview_image:
        slim = types_pb2.Read()
        slim.CopyFrom(read)
        slim.ClearField("plate_image")
        slim.ClearField("overview_image")
        read = slim
    return outbox.encode_field(
        1, outbox.encode_field(1, read.SerializeToString()) + item.trace_field + item.camera.force_field + where
    )


Queue = Callable[[asyncpg.Connection, str, Sequence[tuple[int, bytes, int]]], Awaitable[list[outbox.Queued]]]


async def store_reads(
    conn: asyncpg.Connection, reads: Sequence[NewRead], queue: Queue = outbox.enqueue, *, resubmitted: bool = False
) -> tuple[set[tuple[str, datetime]], list[outbox.Queued]]:
    """Insert the reads not stored before and queue them for matching (`queue`: outbox.enqueue or
    a service Outbox's), in the caller's transaction.

    Returns the (read_id, captured_at) keys stored now and the outbox rows queued. The common case
    (no resubmission) is one COPY straight into the partitioned table, which fails with
    UniqueViolationError if any read was stored before: the caller then runs the transaction again
    with `resubmitted`, which goes through a staging table with ON CONFLICT DO NOTHING. (No
    savepoint around the COPY: it would cost two round trips on every flush for the rare
    resubmission.)
    """
    if not reads:
        return set(), []
    unique: dict[tuple[str, datetime], NewRead] = {}
    for item in reads:  # one flush may carry the same read from several callers: store it once
        unique.setdefault(item.key, item)
    reads = list(unique.values())
    records = [_record(i) for i in reads]
    if resubmitted:
        stored = await _insert_new(conn, records)
    else:
        await conn.copy_records_to_table("reads", records=records, columns=READ_COLUMNS)
        stored = set(unique)
    fresh = [i for i in reads if i.key in stored]
    images = [
        (i.read.read_id, i.captured_at, i.read.plate_image or None, i.read.overview_image or None)
        for i in fresh
        if i.read.plate_image or i.read.overview_image
    ]
    if images:
        await conn.copy_records_to_table(
            "read_images", records=images, columns=("read_id", "captured_at", "plate_image", "overview_image")
        )
    # Queued for matching in partitions by camera, so each camera's reads are matched in order.
    queued = await queue(conn, MATCH_TOPIC, outbox.rows_by_partition((i.read.camera_id, _match_item(i)) for i in fresh))
    return stored, queued


async def _insert_new(conn: asyncpg.Connection, records: list[tuple]) -> set[tuple[str, datetime]]:
    """Insert the reads not stored before (a resubmission); returns the keys inserted."""
    await conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS staging_reads (LIKE reads INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    await conn.copy_records_to_table("staging_reads", records=records, columns=READ_COLUMNS)
    rows = await conn.fetch(
        f"INSERT INTO reads ({', '.join(READ_COLUMNS)}) SELECT {', '.join(READ_COLUMNS)} FROM staging_reads"
        " ON CONFLICT DO NOTHING RETURNING read_id, captured_at"
    )
    return {(r["read_id"], r["captured_at"]) for r in rows}


# Columns of `reads` that are fields of anpr.v1.Read of the same name and type.
READ_FIELDS = (
    "read_id",
    "vrm",
    "captured_at",
    "confidence",
    "camera_id",
    "source_id",
    "direction",
    "heading_degrees",
    "lane",
    "plate_country",
)


def _row_to_read(row: asyncpg.Record) -> types_pb2.Read:
    read = types_pb2.Read(
        **{f: row[f] for f in READ_FIELDS},
        vehicle=types_pb2.VehicleDescription(make=row["make"], model=row["model"], colour=row["colour"]),
    )
    if row["latitude"] is not None:
        read.location.latitude = row["latitude"]
        read.location.longitude = row["longitude"]
    return read


async def get_read(conn: asyncpg.Connection, read_id: str) -> tuple[types_pb2.Read, str] | None:
    """The read with its images, and its camera's force (as registered now)."""
    row = await conn.fetchrow(
        "SELECT r.*, i.plate_image, i.overview_image, coalesce(c.force, '') AS camera_force FROM reads r"
        " LEFT JOIN read_images i USING (read_id, captured_at) LEFT JOIN cameras c USING (camera_id)"
        " WHERE r.read_id = $1 ORDER BY r.captured_at DESC LIMIT 1",
        read_id,
    )
    if row is None:
        return None
    read = _row_to_read(row)
    if row["plate_image"]:
        read.plate_image = row["plate_image"]
    if row["overview_image"]:
        read.overview_image = row["overview_image"]
    return read, row["camera_force"]


async def audit_view(
    conn: asyncpg.Connection,
    read_id: str,
    captured_at: datetime | None,
    who: tuple[str, str, str],
    reason: str,
    shown: bool,
) -> None:
    """One view of a read (or an attempt): `who` is (subject, role, viewer)."""
    await conn.execute(
        "INSERT INTO read_audit (read_id, captured_at, subject, role, viewer, reason, shown)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        read_id,
        captured_at,
        *who,
        reason,
        shown,
    )


async def plate_patch(conn: asyncpg.Connection, read_id: str, captured_at: datetime) -> tuple[bool, bytes]:
    """(whether the read exists, its plate patch or b"")."""
    row = await conn.fetchrow(
        "SELECT i.plate_image FROM reads r LEFT JOIN read_images i USING (read_id, captured_at)"
        " WHERE r.read_id = $1 AND r.captured_at = $2",
        read_id,
        captured_at,
    )
    return (row is not None, (row["plate_image"] or b"") if row is not None else b"")


async def search_reads(
    conn: asyncpg.Connection, vrms_normalised: Sequence[str], since: datetime, limit: int
) -> list[types_pb2.Read]:
    rows = await conn.fetch(
        "SELECT * FROM reads WHERE vrm_normalised = ANY($1::text[]) AND captured_at >= $2"
        " ORDER BY captured_at DESC LIMIT $3",
        list(vrms_normalised),
        since,
        limit,
    )
    return [_row_to_read(r) for r in rows]


# A stalled ScanReads client (its transaction idle between pages) ends after this: a long-open
# transaction would hold back vacuum and the retention drop of old partitions.
SCAN_IDLE_TIMEOUT = "30s"


async def scan_reads(conn: asyncpg.Connection, since: datetime, page: int) -> AsyncIterator[list[types_pb2.Read]]:
    """Every read captured since `since`, in pages of `page`, in no order (no index helps a scan
    of hours of reads: the day partitions are read whole), from a server-side cursor in one
    read-only transaction (one snapshot)."""
    async with conn.transaction(readonly=True):
        await conn.execute(f"SET LOCAL idle_in_transaction_session_timeout = '{SCAN_IDLE_TIMEOUT}'")
        cursor = await conn.cursor(f"SELECT {', '.join(READ_COLUMNS)} FROM reads WHERE captured_at >= $1", since)
        while rows := await cursor.fetch(page):
            yield [_row_to_read(r) for r in rows]


def lookback(seconds: int) -> datetime:
    return now_utc() - timedelta(seconds=seconds)


# --- cameras ------------------------------------------------------------------------------------


CAMERA_FIELDS = ("camera_id", "name", "direction", "heading_degrees", "force", "enabled")


def _camera(row: asyncpg.Record) -> types_pb2.Camera:
    cam = types_pb2.Camera(**{f: row[f] for f in CAMERA_FIELDS})
    if row["latitude"] is not None:
        cam.location.latitude, cam.location.longitude = row["latitude"], row["longitude"]
    return cam


async def upsert_camera(conn: asyncpg.Connection, c: types_pb2.Camera) -> types_pb2.Camera:
    row = await conn.fetchrow(
        """
        INSERT INTO cameras (camera_id, name, latitude, longitude, direction, heading_degrees, force, enabled)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (camera_id) DO UPDATE SET name = EXCLUDED.name, latitude = EXCLUDED.latitude,
            longitude = EXCLUDED.longitude, direction = EXCLUDED.direction,
            heading_degrees = EXCLUDED.heading_degrees, force = EXCLUDED.force, enabled = EXCLUDED.enabled,
            updated_at = now()
        RETURNING *
        """,
        c.camera_id,
        c.name,
        *lat_lon(c),
        c.direction,
        c.heading_degrees,
        c.force,
        c.enabled,
    )
    await conn.execute("SELECT pg_notify($1, $2)", CAMERAS_CHANNEL, c.camera_id)
    return _camera(row)


async def list_cameras(conn: asyncpg.Connection) -> list[types_pb2.Camera]:
    return [_camera(r) for r in await conn.fetch("SELECT * FROM cameras ORDER BY camera_id")]


async def camera_infos(conn: asyncpg.Connection) -> dict[str, CameraInfo]:
    return {
        r["camera_id"]: CameraInfo(r["enabled"], r["force"], r["latitude"], r["longitude"])
        for r in await conn.fetch("SELECT camera_id, enabled, force, latitude, longitude FROM cameras")
    }
