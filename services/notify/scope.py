"""Who may see and act on which alert, decided from the caller's verified identity (the token's
claims: anpr.runtime.auth.Caller), never from what a request says (docs/scope.md).

- A control room sees the alerts of its force: the force of the camera that made the read
  (`Hit.force`) or the force that owns the listing (`VoiEntry.force`); a `national` identity sees
  every force. Covert lists only with covert clearance. A force or area in its subscription only
  narrows that.
- A terminal is its token's unit: it subscribes with a circle around its reported position, at most
  `terminal_max_radius_km` (a setting), and every move is held to the same rule. Inside its circle
  it gets the confirmed alerts of lists that are not covert, whatever the force of the camera (a
  unit in pursuit crosses force boundaries). It acts on (acknowledges, fetches the plate patch of)
  an alert of its own force, or one read inside the circle it last reported.
- A list's covert flag is its current one (`Flags`), not the one it had when an alert was stored: a
  list made covert hides its earlier alerts too.
"""

from __future__ import annotations

from dataclasses import dataclass

from anpr.runtime.auth import Caller, Role
from anpr.runtime.errors import PermissionDenied
from anpr.scope import check_scoped, in_scope
from anpr.v1 import notify_pb2, types_pb2
from services.notify.areas import MAX_RADIUS_KM, distance_km, place_of


class Flags:
    """The newest covert flag known for each list (this replica's copy of notify.hotlist_flags):
    learnt from the lists matcher publishes and from every alert's own copy of its list."""

    def __init__(self) -> None:
        self._lists: dict[str, tuple[int, bool]] = {}  # hotlist id -> (version, covert)

    def learn(self, hotlist_id: str, version: int, covert: bool) -> bool:
        """Take a list's flag at `version` if newer than what is known; True when it was."""
        known = self._lists.get(hotlist_id)
        if known is not None and known[0] >= version:
            return False
        self._lists[hotlist_id] = (version, covert)
        return True

    def covert(self, hotlist_id: str, version: int, stored: bool) -> bool:
        """Whether an alert of `hotlist_id` (stored with the list at `version`, covert `stored`)
        is covert now. A list's flag without a version (0) is no more than what the alert says."""
        known = self._lists.get(hotlist_id)
        if known is None or known[0] == 0 or known[0] < version:
            return stored
        return known[1]


@dataclass(frozen=True, slots=True)
class Scope:
    """What one verified caller may see of the alert log."""

    caller: Caller
    max_radius_km: float

    @property
    def terminal(self) -> bool:
        return self.caller.role == Role.TERMINAL

    def check_identity(self) -> None:
        """PermissionDenied for an identity whose token lacks the claims its role needs."""
        c = self.caller
        if self.terminal and not (c.unit and c.force):
            raise PermissionDenied("this terminal's token names no unit and force")
        if not self.terminal:
            check_scoped(c)

    def sees(self, covert: bool, camera_force: str, listing_force: str) -> bool:
        """Whether a (control room's, administrator's) caller sees an alert, the area aside."""
        return (self.caller.covert or not covert) and in_scope(self.caller, camera_force, listing_force)

    def subscription(self, sub: notify_pb2.Subscription, prefix: str = "subscription.") -> notify_pb2.Subscription:
        """The subscription in force for a (first or later) request: a terminal's unit and force
        from its token. PermissionDenied when it names another unit or force than the token's."""
        c = self.caller
        if self.terminal:
            if sub.unit_id not in ("", c.unit) or sub.force not in ("", c.force):
                raise PermissionDenied(f"{prefix}unit_id, {prefix}force: this token is unit {c.unit} of {c.force}")
            in_force = notify_pb2.Subscription()
            in_force.CopyFrom(sub)
            in_force.unit_id, in_force.force = c.unit, c.force
            return in_force
        if sub.force and not c.national and sub.force != c.force:
            raise PermissionDenied(f"{prefix}force: this identity sees {c.force} only")
        return sub

    def terminal_problems(self, sub: notify_pb2.Subscription, prefix: str = "subscription.") -> list[tuple[str, str]]:
        """A terminal's area is a circle within the limit, in every request (field violations)."""
        if not self.terminal:
            return []
        if sub.WhichOneof("area") != "circle":
            return [(prefix + "circle", "required for a terminal: its position and radius")]
        if self.max_radius_km < sub.circle.radius_km <= MAX_RADIUS_KM:  # beyond: an area problem already
            return [(prefix + "circle.radius_km", f"at most {self.max_radius_km:g} km for a terminal")]
        return []

    def may_act(self, alert: types_pb2.Alert, covert: bool, position: tuple[float, float, float] | None) -> bool:
        """Whether the caller may act on `alert` (acknowledge it, fetch its plate patch): a terminal
        on one of its force or read inside the circle it last reported (`position`: latitude,
        longitude, radius); anyone else on one it sees."""
        hit = alert.hit
        if not self.terminal:
            return self.sees(covert, hit.force, hit.entry.force)
        if covert or hit.tier == types_pb2.MATCH_TIER_POSSIBLE:
            return False
        if self.caller.force in (hit.force, hit.entry.force):
            return True
        place = place_of(hit)
        if position is None or place is None:
            return False
        lat, lon, radius = position
        return distance_km(lat, lon, *place) <= radius
