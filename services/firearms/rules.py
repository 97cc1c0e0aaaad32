"""Who may do what to an activation, and when (pure: a row of `activations` and the caller)."""

from __future__ import annotations

import grpc

from anpr.runtime.auth import Caller, Role
from anpr.v1 import types_pb2 as T

Refusal = tuple[grpc.StatusCode, str] | None

_WORKABLE = (T.ACTIVATION_STATE_ACKNOWLEDGED, T.ACTIVATION_STATE_DECIDED)


def is_supervisor(caller: Caller) -> bool:
    return caller.role == Role.TFC_SUPERVISOR


def may_see(row, caller: Caller) -> Refusal:
    """A commander sees the activations they have been told of; a supervisor sees all."""
    if is_supervisor(caller) or caller.subject in row["told"]:
        return None
    return grpc.StatusCode.PERMISSION_DENIED, "activation_id: you have not been told of this activation"


def may_acknowledge(row, caller: Caller) -> Refusal:
    if row["acknowledged_by"] is not None:
        return None  # first acknowledgement wins; later ones see it
    return may_see(row, caller)


def may_work(row, caller: Caller, what: str) -> Refusal:
    """Record a decision or ask to close: the owner (who acknowledged), or a supervisor."""
    if row["state"] in (T.ACTIVATION_STATE_RAISED, T.ACTIVATION_STATE_ESCALATED, T.ACTIVATION_STATE_UNASSIGNED):
        return grpc.StatusCode.FAILED_PRECONDITION, f"{what}: acknowledge the activation first"
    if row["state"] not in _WORKABLE:
        return grpc.StatusCode.FAILED_PRECONDITION, f"{what}: the activation is closing or closed"
    if caller.subject != row["acknowledged_by"] and not is_supervisor(caller):
        return grpc.StatusCode.PERMISSION_DENIED, f"{what}: only {row['acknowledged_by']} (or a supervisor) may"
    return None


def may_sign_off(row, caller: Caller) -> Refusal:
    """A different, supervising person: not who asked to close, nor who owns the activation."""
    if row["state"] != T.ACTIVATION_STATE_AWAITING_SIGN_OFF:
        return grpc.StatusCode.FAILED_PRECONDITION, "activation_id: not awaiting sign-off (close it first)"
    if not is_supervisor(caller):
        return grpc.StatusCode.PERMISSION_DENIED, "sign-off needs a supervisor (role tfc_supervisor)"
    if caller.subject in (row["close_requested_by"], row["acknowledged_by"]):
        return grpc.StatusCode.PERMISSION_DENIED, "sign-off must be by a different person from the one who closed"
    return None
