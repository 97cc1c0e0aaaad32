"""The range check of coordinates (anpr.geo)."""

from __future__ import annotations

import math

from anpr.geo import point_problems
from anpr.v1 import types_pb2 as T


def test_a_point_in_range_has_no_problems_and_the_edges_are_in_range():
    assert point_problems(T.GeoPoint(latitude=51.5, longitude=-0.12), "location") == []
    assert point_problems(T.GeoPoint(latitude=-90, longitude=180), "location") == []


def test_each_coordinate_out_of_range_is_named_under_the_field():
    assert point_problems(T.GeoPoint(latitude=90.5, longitude=-181), "camera.location") == [
        ("camera.location.latitude", "must be between -90 and 90"),
        ("camera.location.longitude", "must be between -180 and 180"),
    ]
    assert [f for f, _ in point_problems(T.GeoPoint(latitude=math.nan, longitude=0), "c")] == ["c.latitude"]
