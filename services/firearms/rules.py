"""Who may do what to an activation, and when (pure: a row of `activations` and the caller).

Each check returns when the caller may, and raises the domain error the caller is answered with
when not: NotFound for an activation the caller may not see (exactly as for one that does not
exist), then PermissionDenied or FailedPrecondition for what they may see but not do."""

from __future__ import annotations

from anpr.runtime.auth import Caller, Role
from anpr.runtime.errors import FailedPrecondition, NotFound, PermissionDenied
from anpr.scope import in_scope
from anpr.v1 import types_pb2 as T

_WORKABLE = (T.ACTIVATION_STATE_ACKNOWLEDGED, T.ACTIVATION_STATE_DECIDED)
_UNACKNOWLEDGED = (T.ACTIVATION_STATE_RAISED, T.ACTIVATION_STATE_ESCALATED, T.ACTIVATION_STATE_UNASSIGNED)


def is_supervisor(caller: Caller) -> bool:
    return caller.role == Role.TFC_SUPERVISOR


def sees(row, caller: Caller) -> bool:
    """A commander sees the activations they have been told of; a supervisor those of their force
    (`national`: every force's)."""
    return caller.subject in row["told"] or (is_supervisor(caller) and in_scope(caller, row["force"]))


def check_see(row, caller: Caller, what: str = "activation_id") -> None:
    if not sees(row, caller):
        raise NotFound(f"{what}: no such activation")


def check_acknowledge(row, caller: Caller) -> None:
    check_see(row, caller)  # first acknowledgement wins; later ones (who may see it) get it as it is


def check_work(row, caller: Caller, what: str) -> None:
    """Record a decision or ask to close: the owner (who acknowledged), or a supervisor."""
    check_see(row, caller, what)
    if row["state"] in _UNACKNOWLEDGED:
        raise FailedPrecondition(f"{what}: acknowledge the activation first")
    if row["state"] not in _WORKABLE:
        raise FailedPrecondition(f"{what}: the activation is closing or closed")
    if caller.subject != row["acknowledged_by"] and not is_supervisor(caller):
        raise PermissionDenied(f"{what}: only {row['acknowledged_by']} (or a supervisor) may")


def check_sign_off(row, caller: Caller) -> None:
    """A different, supervising person: not who asked to close, nor who owns the activation."""
    check_see(row, caller)
    if row["state"] != T.ACTIVATION_STATE_AWAITING_SIGN_OFF:
        raise FailedPrecondition("activation_id: not awaiting sign-off (close it first)")
    if not is_supervisor(caller):
        raise PermissionDenied("sign-off needs a supervisor (role tfc_supervisor)")
    if caller.subject in (row["close_requested_by"], row["acknowledged_by"]):
        raise PermissionDenied("sign-off must be by a different person from the one who closed")
