"""The control room's budget of POSSIBLE alerts: how many an hour a force's room can look at.

Why here, in notify, and not in matcher before publishing: the budget is the control room's, and the
control room is notify's subscriber (its force is the reading camera's, `Hit.force`, which is what a
room subscribes by); notify already serialises every append on one advisory lock, so the budget of
a force is decided exactly, across all replicas, inside the append's transaction, with no lock or
hot row added to matcher's hit-recording transaction; and what is held back is kept beside the
alert log it would have joined (``possible_alerts``), counted in GetAlertStats and the metric
``anpr_possible_alerts_held_total{reason="budget"}``, never silently dropped.

The rule, per force with a budget B an hour, for each POSSIBLE alert in arrival order:

* firearms-marked entries are never held back (they count towards the hour);
* at most B are let through in any hour (a sliding window of the last 60 minutes);
* within it the best-supported go first: when more than B arrived in the last hour, an alert goes
  only if its score is at least that of the B-th best of that hour's arrivals (itself included),
  so the room's hour is spent on the likeliest matches rather than the first ones;
* CONFIRMED alerts are never touched (terminals and the room get them all).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from anpr.v1 import types_pb2
from services.notify import store


@dataclass(frozen=True)
class Budgets:
    """POSSIBLE alerts an hour per force (0: no budget)."""

    default: int = 0
    by_force: dict[str, int] = field(default_factory=dict)

    def of(self, force: str) -> int:
        return self.by_force.get(force, self.default)


def _is_firearms(hit: types_pb2.Hit) -> bool:
    return types_pb2.WARNING_MARKER_FIREARMS in hit.entry.warning_markers


def _possible(hits: list[types_pb2.Hit]) -> list[types_pb2.Hit]:
    return [h for h in hits if h.tier == types_pb2.MATCH_TIER_POSSIBLE]


def concerns(hits: list[types_pb2.Hit]) -> bool:
    """Whether `hold_back` has anything to decide (a POSSIBLE hit): else it answers without a query."""
    return bool(_possible(hits))


async def hold_back(conn, hits: list[types_pb2.Hit], budgets: Budgets) -> tuple[set[str], int]:
    """In the append's transaction (under its lock): record each new POSSIBLE alert, decide which
    are held back, and return the ids of the hits held back now or before (a re-delivered hit is
    answered as it was) with how many were held back now."""
    possible = _possible(hits)
    if not possible:
        return set(), 0
    await store.lock_appends(conn)
    ids = [h.hit_id for h in possible]
    known = await store.possible_known(conn, ids)
    alerted = await store.alerts_known(conn, ids)
    held = {hit_id for hit_id, was_held in known.items() if was_held}
    before = len(held)
    for hit in possible:
        if hit.hit_id in known or hit.hit_id in alerted:
            continue
        budget = budgets.of(hit.force)
        hold = not _is_firearms(hit) and budget > 0 and not await _within(conn, hit, budget)
        await store.record_possible(conn, hit, hold)
        known[hit.hit_id] = hold
        if hold:
            held.add(hit.hit_id)
    return held, len(held) - before


async def _within(conn, hit: types_pb2.Hit, budget: int) -> bool:
    """Whether the hit goes within its force's budget (module docstring)."""
    admitted, arrivals = await store.possible_last_hour(conn, hit.force)
    if admitted >= budget:
        return False
    if arrivals < budget:
        return True
    bar = await store.possible_bar(conn, hit.force, budget, hit.score)
    return bar is None or hit.score >= bar
