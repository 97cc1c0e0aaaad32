"""Matcher's SQL for the evidence model: POSSIBLE hits withheld for want of support, and the
outcomes and calibration learnt from them (calibration.py). See migrations/0006_evidence.sql."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass
from datetime import timedelta

import asyncpg

from anpr.v1 import matcher_pb2, types_pb2
from services.matcher.calibration import Outcome, Tally, scopes

CALIBRATION_CHANNEL = "matcher_calibration"
UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class Withheld:
    hit_id: str
    read_id: str
    entry_id: str
    hotlist_id: str
    camera_id: str
    camera_force: str
    listing_force: str
    reason: str
    log_odds: float

    @classmethod
    def of(
        cls, hit_id: str, read: types_pb2.Read, camera_force: str, entry: types_pb2.VoiEntry, log_odds: float
    ) -> Withheld:
        return cls(
            hit_id,
            read.read_id,
            entry.entry_id,
            entry.hotlist_id,
            read.camera_id,
            camera_force,
            entry.force,
            UNSUPPORTED,
            log_odds,
        )


@dataclass(frozen=True, slots=True)
class Seen:
    """Whose withheld hits and calibration a caller sees: every force's (national) or its `force`'s
    (a camera's, or a listing's); covert lists only with `covert` clearance."""

    national: bool
    force: str
    covert: bool


async def record_withheld(conn: asyncpg.Connection, rows: Sequence[Withheld]) -> int:
    """Keep withheld hits (once per read and entry, as hits are); returns how many are new."""
    new = await conn.fetch(
        "INSERT INTO withheld (hit_id, read_id, entry_id, hotlist_id, camera_id, camera_force, listing_force,"
        " reason, log_odds) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
        " $6::text[], $7::text[], $8::text[], $9::real[]) ON CONFLICT (hit_id) DO NOTHING RETURNING reason",
        *map(list, zip(*(astuple(r) for r in rows), strict=True)),
    )
    return len(new)


# The withheld hits of a window within a scope: $2 national, $3 the caller's force, $4 covert clearance.
_WITHHELD = (
    "SELECT {key} AS key, count(*) AS n FROM withheld w LEFT JOIN hotlists h USING (hotlist_id)"
    " WHERE w.created_at > now() - $1::interval AND ($2 OR w.camera_force = $3 OR w.listing_force = $3)"
    " AND ($4 OR NOT coalesce(h.covert, false)) {group}"
)


async def withheld_stats(conn: asyncpg.Connection, window: timedelta, seen: Seen) -> matcher_pb2.GetMatchStatsResponse:
    """Withheld hits of the window the caller sees, per list and per camera (the most first, at
    most 1,000 each)."""
    args = (window, seen.national, seen.force, seen.covert)
    by = _WITHHELD.replace("{group}", "GROUP BY {key} ORDER BY n DESC, key LIMIT 1000")
    by_list = await conn.fetch(by.format(key="w.hotlist_id"), *args)
    by_camera = await conn.fetch(by.format(key="w.camera_id"), *args)
    total = (await conn.fetchrow(_WITHHELD.format(key="''", group=""), *args))["n"]
    return matcher_pb2.GetMatchStatsResponse(
        withheld_by_hotlist=[matcher_pb2.WithheldCount(key=r["key"], withheld=r["n"]) for r in by_list],
        withheld_by_camera=[matcher_pb2.WithheldCount(key=r["key"], withheld=r["n"]) for r in by_camera],
        withheld_total=total,
    )


async def apply_outcomes(conn: asyncpg.Connection, outcomes: Sequence[Outcome]) -> int:
    """In the caller's transaction: count each outcome once per alert (an alert decided the other
    way since replaces its earlier outcome; the same outcome again counts nothing); returns how many
    changed the calibration."""
    deltas: dict[tuple[str, str, str], list[float]] = {}
    changed = 0
    for o in outcomes:
        before = await _counted(conn, o.alert_id)
        if before is not None and before.truth == o.truth:
            continue
        if before is not None:
            _add(deltas, before, -1)
        _add(deltas, o, 1)
        await conn.execute(
            "INSERT INTO calibration_outcomes (alert_id, truth, camera_id, hotlist_id, keys, predicted)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (alert_id) DO UPDATE SET truth = EXCLUDED.truth,"
            " camera_id = EXCLUDED.camera_id, hotlist_id = EXCLUDED.hotlist_id, keys = EXCLUDED.keys,"
            " predicted = EXCLUDED.predicted, at = now()",
            o.alert_id,
            o.truth,
            o.camera_id,
            o.hotlist_id,
            list(o.keys),
            o.predicted,
        )
        changed += 1
    cameras = {o.camera_id: o.camera_force for o in outcomes if o.camera_id and o.camera_force}
    if cameras:
        await conn.execute(
            "INSERT INTO calibration_cameras (camera_id, force) SELECT * FROM unnest($1::text[], $2::text[])"
            " ON CONFLICT (camera_id) DO UPDATE SET force = EXCLUDED.force",
            *map(list, zip(*sorted(cameras.items()), strict=True)),
        )
    if deltas:
        await _count(conn, deltas)
    return changed


async def _counted(conn: asyncpg.Connection, alert_id: str) -> Outcome | None:
    """The outcome counted for an alert so far (its row locked until the transaction ends)."""
    row = await conn.fetchrow(
        "SELECT truth, camera_id, hotlist_id, keys, predicted FROM calibration_outcomes WHERE alert_id = $1 FOR UPDATE",
        alert_id,
    )
    if row is None:
        return None
    return Outcome(alert_id, row["truth"], row["camera_id"], row["hotlist_id"], tuple(row["keys"]), row["predicted"])


async def _count(conn: asyncpg.Connection, deltas: dict[tuple[str, str, str], list[float]]) -> None:
    """Add the deltas to the tallies, in key order (so concurrent callers cannot deadlock)."""
    rows = sorted(deltas.items())
    await conn.execute(
        "INSERT INTO calibration AS c (scope, scope_id, key, accepted, rejected, predicted)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::float8[])"
        " ON CONFLICT (scope, scope_id, key) DO UPDATE SET"
        " accepted = greatest(0, c.accepted + EXCLUDED.accepted),"
        " rejected = greatest(0, c.rejected + EXCLUDED.rejected),"
        " predicted = greatest(0, c.predicted + EXCLUDED.predicted), updated_at = now()",
        *map(list, zip(*((*k, int(v[0]), int(v[1]), v[2]) for k, v in rows), strict=True)),
    )
    await _changed(conn)


def _add(deltas: dict[tuple[str, str, str], list[float]], o: Outcome, sign: int) -> None:
    for key in o.keys:
        for scope, scope_id in scopes(key, o.camera_id, o.hotlist_id):
            d = deltas.setdefault((scope, scope_id, key), [0, 0, 0.0])
            d[0 if o.truth else 1] += sign
            d[2] += sign * o.predicted


async def _changed(conn: asyncpg.Connection) -> None:
    await conn.execute("UPDATE calibration_state SET version = version + 1")
    await conn.execute("SELECT pg_notify($1, 'changed')", CALIBRATION_CHANNEL)


async def calibration_version(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT version FROM calibration_state")


async def tallies(conn: asyncpg.Connection, scope: str | None = None, scope_id: str = "") -> tuple[list[Tally], int]:
    """Every tally with its version (one snapshot), or those of one camera or list."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        version = await calibration_version(conn)
        rows = await conn.fetch(
            "SELECT scope, scope_id, key, accepted, rejected, predicted FROM calibration"
            " WHERE ($1::text IS NULL OR (scope = $1 AND scope_id = $2)) ORDER BY scope, scope_id, key",
            scope,
            scope_id,
        )
    return [Tally(*r) for r in rows], version


async def camera_force(conn: asyncpg.Connection, camera_id: str) -> str | None:
    """The force of a camera outcomes were counted for (None: none was)."""
    return await conn.fetchval("SELECT force FROM calibration_cameras WHERE camera_id = $1", camera_id)


async def list_covert(conn: asyncpg.Connection, hotlist_id: str) -> bool | None:
    """Whether a list is covert now (None: no such list)."""
    return await conn.fetchval("SELECT covert FROM hotlists WHERE hotlist_id = $1", hotlist_id)


async def reset(conn: asyncpg.Connection, scope: str, scope_id: str) -> int:
    """Forget what outcomes taught about one camera or list; returns how many keys it had."""
    async with conn.transaction():
        n = await conn.fetchval(
            "WITH gone AS (DELETE FROM calibration WHERE scope = $1 AND scope_id = $2 RETURNING 1)"
            " SELECT count(*) FROM gone",
            scope,
            scope_id,
        )
        await _changed(conn)
    return n
