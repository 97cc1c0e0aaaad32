"""Hits (services.matcher.hits): stable ids, vehicle mismatches."""

from __future__ import annotations

from anpr.v1 import types_pb2 as T
from services.matcher.hits import hit_id_for, vehicle_mismatches


def test_hit_id_is_deterministic_per_read_and_entry():
    assert hit_id_for("r1", "e1") == hit_id_for("r1", "e1")
    assert len({hit_id_for("r1", "e1"), hit_id_for("r1", "e2"), hit_id_for("r2", "e1")}) == 3


def test_vehicle_mismatch_only_where_both_sides_know():
    read = T.VehicleDescription(make="ford", model="", colour="Red")
    entry = T.VehicleDescription(make="Ford", model="Focus", colour="Blue")
    assert vehicle_mismatches(read, entry) == ["colour"]
