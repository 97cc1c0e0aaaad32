"""Which alerts a subscription covers (services.notify.areas): a unit's circle, a drawn polygon, a force."""

from __future__ import annotations

import pytest

from anpr.runtime.auth import Caller, Role
from anpr.v1 import notify_pb2 as N
from anpr.v1 import types_pb2 as T
from services.notify.areas import AreaFilter, area_problems, distance_km, subscription_problems
from services.notify.scope import Scope

LONDON = (51.5072, -0.1276)
READING = (51.4543, -0.9781)


def circle(lat: float, lon: float, radius_km: float, force: str = "Test Police") -> N.Subscription:
    return N.Subscription(
        unit_id="ALPHA-1",
        force=force,
        circle=N.Circle(center=T.GeoPoint(latitude=lat, longitude=lon), radius_km=radius_km),
    )


def test_the_distance_between_two_places_is_the_great_circle_one():
    assert distance_km(*LONDON, *READING) == pytest.approx(59.1, abs=0.5)
    assert distance_km(*LONDON, *LONDON) == 0


def test_a_circle_covers_the_reads_inside_it_only_and_moves_with_its_unit():
    area = AreaFilter(circle(*LONDON, 10))
    assert area.covers(LONDON, "Another Police")  # where, not which force's camera
    assert not area.covers(READING, "Test Police")
    assert not area.covers(None, "Test Police")  # nowhere known: only force-wide streams get it
    area.move(circle(*READING, 10))
    assert area.covers(READING, "Test Police") and not area.covers(LONDON, "Test Police")
    assert (area.moves, area.subscription.unit_id) == (1, "ALPHA-1")


def test_a_polygon_covers_what_lies_inside_it():
    square = [T.GeoPoint(latitude=lat, longitude=lon) for lat, lon in ((51, -1), (51, 0), (52, 0), (52, -1))]
    area = AreaFilter(N.Subscription(polygon=N.Polygon(vertices=square)))
    assert area.covers(LONDON, "") and not area.covers((53.0, -0.5), "") and not area.covers((51.5, 0.5), "")


def test_without_an_area_a_stream_covers_its_force_or_everything():
    assert AreaFilter(N.Subscription(force="Test Police")).covers(None, "Test Police")
    assert not AreaFilter(N.Subscription(force="Test Police")).covers(LONDON, "Another Police")
    assert AreaFilter(N.Subscription()).covers(None, "Another Police")


def test_a_terminal_gives_a_circle_within_the_limit_and_its_circle_must_be_sane():
    terminal = Scope(Caller(Role.TERMINAL, "t", force="Test Police", unit="ALPHA-1"), max_radius_km=50)
    assert subscription_problems(circle(*LONDON, 10)) == terminal.terminal_problems(circle(*LONDON, 10)) == []
    assert terminal.terminal_problems(N.Subscription()) == [
        ("subscription.circle", "required for a terminal: its position and radius")
    ]
    assert terminal.terminal_problems(circle(*LONDON, 51)) == [
        ("subscription.circle.radius_km", "at most 50 km for a terminal")
    ]
    square = [T.GeoPoint(latitude=lat, longitude=lon) for lat, lon in ((51, -1), (51, 0), (52, 0), (52, -1))]
    assert terminal.terminal_problems(N.Subscription(polygon=N.Polygon(vertices=square)))  # a polygon is no circle
    assert area_problems(circle(91, 0, 500)) == [
        ("subscription.circle.center.latitude", "must be between -90 and 90"),
        ("subscription.circle.radius_km", "must be between 0.1 and 200.0 km"),
    ]


def test_a_force_in_a_subscription_covers_its_cameras_and_its_listings():
    area = AreaFilter(N.Subscription(force="Test Police"))
    assert area.covers(None, "Another Police", "Test Police") and area.covers(None, "Test Police", "")
    assert not area.covers(None, "Another Police", "Third Police")
