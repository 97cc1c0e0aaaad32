"""The duty rota's SQL: the commanders who may be on duty, their shifts, and the chain on duty for
a force or area at a time."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import asyncpg
from google.protobuf import timestamp_pb2

from anpr.v1 import types_pb2 as T


async def commander_force(conn: asyncpg.Connection, subject: str) -> str | None:
    """The force a commander is registered with (None: not registered)."""
    return await conn.fetchval("SELECT force FROM commanders WHERE subject = $1", subject)


async def _changed(conn: asyncpg.Connection, actor: str, rows: list[tuple[str, str, str, dict]]) -> None:
    """Record rota changes (kind, key, force, detail) with their actor (append-only)."""
    await conn.executemany(
        "INSERT INTO rota_changes (actor, kind, key, force, detail) VALUES ($1, $2, $3, $4, $5::jsonb)",
        [(actor, kind, key, force, json.dumps(detail)) for kind, key, force, detail in rows],
    )


async def upsert_commander(conn: asyncpg.Connection, c: T.Commander, actor: str) -> None:
    """Register (or change) a commander, recorded with `actor`. Caller's transaction."""
    await conn.execute(
        "INSERT INTO commanders (subject, name, force, contact, supervisor, updated_by) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (subject) DO UPDATE SET name = EXCLUDED.name, force = EXCLUDED.force,"
        " contact = EXCLUDED.contact, supervisor = EXCLUDED.supervisor, updated_by = EXCLUDED.updated_by,"
        " updated_at = now()",
        c.subject,
        c.name,
        c.force,
        c.contact,
        c.supervisor,
        actor,
    )
    await _changed(conn, actor, [("commander", c.subject, c.force, {"supervisor": c.supervisor})])


async def list_commanders(conn: asyncpg.Connection, forces: list[str] | None) -> list[T.Commander]:
    """The commanders of `forces` (None: of every force)."""
    rows = await conn.fetch(
        "SELECT subject, name, force, contact, supervisor FROM commanders"
        " WHERE $1::text[] IS NULL OR force = ANY($1::text[]) ORDER BY force, subject LIMIT 10000",
        forces,
    )
    return [T.Commander(**dict(r)) for r in rows]


async def unknown_subjects(conn: asyncpg.Connection, subjects: set[str]) -> set[str]:
    known = await conn.fetch("SELECT subject FROM commanders WHERE subject = ANY($1::text[])", list(subjects))
    return subjects - {r["subject"] for r in known}


async def not_supervisors(conn: asyncpg.Connection, subjects: set[str]) -> set[str]:
    """Those of `subjects` that are registered, but not as supervisors."""
    rows = await conn.fetch(
        "SELECT subject FROM commanders WHERE subject = ANY($1::text[]) AND NOT supervisor", list(subjects)
    )
    return {r["subject"] for r in rows}


async def add_shifts(conn: asyncpg.Connection, shifts: list[T.Shift], actor: str) -> list[T.Shift]:
    """Store shifts with new ids, recorded with `actor`. Caller's transaction."""
    out = []
    for s in shifts:
        stored = T.Shift()
        stored.CopyFrom(s)
        stored.shift_id = str(uuid.uuid4())
        out.append(stored)
    await conn.executemany(
        "INSERT INTO shifts (shift_id, force, area, starts_at, ends_at, primary_subject, backups, supervisor,"
        " created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [
            (
                uuid.UUID(s.shift_id),
                s.force,
                s.area,
                _aware(s.starts_at),
                _aware(s.ends_at),
                s.primary,
                list(s.backups),
                s.supervisor,
                actor,
            )
            for s in out
        ],
    )
    await _changed(
        conn,
        actor,
        [
            (
                "shift",
                s.shift_id,
                s.force,
                {
                    "area": s.area,
                    "starts_at": _aware(s.starts_at).isoformat(),
                    "ends_at": _aware(s.ends_at).isoformat(),
                    "chain": [s.primary, *s.backups, s.supervisor],
                },
            )
            for s in out
        ],
    )
    return out


def _aware(ts: timestamp_pb2.Timestamp) -> datetime:
    return ts.ToDatetime(timezone.utc)


SHIFT_COLUMNS = ("force", "area", "starts_at", "ends_at", "backups", "supervisor")  # as the message names them


def _shift(r) -> T.Shift:
    return T.Shift(**{c: r[c] for c in SHIFT_COLUMNS}, shift_id=str(r["shift_id"]), primary=r["primary_subject"])


async def list_shifts(
    conn: asyncpg.Connection, forces: list[str] | None, start: datetime, end: datetime
) -> list[T.Shift]:
    """The shifts of `forces` (None: every force) overlapping [start, end)."""
    rows = await conn.fetch(
        "SELECT * FROM shifts WHERE ($1::text[] IS NULL OR force = ANY($1::text[])) AND starts_at < $3 AND ends_at > $2"
        " ORDER BY force, area, starts_at LIMIT 1000",
        forces,
        start,
        end,
    )
    return [_shift(r) for r in rows]


@dataclass(frozen=True)
class Duty:
    chain: tuple[str, ...]
    shift_id: str
    ends_at: datetime


async def duty_chains(
    conn: asyncpg.Connection, places: set[tuple[str, str]], at: datetime
) -> dict[tuple[str, str], Duty]:
    """The chain on duty at `at` for each (force, area): the area's shift, else the force-wide one;
    of overlapping shifts the one that started last."""
    if not places:
        return {}
    forces, areas = zip(*sorted(places), strict=True)
    rows = await conn.fetch(
        "SELECT DISTINCT ON (p.force, p.area) p.force AS pf, p.area AS pa, s.*"
        " FROM unnest($1::text[], $2::text[]) AS p(force, area)"
        " JOIN shifts s ON s.force = p.force AND (s.area = p.area OR s.area = '')"
        "  AND s.starts_at <= $3 AND s.ends_at > $3"
        " ORDER BY p.force, p.area, (s.area = p.area) DESC, s.starts_at DESC, s.created_at DESC",
        list(forces),
        list(areas),
        at,
    )
    return {
        (r["pf"], r["pa"]): Duty(
            (r["primary_subject"], *r["backups"], r["supervisor"]), str(r["shift_id"]), r["ends_at"]
        )
        for r in rows
    }


async def duty_places(conn: asyncpg.Connection, at: datetime, forces: list[str] | None) -> list[tuple[str, str]]:
    """Every (force, area) with commanders, shifts not over at `at`, or activations waiting for
    someone on duty, of `forces` (None: every force), in order."""
    rows = await conn.fetch(
        "SELECT force, area FROM (SELECT force, '' AS area FROM commanders UNION SELECT force, area FROM shifts"
        " WHERE ends_at > $1 UNION SELECT force, area FROM activations WHERE state = $2) p"
        " WHERE $3::text[] IS NULL OR force = ANY($3::text[]) ORDER BY force, area",
        at,
        T.ACTIVATION_STATE_UNASSIGNED,
        forces,
    )
    return [(r["force"], r["area"]) for r in rows]


async def duty_status(conn: asyncpg.Connection, places: list[tuple[str, str]], at: datetime) -> list[T.DutyStatus]:
    """Who is on duty at `at` for each of `places` (an empty chain: nobody), in their order."""
    duties = await duty_chains(conn, set(places), at)
    waiting = {
        (r["force"], r["area"]): r["n"]
        for r in await conn.fetch(
            "SELECT force, area, count(*) AS n FROM activations WHERE state = $1 GROUP BY force, area",
            T.ACTIVATION_STATE_UNASSIGNED,
        )
    }
    out = []
    for force, area in places:
        d = duties.get((force, area))
        out.append(
            T.DutyStatus(
                force=force,
                area=area,
                chain=d.chain if d else [],
                shift_id=d.shift_id if d else "",
                ends_at=d.ends_at if d else None,
                unassigned_activations=waiting.get((force, area), 0),
            )
        )
    return out
