"""Alerts as the streams hold them (made once per replica, shared by every stream), and each
caller's view of one: the whole alert, the operational subset a terminal sees, or nothing."""

from __future__ import annotations

from dataclasses import dataclass

from anpr.v1 import types_pb2
from services.notify.areas import place_of
from services.notify.scope import Flags, Scope

# What an in-car terminal sees of an entry and its list: the operational subset an officer needs
# (documented in protos/anpr/v1/notify.proto and the README); everything else is withheld.
TERMINAL_ENTRY_FIELDS = frozenset(
    {
        "entry_id",
        "hotlist_id",
        "vrm",
        "vehicle",
        "action",
        "warning_markers",
        "reason",
        "information",
        "pnc_id",
        "operational_instructions",
        "source_reference",
    }
)
TERMINAL_HOTLIST_FIELDS = frozenset({"hotlist_id", "name", "source"})


def _keep_only(message, names: frozenset[str]) -> None:
    for field in message.DESCRIPTOR.fields:
        if field.name not in names:
            message.ClearField(field.name)


def terminal_view(alert: types_pb2.Alert) -> types_pb2.Alert | None:
    """What a terminal may see of an alert whose list is not covert (the list's flag is judged
    when the alert is shown, by its current value): None for a possible match."""
    if alert.hit.tier == types_pb2.MATCH_TIER_POSSIBLE:
        return None  # a possible match is the control room's to confirm, never a patrol's
    view = types_pb2.Alert()
    view.CopyFrom(alert)
    _keep_only(view.hit.entry, TERMINAL_ENTRY_FIELDS)
    _keep_only(view.hit.hotlist, TERMINAL_HOTLIST_FIELDS)
    return view


@dataclass(frozen=True, slots=True)
class AlertItem:
    """An alert as held in the log tail: the full alert, what a terminal may see of it, where and
    by which force's camera its read was made, and the force and list of its listing."""

    full: types_pb2.Alert
    terminal: types_pb2.Alert | None
    place: tuple[float, float] | None
    force: str  # the camera's
    listing_force: str
    hotlist_id: str
    version: int  # of the list, as the alert carries it

    @classmethod
    def of(cls, alert: types_pb2.Alert) -> AlertItem:
        hit = alert.hit
        return cls(
            alert,
            terminal_view(alert),
            place_of(hit),
            hit.force,
            hit.entry.force,
            hit.hotlist.hotlist_id,
            hit.hotlist.version,
        )


class Viewer:
    """One caller's view of the alert log: its scope, with the lists' flags as they are now."""

    __slots__ = ("_flags", "scope")

    def __init__(self, scope: Scope, flags: Flags):
        self.scope = scope
        self._flags = flags

    def __call__(self, item: AlertItem) -> types_pb2.Alert | None:
        """The alert as the caller may see it (the area aside), or None."""
        covert = self._flags.covert(item.hotlist_id, item.version, item.full.covert)
        if self.scope.terminal:
            return None if covert else item.terminal
        if not self.scope.sees(covert, item.force, item.listing_force):
            return None
        if covert == item.full.covert:
            return item.full
        view = types_pb2.Alert()  # the list's flag changed since: say so
        view.CopyFrom(item.full)
        view.covert = covert
        return view
