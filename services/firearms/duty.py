"""The rota's RPCs (a part of the firearms servicer): commanders, shifts and who is on duty, each
within the caller's force (a `national` identity: every force), every change recorded with its
actor (services/firearms/rota.py)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timedelta, timezone

from anpr.runtime.auth import current_caller
from anpr.runtime.errors import InvalidArgument, PermissionDenied
from anpr.scope import check_scoped, in_scope
from anpr.v1 import firearms_pb2 as F
from services.firearms import eventlog, ndm, rota

MAX_IMPORT_SHIFTS = 50_000  # shifts of one ImportShifts call (a national rota of several weeks)
DUTY_PAGE_DEFAULT, DUTY_PAGE_MAX = 1000, 10_000


def _forces(force: str, field: str = "force") -> list[str] | None:
    """The forces a rota read covers: `force` if given (in the caller's scope), else the caller's
    own (None: every force, for a national caller)."""
    caller = current_caller()
    check_scoped(caller)
    if force:
        if not in_scope(caller, force):
            raise PermissionDenied(f"{field}: the rota of another force")
        return [force]
    return None if caller.national else [caller.force]


def _when(request, name: str) -> datetime | None:
    return getattr(request, name).ToDatetime(timezone.utc) if request.HasField(name) else None


def _unknown_violations(shifts, unknown: set[str], problem: str) -> list[tuple[str, str]]:
    out = []
    for i, s in enumerate(shifts):
        named = [("primary", s.primary), ("supervisor", s.supervisor)] + [
            (f"backups[{j}]", b) for j, b in enumerate(s.backups)
        ]
        out += [(f"shifts[{i}].{f}", problem) for f, v in named if v in unknown]
    return out


def _page_token(after: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(after).encode()).decode()


def _after_token(token: str) -> tuple[str, str] | None:
    if not token:
        return None
    try:
        force, area = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(force), str(area)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidArgument.of("page_token", "not a page token of this call") from None


class RotaRPCs:
    """The rota's RPCs; mixed into FirearmsServicer (which gives `_pool`)."""

    _pool: object

    async def UpsertCommander(self, request, context):
        c = request.commander
        errors = ndm.validate_commander(c)
        if errors:
            raise InvalidArgument(errors)
        caller = current_caller()
        async with self._pool.acquire() as conn, conn.transaction():
            registered = await rota.commander_force(conn, c.subject)
            if not in_scope(caller, c.force) or (registered is not None and not in_scope(caller, registered)):
                raise PermissionDenied("commander.force: the rota of another force")
            await rota.upsert_commander(conn, c, caller.subject)
        return F.UpsertCommanderResponse(commander=c)

    async def ListCommanders(self, request, context):
        forces = _forces(request.force)
        async with self._pool.acquire() as conn:
            return F.ListCommandersResponse(commanders=await rota.list_commanders(conn, forces))

    async def _store_shifts(self, shifts: list) -> list:
        """Check and store shifts, all or none, recorded with the caller: every one of the
        caller's force, starting within the window around now, its people registered and its
        supervisor a supervisor."""
        caller = current_caller()
        async with self._pool.acquire() as conn, conn.transaction():
            now = await eventlog.now(conn)
            errors = [e for i, s in enumerate(shifts) for e in ndm.validate_shift(s, f"shifts[{i}].", now)]
            if errors:
                raise InvalidArgument(errors[:100])
            foreign = [i for i, s in enumerate(shifts) if not in_scope(caller, s.force)]
            if foreign:
                raise PermissionDenied(f"shifts[{foreign[0]}].force: the rota of another force")
            people = {p for s in shifts for p in (s.primary, s.supervisor, *s.backups)}
            unknown = await rota.unknown_subjects(conn, people)
            errors = _unknown_violations(shifts, unknown, "not a registered commander (anpr rota commander)")
            not_supervising = await rota.not_supervisors(conn, {s.supervisor for s in shifts})
            errors += [
                (f"shifts[{i}].supervisor", "not registered as a supervisor (anpr rota commander --as-supervisor)")
                for i, s in enumerate(shifts)
                if s.supervisor in not_supervising
            ]
            if errors:
                raise InvalidArgument(errors[:100])
            return await rota.add_shifts(conn, shifts, caller.subject)

    async def AddShifts(self, request, context):
        shifts = list(request.shifts)
        if not 0 < len(shifts) <= ndm.MAX_SHIFTS_PER_CALL:
            raise InvalidArgument.of("shifts", f"1-{ndm.MAX_SHIFTS_PER_CALL} shifts")
        return F.AddShiftsResponse(shifts=await self._store_shifts(shifts))

    async def ImportShifts(self, request_iterator, context):
        shifts: list = []
        async for request in request_iterator:
            if not 0 < len(request.shifts) <= ndm.MAX_SHIFTS_PER_CALL:
                raise InvalidArgument.of("shifts", f"1-{ndm.MAX_SHIFTS_PER_CALL} shifts per message")
            shifts.extend(request.shifts)
            if len(shifts) > MAX_IMPORT_SHIFTS:
                raise InvalidArgument.of("shifts", f"at most {MAX_IMPORT_SHIFTS} shifts per import")
        if not shifts:
            raise InvalidArgument.of("shifts", "no shifts sent")
        return F.ImportShiftsResponse(imported=len(await self._store_shifts(shifts)))

    async def ListShifts(self, request, context):
        forces = _forces(request.force)
        start = _when(request, "from") or datetime.now(timezone.utc)
        try:
            end = _when(request, "to") or start + timedelta(days=7)
        except OverflowError:
            raise InvalidArgument.of("from", "too late: give `to` as well") from None
        async with self._pool.acquire() as conn:
            return F.ListShiftsResponse(shifts=await rota.list_shifts(conn, forces, start, end))

    async def GetDutyStatus(self, request, context):
        forces = _forces("")
        if not 0 <= request.page_size <= DUTY_PAGE_MAX:
            raise InvalidArgument.of("page_size", f"0-{DUTY_PAGE_MAX}")
        size, after = request.page_size or DUTY_PAGE_DEFAULT, _after_token(request.page_token)
        async with self._pool.acquire() as conn:
            at = _when(request, "at") or await eventlog.now(conn)
            places = [p for p in await rota.duty_places(conn, at, forces) if after is None or p > after]
            page = places[:size]
            forces_now = await rota.duty_status(conn, page, at)
        more = len(places) > size
        return F.GetDutyStatusResponse(forces=forces_now, next_page_token=_page_token(page[-1]) if more else "")
