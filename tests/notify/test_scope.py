"""Who sees which alert (services.notify.scope and alerts): a list's current covert flag, a room's
force and clearance, a terminal's subset, and who may act on an alert."""

from __future__ import annotations

from anpr.runtime.auth import Caller, Role
from anpr.v1 import types_pb2 as T
from services.notify.alerts import AlertItem, Viewer
from services.notify.scope import Flags, Scope

READING = T.GeoPoint(latitude=51.4543, longitude=-0.9781)
OXFORD = T.GeoPoint(latitude=51.7520, longitude=-1.2577)  # about 38 km from Reading


def alert(camera_force="Force A", listing_force="Force B", covert=False, version=5, where=READING, tier=None):
    hit = T.Hit(
        hit_id="h",
        force=camera_force,
        entry=T.VoiEntry(entry_id="e", force=listing_force, cad_information="CAD 1"),
        hotlist=T.Hotlist(hotlist_id="list", covert=covert, version=version),
        location=where,
        tier=tier or T.MATCH_TIER_CONFIRMED,
    )
    return T.Alert(alert_id="a", hit=hit, covert=covert)


def room(force="", national=False, covert=False) -> Scope:
    return Scope(Caller(Role.CONTROL_ROOM, "r", force=force, national=national, covert=covert), 50)


TERMINAL = Scope(Caller(Role.TERMINAL, "t", force="Force C", unit="C-1"), 50)


def test_a_lists_newest_flag_counts_for_its_earlier_alerts_too():
    flags = Flags()
    assert not flags.covert("list", 5, False)  # nothing known: what the alert says
    assert flags.learn("list", 7, True) and not flags.learn("list", 6, False)  # only newer versions
    assert flags.covert("list", 5, False)  # made covert since: the earlier alert is covert now
    assert flags.learn("list", 9, False)
    assert not flags.covert("list", 8, True)  # and back
    flags.learn("versionless", 0, True)
    assert not flags.covert("versionless", 0, False)  # a flag without a version tells nothing


def test_a_room_sees_its_forces_alerts_and_covert_ones_only_with_clearance():
    flags = Flags()
    seen = AlertItem.of(alert())
    assert Viewer(room("Force A"), flags)(seen) is seen.full  # its camera
    assert Viewer(room("Force B"), flags)(seen) is seen.full  # its listing
    assert Viewer(room("Force C"), flags)(seen) is None
    assert Viewer(room(national=True), flags)(seen) is seen.full
    flags.learn("list", 6, True)
    assert Viewer(room("Force A"), flags)(seen) is None  # uncleared
    shown = Viewer(room("Force A", covert=True), flags)(seen)
    assert shown.covert and shown.hit.entry.cad_information == "CAD 1"  # says it is covert now


def test_a_terminal_gets_the_operational_subset_of_confirmed_alerts_of_lists_not_covert_now():
    flags = Flags()
    item = AlertItem.of(alert())
    shown = Viewer(TERMINAL, flags)(item)
    assert shown is not None and not shown.hit.entry.cad_information and not shown.hit.entry.force
    assert Viewer(TERMINAL, flags)(AlertItem.of(alert(tier=T.MATCH_TIER_POSSIBLE))) is None
    flags.learn("list", 6, True)
    assert Viewer(TERMINAL, flags)(item) is None


def test_a_terminal_acts_on_its_forces_alerts_and_those_read_where_it_last_was():
    far = alert(camera_force="Force A", listing_force="Force B", where=OXFORD)
    assert TERMINAL.may_act(alert(camera_force="Force C"), False, None)
    assert TERMINAL.may_act(alert(listing_force="Force C"), False, None)
    assert not TERMINAL.may_act(far, False, None)
    assert TERMINAL.may_act(far, False, (OXFORD.latitude, OXFORD.longitude, 5))
    assert not TERMINAL.may_act(far, False, (READING.latitude, READING.longitude, 30))  # 38 km away
    assert not TERMINAL.may_act(alert(camera_force="Force C"), True, None)  # covert now
    assert not TERMINAL.may_act(alert(camera_force="Force C", tier=T.MATCH_TIER_POSSIBLE), False, None)
