"""Test support for firearms: a tokens file with several named commanders and supervisors, a duty
rota, and hits on firearms-marked entries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from anpr.runtime.auth import Caller, Role
from anpr.v1 import firearms_pb2 as F
from anpr.v1 import firearms_pb2_grpc
from anpr.v1 import types_pb2 as T
from tests.support import Tokens, channel, make_entry, make_read, ts

FORCE = "Test Police"
COMMANDERS = ("tfc-a", "tfc-b", "tfc-c")
SUPERVISORS = ("sup-1", "sup-2")


@dataclass
class People:
    """Tokens for every role (as tests.support.Tokens) plus one per named commander/supervisor."""

    tokens: Tokens
    by_subject: dict[str, str]

    @classmethod
    def create(cls, path: Path) -> "People":
        """The role tokens with their default claims; the named commanders and supervisors are of FORCE."""
        people = {
            s: Caller(Role.TFC_SUPERVISOR if s.startswith("sup") else Role.TFC, s, force=FORCE)
            for s in (*COMMANDERS, *SUPERVISORS)
        }
        tokens = Tokens.create(path, prefix="test", identities=people)
        return cls(tokens, dict(tokens.by_name))

    def __getitem__(self, subject: str) -> str:
        return self.by_subject[subject]


def stub(ch) -> firearms_pb2_grpc.FirearmsServiceStub:
    return firearms_pb2_grpc.FirearmsServiceStub(ch)


async def set_rota(
    addr: str,
    people: People,
    chain=("tfc-a", "tfc-b"),
    supervisor="sup-1",
    force=FORCE,
    area: str = "",
    hours: float = 8,
) -> F.AddShiftsResponse:
    """Register every named person and put `chain` + `supervisor` on duty for `force` from now."""
    async with channel(addr, people.tokens[Role.TFC_SUPERVISOR]) as ch:  # national: any force's rota
        s = stub(ch)
        for subject in (*COMMANDERS, *SUPERVISORS):
            await s.UpsertCommander(
                F.UpsertCommanderRequest(
                    commander=T.Commander(
                        subject=subject,
                        name=f"Insp {subject}",
                        force=force,
                        contact="radio 7",
                        supervisor=subject in SUPERVISORS,
                    )
                )
            )
        now = datetime.now(timezone.utc)
        return await s.AddShifts(
            F.AddShiftsRequest(
                shifts=[
                    T.Shift(
                        force=force,
                        area=area,
                        starts_at=ts(now - timedelta(minutes=1)),
                        ends_at=ts(now + timedelta(hours=hours)),
                        primary=chain[0],
                        backups=list(chain[1:]),
                        supervisor=supervisor,
                    )
                ]
            )
        )


def firearms_hit(entry_id: str | None = None, force: str = FORCE, camera_force: str = "", **entry) -> T.Hit:
    """A hit on a firearms-marked entry of `force`, read by a camera of `camera_force` (Hit.force)."""
    fields = dict(
        warning_markers=[T.WARNING_MARKER_FIREARMS, T.WARNING_MARKER_VIOLENT],
        force=force,
        action=T.ACTION_DO_NOT_STOP_REPORT_SIGHTING,
        reason="Linked to a firearms discharge",
    )
    fields.update(entry)
    if entry_id:
        fields["entry_id"] = entry_id
    return T.Hit(
        hit_id=str(uuid.uuid4()),
        read=make_read("LR68HGW"),
        entry=make_entry("LR68HGW", "list-1", **fields),
        hotlist=T.Hotlist(hotlist_id="list-1", name="List"),
        match_kind=T.MATCH_KIND_EXACT,
        force=camera_force,
    )


async def raise_hits(addr: str, people: People, hits: list[T.Hit], traceparents=None) -> F.RaiseActivationsResponse:
    traced = [T.TracedHit(hit=h, traceparent=(traceparents or {}).get(h.hit_id, "")) for h in hits]
    async with channel(addr, people.tokens[Role.SERVICE]) as ch:
        return await stub(ch).RaiseActivations(F.RaiseActivationsRequest(hits=traced))


def decision(activation_id: str, **stages) -> T.NdmDecision:
    return T.NdmDecision(activation_id=activation_id, **stages)
