"""Who may do what to an activation (services.firearms.rules): the error each refusal answers with
(NOT_FOUND, exactly as for an activation that does not exist, for one the caller may not see)."""

from __future__ import annotations

import pytest

from anpr.runtime.auth import Caller, Role
from anpr.runtime.errors import FailedPrecondition, NotFound, PermissionDenied
from anpr.v1 import types_pb2 as T
from services.firearms import rules

TFC_A = Caller(Role.TFC, "tfc-a", force="Test Police")
TFC_B = Caller(Role.TFC, "tfc-b", force="Test Police")
SUPERVISOR = Caller(Role.TFC_SUPERVISOR, "sup", force="Test Police")
OTHER_SUPERVISOR = Caller(Role.TFC_SUPERVISOR, "sup-b", force="Another Police")
NATIONAL_SUPERVISOR = Caller(Role.TFC_SUPERVISOR, "sup-n", national=True)


def row(state=T.ACTIVATION_STATE_RAISED, told=("tfc-a",), acknowledged_by=None, close_requested_by=None):
    return {
        "state": state,
        "told": list(told),
        "acknowledged_by": acknowledged_by,
        "close_requested_by": close_requested_by,
        "force": "Test Police",
    }


def test_a_commander_sees_what_they_were_told_of_and_a_supervisor_their_forces():
    rules.check_see(row(), TFC_A)
    rules.check_see(row(), SUPERVISOR)
    rules.check_see(row(), NATIONAL_SUPERVISOR)
    for outsider in (TFC_B, OTHER_SUPERVISOR):
        with pytest.raises(NotFound, match=r"^activation_id: no such activation$"):
            rules.check_see(row(), outsider)


def test_an_acknowledged_activation_may_be_acknowledged_again_by_one_who_sees_it():
    with pytest.raises(NotFound):
        rules.check_acknowledge(row(), TFC_B)
    rules.check_acknowledge(row(acknowledged_by="tfc-a", told=("tfc-a", "tfc-b")), TFC_B)
    with pytest.raises(NotFound):
        rules.check_acknowledge(row(acknowledged_by="tfc-a"), TFC_B)


def test_only_the_owner_or_a_supervisor_works_on_an_acknowledged_activation():
    with pytest.raises(FailedPrecondition, match=r"^activation_id: acknowledge the activation first$"):
        rules.check_work(row(), TFC_A, "activation_id")
    owned = row(T.ACTIVATION_STATE_ACKNOWLEDGED, acknowledged_by="tfc-a")
    rules.check_work(owned, TFC_A, "activation_id")
    rules.check_work(owned, SUPERVISOR, "activation_id")
    with pytest.raises(NotFound, match=r"^decision.activation_id: no such activation$"):
        rules.check_work(owned, TFC_B, "decision.activation_id")
    told_both = row(T.ACTIVATION_STATE_ACKNOWLEDGED, told=("tfc-a", "tfc-b"), acknowledged_by="tfc-a")
    with pytest.raises(PermissionDenied, match=r"^decision.activation_id: only tfc-a \(or a supervisor\) may$"):
        rules.check_work(told_both, TFC_B, "decision.activation_id")
    with pytest.raises(FailedPrecondition, match="closing or closed"):
        rules.check_work(row(T.ACTIVATION_STATE_CLOSED, acknowledged_by="tfc-a"), TFC_A, "activation_id")


def test_sign_off_is_by_another_supervisor_once_closing_was_asked_for():
    closing = row(T.ACTIVATION_STATE_AWAITING_SIGN_OFF, acknowledged_by="tfc-a", close_requested_by="tfc-a")
    rules.check_sign_off(closing, SUPERVISOR)
    with pytest.raises(PermissionDenied, match="needs a supervisor"):
        rules.check_sign_off(closing, TFC_A)
    with pytest.raises(PermissionDenied, match="different person"):
        rules.check_sign_off(closing, Caller(Role.TFC_SUPERVISOR, "tfc-a", force="Test Police"))
    with pytest.raises(NotFound):
        rules.check_sign_off(closing, OTHER_SUPERVISOR)
    with pytest.raises(FailedPrecondition, match="not awaiting sign-off"):
        rules.check_sign_off(row(T.ACTIVATION_STATE_DECIDED, acknowledged_by="tfc-a"), SUPERVISOR)
