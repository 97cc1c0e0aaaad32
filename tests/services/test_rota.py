"""The duty rota within the caller's force: shifts in a sane window, a chain ending in a registered
supervisor, every change recorded with its actor, imports of any size all or none, and the duty
status in pages."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncpg
import grpc
import pytest

from anpr.runtime.auth import Role
from anpr.runtime.errors import field_violations_of
from anpr.v1 import firearms_pb2 as F
from anpr.v1 import types_pb2 as T
from tests.firearms_support import FORCE, set_rota, stub
from tests.support import channel, ts

NOW = datetime.now(timezone.utc)


def shift(start: datetime, hours: float = 8, force: str = FORCE, area: str = "", supervisor: str = "sup-1") -> T.Shift:
    return T.Shift(
        force=force,
        area=area,
        starts_at=ts(start),
        ends_at=ts(start + timedelta(hours=hours)),
        primary="tfc-a",
        backups=["tfc-b"],
        supervisor=supervisor,
    )


async def refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    return err.value


async def test_shifts_start_in_a_sane_window_and_end_with_a_registered_supervisor(firearms, people):
    addr = firearms.addr("firearms")
    await set_rota(addr, people)
    async with channel(addr, people["sup-1"]) as ch:
        s = stub(ch)
        far = await refused(
            s.AddShifts(
                F.AddShiftsRequest(
                    shifts=[
                        shift(datetime(9999, 12, 30, tzinfo=timezone.utc)),
                        shift(datetime(1, 1, 1, tzinfo=timezone.utc)),
                        shift(NOW - timedelta(days=40)),
                        shift(NOW + timedelta(days=400)),
                        shift(NOW, supervisor="tfc-c"),  # registered, but not as a supervisor
                    ]
                )
            )
        )
        ok = await s.AddShifts(
            F.AddShiftsRequest(shifts=[shift(NOW - timedelta(days=30)), shift(NOW + timedelta(days=365))])
        )
    assert [f for f, _ in field_violations_of(far)] == [f"shifts[{i}].starts_at" for i in range(4)]
    tfc_c = await refused(_add(addr, people["sup-1"], shift(NOW, supervisor="tfc-c")))
    assert field_violations_of(tfc_c) == [
        ("shifts[0].supervisor", "not registered as a supervisor (anpr rota commander --as-supervisor)")
    ]
    assert len(ok.shifts) == 2


async def _add(addr, token, *shifts):
    async with channel(addr, token) as ch:
        return await stub(ch).AddShifts(F.AddShiftsRequest(shifts=list(shifts)))


async def test_a_supervisor_keeps_the_rota_of_their_own_force_and_every_change_names_its_actor(
    firearms, people, database_url
):
    addr = firearms.addr("firearms")
    await set_rota(addr, people)  # by the national supervisor (the role token)
    other = T.Commander(subject="insp-o", name="Insp O", force="Other Police", contact="radio 9")
    async with channel(addr, people["sup-1"]) as ch:
        s = stub(ch)
        codes = [
            (await refused(s.UpsertCommander(F.UpsertCommanderRequest(commander=other)))).code(),
            (await refused(s.AddShifts(F.AddShiftsRequest(shifts=[shift(NOW, force="Other Police")])))).code(),
            (await refused(s.ListCommanders(F.ListCommandersRequest(force="Other Police")))).code(),
            (await refused(s.ListShifts(F.ListShiftsRequest(force="Other Police")))).code(),
        ]
        moved = T.Commander(subject="tfc-c", name="Insp C", force=FORCE, contact="radio 7", supervisor=True)
        await s.UpsertCommander(F.UpsertCommanderRequest(commander=moved))
        [added] = (await s.AddShifts(F.AddShiftsRequest(shifts=[shift(NOW, area="North")]))).shifts
        mine = {c.force for c in (await s.ListCommanders(F.ListCommandersRequest())).commanders}
    async with channel(addr, people.tokens[Role.TFC_SUPERVISOR]) as ch:  # national
        await stub(ch).UpsertCommander(F.UpsertCommanderRequest(commander=other))
    conn = await asyncpg.connect(database_url)
    try:
        changes = await conn.fetch("SELECT actor, kind, key, force FROM firearms.rota_changes ORDER BY id")
    finally:
        await conn.close()
    assert codes == [grpc.StatusCode.PERMISSION_DENIED] * 4
    assert mine == {FORCE}
    assert [tuple(c) for c in changes][-3:] == [
        ("sup-1", "commander", "tfc-c", FORCE),
        ("sup-1", "shift", added.shift_id, FORCE),
        ("test-tfc_supervisor", "commander", "insp-o", "Other Police"),
    ]


async def test_an_import_of_any_size_is_stored_all_or_none(firearms, people):
    addr = firearms.addr("firearms")
    await set_rota(addr, people)
    week = [shift(NOW + timedelta(hours=i), hours=1, area=f"Area {i % 50}") for i in range(2500)]
    async with channel(addr, people["sup-1"]) as ch:
        s = stub(ch)
        bad = [*week[:1500], shift(NOW, hours=-1)]
        batches = [F.ImportShiftsRequest(shifts=bad[i : i + 1000]) for i in range(0, len(bad), 1000)]
        err = await refused(s.ImportShifts(iter(batches)))
        before = await s.ListShifts(F.ListShiftsRequest(force=FORCE))
        batches = [F.ImportShiftsRequest(shifts=week[i : i + 1000]) for i in range(0, len(week), 1000)]
        imported = (await s.ImportShifts(iter(batches))).imported
    assert field_violations_of(err) == [("shifts[1500].ends_at", "must be after starts_at, at most 7 days later")]
    assert len(before.shifts) == 1  # set_rota's: nothing of the refused import
    assert imported == 2500


async def test_the_duty_status_comes_in_pages(firearms, people):
    addr = firearms.addr("firearms")
    await set_rota(addr, people)
    await _add(addr, people["sup-1"], *(shift(NOW - timedelta(minutes=1), area=f"Area {i}") for i in range(4)))
    async with channel(addr, people["tfc-a"]) as ch:
        s = stub(ch)
        pages, token = [], ""
        while True:
            page = await s.GetDutyStatus(F.GetDutyStatusRequest(page_size=2, page_token=token))
            pages.append([(d.force, d.area) for d in page.forces])
            if not (token := page.next_page_token):
                break
        everything = (await s.GetDutyStatus(F.GetDutyStatusRequest())).forces
        bad = await refused(s.GetDutyStatus(F.GetDutyStatusRequest(page_token="not a token")))
    assert pages == [
        [(FORCE, ""), (FORCE, "Area 0")],
        [(FORCE, "Area 1"), (FORCE, "Area 2")],
        [(FORCE, "Area 3")],
    ]
    assert [(d.force, d.area) for d in everything] == [p for page in pages for p in page]
    assert all(d.chain for d in everything)
    assert [f for f, _ in field_violations_of(bad)] == ["page_token"]
