"""Which alerts a subscription covers: a unit's circle, a drawn polygon, or a force."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from anpr.v1 import notify_pb2, types_pb2

EARTH_RADIUS_KM = 6371.0088
MIN_RADIUS_KM, MAX_RADIUS_KM = 0.1, 200.0
MAX_POLYGON_VERTICES = 200
MAX_UNIT_ID, MAX_FORCE = 64, 128


def distance_km(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    """Great-circle (haversine) distance."""
    p1, p2 = math.radians(a_lat), math.radians(b_lat)
    dp, dl = p2 - p1, math.radians(b_lon - a_lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def inside_polygon(lat: float, lon: float, vertices: list[tuple[float, float]]) -> bool:
    """Ray casting on latitude/longitude (areas a control room draws are small enough for it)."""
    inside = False
    j = len(vertices) - 1
    for i, (yi, xi) in enumerate(vertices):
        yj, xj = vertices[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def _point_problems(point: types_pb2.GeoPoint, field: str) -> list[tuple[str, str]]:
    out = []
    if not -90 <= point.latitude <= 90:
        out.append((f"{field}.latitude", "must be between -90 and 90"))
    if not -180 <= point.longitude <= 180:
        out.append((f"{field}.longitude", "must be between -180 and 180"))
    return out


def area_problems(sub: notify_pb2.Subscription, prefix: str = "subscription.") -> list[tuple[str, str]]:
    """Field violations of a subscription's area."""
    out: list[tuple[str, str]] = []
    kind = sub.WhichOneof("area")
    if kind == "circle":
        out += _point_problems(sub.circle.center, prefix + "circle.center")
        if not MIN_RADIUS_KM <= sub.circle.radius_km <= MAX_RADIUS_KM:
            out.append((prefix + "circle.radius_km", f"must be between {MIN_RADIUS_KM} and {MAX_RADIUS_KM} km"))
    elif kind == "polygon":
        n = len(sub.polygon.vertices)
        if not 3 <= n <= MAX_POLYGON_VERTICES:
            out.append((prefix + "polygon.vertices", f"3 to {MAX_POLYGON_VERTICES} vertices, got {n}"))
        for i, v in enumerate(sub.polygon.vertices[:MAX_POLYGON_VERTICES]):
            out += _point_problems(v, f"{prefix}polygon.vertices[{i}]")
    return out


def subscription_problems(sub: notify_pb2.Subscription, terminal: bool) -> list[tuple[str, str]]:
    """Field violations of a first request's subscription; a terminal must say who and where it is."""
    out: list[tuple[str, str]] = []
    if len(sub.unit_id) > MAX_UNIT_ID:
        out.append(("subscription.unit_id", f"at most {MAX_UNIT_ID} characters"))
    if len(sub.force) > MAX_FORCE:
        out.append(("subscription.force", f"at most {MAX_FORCE} characters"))
    if terminal:
        if not sub.unit_id.strip():
            out.append(("subscription.unit_id", "required for a terminal"))
        if not sub.force.strip():
            out.append(("subscription.force", "required for a terminal"))
        if sub.WhichOneof("area") != "circle":
            out.append(("subscription.circle", "required for a terminal: its position and radius"))
    return out + area_problems(sub)


@dataclass
class AreaFilter:
    """The area a stream covers now (a moving unit replaces it as it goes)."""

    subscription: notify_pb2.Subscription
    problems: list[tuple[str, str]] = field(default_factory=list)  # of a refused move: the stream ends
    moves: int = 0  # moves applied (the stream confirms each with a new `opened`)

    def covers(self, hit: types_pb2.Hit) -> bool:
        sub = self.subscription
        kind = sub.WhichOneof("area")
        if kind is None:
            return not sub.force or hit.force == sub.force
        if hit.HasField("location"):
            where = hit.location
        elif hit.read.HasField("location"):
            where = hit.read.location
        else:
            return False  # nowhere known: only force-wide and unfiltered streams get it
        if kind == "circle":
            c = sub.circle
            return distance_km(c.center.latitude, c.center.longitude, where.latitude, where.longitude) <= c.radius_km
        return inside_polygon(where.latitude, where.longitude,
                              [(v.latitude, v.longitude) for v in sub.polygon.vertices])

    def move(self, area: notify_pb2.Subscription) -> None:
        """Replace the area (a later request of the stream); who and which force stay."""
        moved = notify_pb2.Subscription()
        moved.CopyFrom(self.subscription)
        kind = area.WhichOneof("area")
        if kind == "circle":
            moved.circle.CopyFrom(area.circle)
        elif kind == "polygon":
            moved.polygon.CopyFrom(area.polygon)
        self.subscription = moved
        self.moves += 1
