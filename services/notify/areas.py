"""Which alerts a subscription covers: a unit's circle, a drawn polygon, or a force."""

from __future__ import annotations

import math
from dataclasses import dataclass

from anpr.geo import point_problems
from anpr.runtime.errors import AnprError
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


def area_problems(sub: notify_pb2.Subscription, prefix: str = "subscription.") -> list[tuple[str, str]]:
    """Field violations of a subscription's area."""
    out: list[tuple[str, str]] = []
    kind = sub.WhichOneof("area")
    if kind == "circle":
        out += point_problems(sub.circle.center, prefix + "circle.center")
        if not MIN_RADIUS_KM <= sub.circle.radius_km <= MAX_RADIUS_KM:
            out.append((prefix + "circle.radius_km", f"must be between {MIN_RADIUS_KM} and {MAX_RADIUS_KM} km"))
    elif kind == "polygon":
        n = len(sub.polygon.vertices)
        if not 3 <= n <= MAX_POLYGON_VERTICES:
            out.append((prefix + "polygon.vertices", f"3 to {MAX_POLYGON_VERTICES} vertices, got {n}"))
        for i, v in enumerate(sub.polygon.vertices[:MAX_POLYGON_VERTICES]):
            out += point_problems(v, f"{prefix}polygon.vertices[{i}]")
    return out


def subscription_problems(sub: notify_pb2.Subscription) -> list[tuple[str, str]]:
    """Field violations of a first request's subscription (what a terminal must say is the
    scope's: services.notify.scope)."""
    out: list[tuple[str, str]] = []
    if len(sub.unit_id) > MAX_UNIT_ID:
        out.append(("subscription.unit_id", f"at most {MAX_UNIT_ID} characters"))
    if len(sub.force) > MAX_FORCE:
        out.append(("subscription.force", f"at most {MAX_FORCE} characters"))
    return out + area_problems(sub)


def place_of(hit: types_pb2.Hit) -> tuple[float, float] | None:
    """Where a hit's read was made (its location, else the read's own coordinates), or None."""
    if hit.HasField("location"):
        return hit.location.latitude, hit.location.longitude
    if hit.read.HasField("location"):
        return hit.read.location.latitude, hit.read.location.longitude
    return None


@dataclass
class AreaFilter:
    """The area a stream covers now (a moving unit replaces it as it goes). `covers` runs for every
    alert of every stream, so the area is reduced once to plain numbers: a bounding box that turns
    most alerts away with four comparisons, then the exact test."""

    subscription: notify_pb2.Subscription
    refusal: AnprError | None = None  # of a refused move: the stream ends with it
    moves: int = 0  # moves applied (the stream confirms each with a new `opened`)

    def __post_init__(self) -> None:
        self._prepare()

    def _prepare(self) -> None:
        sub = self.subscription
        self._kind = sub.WhichOneof("area")
        self._force = sub.force
        if self._kind == "circle":
            c = sub.circle
            self._circle = (c.center.latitude, c.center.longitude, c.radius_km)
            dlat = c.radius_km / 110.5  # a little more than a degree's length: the box contains the circle
            dlon = c.radius_km / (111.4 * max(0.01, math.cos(math.radians(min(89.9, abs(c.center.latitude) + dlat)))))
            self._box = (
                c.center.latitude - dlat,
                c.center.latitude + dlat,
                c.center.longitude - dlon,
                c.center.longitude + dlon,
            )
        elif self._kind == "polygon":
            self._vertices = [(v.latitude, v.longitude) for v in sub.polygon.vertices]
            lats, lons = [v[0] for v in self._vertices], [v[1] for v in self._vertices]
            self._box = (min(lats), max(lats), min(lons), max(lons))

    def covers(self, place: tuple[float, float] | None, force: str, listing_force: str = "") -> bool:
        """Whether an alert for a read made at `place` (lat, lon; None: unknown) by a camera of
        `force`, on a listing of `listing_force`, is for this stream."""
        if self._kind is None:
            return not self._force or self._force in (force, listing_force)
        if place is None:
            return False  # nowhere known: only force-wide and unfiltered streams get it
        lat, lon = place
        lat_lo, lat_hi, lon_lo, lon_hi = self._box
        if not (lat_lo <= lat <= lat_hi and lon_lo <= lon <= lon_hi):
            return False
        if self._kind == "circle":
            c_lat, c_lon, radius = self._circle
            return distance_km(c_lat, c_lon, lat, lon) <= radius
        return inside_polygon(lat, lon, self._vertices)

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
        self._prepare()
        self.moves += 1
