"""The security probe's world (tests/services/test_probe.py): two forces' cameras and lists, covert
and not, a national room, control rooms cleared and not, a unit of each force, supervisors; and the
oracle of who may see what (docs/scope.md), written apart from the services' code."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from anpr.runtime.auth import Caller, Role
from anpr.v1 import ingest_pb2, ingest_pb2_grpc, matcher_pb2, matcher_pb2_grpc, notify_pb2
from anpr.v1 import types_pb2 as T
from services.notify.areas import distance_km
from tests.support import channel, make_entry, make_read, next_message, subscribe

FORCE_A, FORCE_B = "Force A", "Force B"
READING, CAMBRIDGE, ST_IVES = (51.4543, -0.9781), (52.2053, 0.1218), (52.3326, -0.0757)
# Force A's camera CAM-A2 stands near Force B's unit (about 19 km): a unit in pursuit crosses boundaries.
CAMERAS = {"CAM-A1": (FORCE_A, READING), "CAM-A2": (FORCE_A, ST_IVES), "CAM-B1": (FORCE_B, CAMBRIDGE)}
RADIUS_KM = 30.0
# hotlist id -> (covert at first, listing force, VRM, firearms marker)
LISTS = {
    "list-a": (False, FORCE_A, "KA11AAA", True),
    "list-b": (False, FORCE_B, "KB22BBB", True),
    "covert-a": (True, FORCE_A, "KC33CCC", False),
    "covert-b": (True, FORCE_B, "KD44DDD", False),
    "later-covert": (False, FORCE_A, "KE55EEE", False),  # made covert after its alerts are stored
}
MADE_COVERT = "later-covert"

IDENTITIES = {
    "room-a": Caller(Role.CONTROL_ROOM, "room-a", force=FORCE_A, covert=True),
    "room-a-uncleared": Caller(Role.CONTROL_ROOM, "room-a-2", force=FORCE_A),
    "room-b": Caller(Role.CONTROL_ROOM, "room-b", force=FORCE_B, covert=True),
    "national": Caller(Role.CONTROL_ROOM, "national-room", national=True, covert=True),
    "national-uncleared": Caller(Role.CONTROL_ROOM, "national-room-2", national=True),
    "unit-a": Caller(Role.TERMINAL, "unit-a", force=FORCE_A, unit="A-1"),
    "unit-b": Caller(Role.TERMINAL, "unit-b", force=FORCE_B, unit="B-1"),
    "admin-b": Caller(Role.HOTLIST_ADMIN, "admin-b", force=FORCE_B),
    "sup-a": Caller(Role.TFC_SUPERVISOR, "sup-a", force=FORCE_A, covert=True),
    "sup-b": Caller(Role.TFC_SUPERVISOR, "sup-b", force=FORCE_B, covert=True),
}
ROOMS = [n for n, c in IDENTITIES.items() if c.role == Role.CONTROL_ROOM]
UNITS = {"unit-a": READING, "unit-b": CAMBRIDGE}  # where each unit is (its circle's centre)


@dataclass(frozen=True)
class Fact:
    """What the oracle knows of an alert: where and by whose camera, whose listing, covert now."""

    alert_id: str
    read_id: str
    camera_force: str
    listing_force: str
    covert: bool
    place: tuple[float, float]


def room_sees(who: Caller, f: Fact) -> bool:
    in_force = who.national or who.force in (f.camera_force, f.listing_force)
    return in_force and (who.covert or not f.covert)


def unit_gets(place: tuple[float, float], f: Fact) -> bool:
    """A unit's stream: a list that is not covert, read inside its circle (whatever the force)."""
    return not f.covert and distance_km(*place, *f.place) <= RADIUS_KM


def may_act(name: str, f: Fact) -> bool:
    who = IDENTITIES[name]
    if who.role == Role.TERMINAL:
        return not f.covert and (who.force in (f.camera_force, f.listing_force) or unit_gets(UNITS[name], f))
    return room_sees(who, f)


def unit_subscription(place: tuple[float, float], radius_km: float = RADIUS_KM) -> notify_pb2.Subscription:
    lat, lon = place
    return notify_pb2.Subscription(
        circle=notify_pb2.Circle(center=T.GeoPoint(latitude=lat, longitude=lon), radius_km=radius_km)
    )


@dataclass
class World:
    """The probe's cameras, lists and reads as the services were given them."""

    reads: dict[str, str] = field(default_factory=dict)  # read id -> camera id
    facts: dict[str, Fact] = field(default_factory=dict)  # alert id -> the truth about it


async def build(suite) -> World:
    """Cameras, lists and entries, then every camera reads every listed plate (each read hits once)."""
    async with channel(suite.addr("ingest"), suite.tokens[Role.CAMERA_ADMIN]) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        for cid, (force, (lat, lon)) in CAMERAS.items():
            camera = T.Camera(
                camera_id=cid, force=force, location=T.GeoPoint(latitude=lat, longitude=lon), enabled=True
            )
            await stub.UpsertCamera(ingest_pb2.UpsertCameraRequest(camera=camera))
    async with channel(suite.addr("matcher"), suite.tokens[Role.HOTLIST_ADMIN]) as ch:
        admin = matcher_pb2_grpc.MatcherServiceStub(ch)
        for list_id, (covert, force, vrm, firearms) in LISTS.items():
            hotlist = T.Hotlist(hotlist_id=list_id, name=list_id, source=T.HOTLIST_SOURCE_LOCAL_FORCE, covert=covert)
            await admin.UpsertHotlist(matcher_pb2.UpsertHotlistRequest(hotlist=hotlist))
            markers = [T.WARNING_MARKER_FIREARMS] if firearms else [T.WARNING_MARKER_VIOLENT]
            entry = make_entry(vrm, list_id, force=force, warning_markers=markers, entry_id=f"entry-{list_id}")
            await admin.UpsertEntry(matcher_pb2.UpsertEntryRequest(entry=entry))
    world = World()
    reads = []
    for cid, (_, (lat, lon)) in CAMERAS.items():
        for _, _, vrm, _ in LISTS.values():
            read = make_read(
                vrm, camera_id=cid, read_id=f"{cid}-{vrm}-{uuid.uuid4().hex[:6]}", plate_image=b"\xff\xd8p"
            )
            read.location.CopyFrom(T.GeoPoint(latitude=lat, longitude=lon))
            reads.append(read)
            world.reads[read.read_id] = cid
    async with channel(suite.addr("ingest"), suite.tokens[Role.CAMERA]) as ch:
        await ingest_pb2_grpc.IngestServiceStub(ch).SubmitReads(iter([ingest_pb2.SubmitReadsRequest(reads=reads)]))
    return world


async def delivered(ch, role: Role, expected_last: int, **request) -> list[T.Alert]:
    """What a stream from the start delivers up to sequence `expected_last` (its heartbeat says how
    far it has looked: alerts outside its scope are skipped, not missed)."""
    stream = subscribe(ch, role, from_start=True, **request)
    out = []
    try:
        while True:
            message = await next_message(stream, 20)
            kind = message.WhichOneof("event")
            if kind == "alert":
                out.append(message.alert)
            elif kind == "heartbeat" and message.heartbeat.sequence >= expected_last:
                return out
    finally:
        stream.cancel()


async def learn_facts(suite, world: World, n: int) -> int:
    """The truth about every alert, from the national cleared room's stream (it sees them all,
    with each list's current flag); the last sequence."""
    async with channel(suite.addr("notify"), suite.tokens.named("national")) as ch:
        stream = subscribe(ch, Role.CONTROL_ROOM, from_start=True)
        alerts = []
        while len(alerts) < n:
            message = await asyncio.wait_for(stream.read(), 30)
            if message.WhichOneof("event") == "alert":
                alerts.append(message.alert)
        stream.cancel()
    for a in alerts:
        force, _ = CAMERAS[a.hit.read.camera_id]
        place = (a.hit.location.latitude, a.hit.location.longitude)
        world.facts[a.alert_id] = Fact(a.alert_id, a.hit.read.read_id, force, a.hit.entry.force, a.covert, place)
    return max(a.sequence for a in alerts)
