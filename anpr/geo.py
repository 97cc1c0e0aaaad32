"""Coordinates as the contracts carry them (anpr.v1.GeoPoint): the one check of their ranges."""

from __future__ import annotations

from anpr.v1 import types_pb2


def point_problems(point: types_pb2.GeoPoint, field: str) -> list[tuple[str, str]]:
    """Field violations of a point given as `field` (e.g. 'location', 'circle.center'): latitude
    within -90..90 and longitude within -180..180 (NaN is neither)."""
    out = []
    if not -90.0 <= point.latitude <= 90.0:
        out.append((f"{field}.latitude", "must be between -90 and 90"))
    if not -180.0 <= point.longitude <= 180.0:
        out.append((f"{field}.longitude", "must be between -180 and 180"))
    return out
