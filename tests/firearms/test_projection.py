"""An activation folded from its log entries (services.firearms.projection): what each kind of entry
changes, and the row fields an edit outside the log leaves different."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from anpr.v1 import types_pb2 as T
from services.firearms import eventlog, projection
from services.firearms.eventlog import Entry

K = T.ActivationEventKind
AT = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
AID = uuid.uuid4()
HIT = b"the hit"
RAISED = {
    "hit_id": "h1",
    "entry_id": "e1",
    "hit_sha256": hashlib.sha256(HIT).hexdigest(),
    "force": "Test Police",
    "area": "",
    "chain": ["tfc-a", "tfc-b", "sup-1"],
    "to": "tfc-a",
    "level": 0,
    "due_at": eventlog.iso(AT + timedelta(seconds=60)),
}


def fold(*steps: tuple[int, str, tuple[str, ...], dict]) -> projection.State:
    s = None
    for i, (kind, actor, audience, payload) in enumerate(steps):
        s = projection.apply(s, Entry(AID, kind, actor, audience, payload), AT + timedelta(seconds=i))
    return s


def test_each_kind_of_entry_makes_the_activation_it_describes():
    raised = fold((K.ACTIVATION_EVENT_KIND_RAISED, "svc", ("tfc-a",), RAISED))
    assert (raised.state, raised.assigned_to, raised.told, raised.level) == (
        T.ACTIVATION_STATE_RAISED,
        "tfc-a",
        ("tfc-a",),
        0,
    )
    assert raised.deadline_at == AT + timedelta(seconds=60) and raised.raised_at == AT
    escalated = {"from": "tfc-a", "to": "tfc-b", "level": 1, "due_at": eventlog.iso(AT + timedelta(minutes=2))}
    s = fold(
        (K.ACTIVATION_EVENT_KIND_RAISED, "svc", ("tfc-a",), RAISED),
        (K.ACTIVATION_EVENT_KIND_SIGHTING, "svc", ("tfc-a",), {"hit_id": "h2", "entry_id": "e1", "hit_sha256": "x"}),
        (K.ACTIVATION_EVENT_KIND_ESCALATED, "svc", ("tfc-a", "tfc-b"), escalated),
        (K.ACTIVATION_EVENT_KIND_ACKNOWLEDGED, "tfc-b", ("tfc-a", "tfc-b"), {}),
        (K.ACTIVATION_EVENT_KIND_DECISION_RECORDED, "tfc-b", ("tfc-a", "tfc-b"), {"outcome": 2}),
        (K.ACTIVATION_EVENT_KIND_PLATE_PATCH_VIEWED, "tfc-b", ("tfc-a", "tfc-b"), {"hit_id": "h1"}),
        (K.ACTIVATION_EVENT_KIND_CLOSE_REQUESTED, "tfc-b", ("tfc-a", "tfc-b"), {"outcome": 2, "summary": "Observed"}),
        (K.ACTIVATION_EVENT_KIND_SIGNED_OFF, "sup-1", ("tfc-a", "tfc-b"), {"remarks": ""}),
    )
    assert s.state == T.ACTIVATION_STATE_CLOSED and s.deadline_at is None
    assert (s.level, s.assigned_to, s.told) == (1, "tfc-b", ("tfc-a", "tfc-b"))
    assert (s.acknowledged_by, s.acknowledged_at) == ("tfc-b", AT + timedelta(seconds=3))
    assert (s.decision_count, s.sighting_count, s.outcome, s.close_summary) == (1, 1, 2, "Observed")
    assert (s.close_requested_by, s.signed_off_by, s.signed_off_at) == ("tfc-b", "sup-1", AT + timedelta(seconds=7))


def test_an_unassigned_activation_gets_its_chain_when_assigned():
    waiting = {k: RAISED[k] for k in ("hit_id", "entry_id", "hit_sha256", "force", "area")}
    s = fold((K.ACTIVATION_EVENT_KIND_UNASSIGNED, "svc", (), waiting))
    assert (s.state, s.told, s.chain, s.deadline_at) == (T.ACTIVATION_STATE_UNASSIGNED, (), (), None)
    assigned = {"chain": ["tfc-c", "sup-1"], "to": "tfc-c", "level": 0, "due_at": RAISED["due_at"]}
    s = projection.apply(s, Entry(AID, K.ACTIVATION_EVENT_KIND_ASSIGNED, "svc", ("tfc-c",), assigned), AT)
    assert (s.state, s.chain, s.assigned_to, s.told) == (
        T.ACTIVATION_STATE_RAISED,
        ("tfc-c", "sup-1"),
        "tfc-c",
        ("tfc-c",),
    )


def row_of(s: projection.State, **edits) -> dict:
    row = dict(zip(projection.PROJECTED, projection.row_values(s), strict=True)) | {"hit": HIT}
    return row | edits


def test_differences_name_every_field_edited_outside_the_log_and_a_changed_hit():
    s = fold((K.ACTIVATION_EVENT_KIND_RAISED, "svc", ("tfc-a",), RAISED))
    assert projection.differences(row_of(s), s) == []
    edited = row_of(s, outcome=1, told=["tfc-a", "tfc-x"], signed_off_by="sup-1", hit=b"another hit")
    assert projection.differences(edited, s) == ["told", "outcome", "signed_off_by", "hit"]


def test_the_retry_time_of_a_waiting_activation_is_not_the_logs_to_check():
    waiting = {k: RAISED[k] for k in ("hit_id", "entry_id", "hit_sha256", "force", "area")}
    s = fold((K.ACTIVATION_EVENT_KIND_UNASSIGNED, "svc", (), waiting))
    assert projection.differences(row_of(s, deadline_at=AT + timedelta(seconds=5)), s) == []
    raised = fold((K.ACTIVATION_EVENT_KIND_RAISED, "svc", ("tfc-a",), RAISED))
    assert projection.differences(row_of(raised, deadline_at=None), raised) == ["deadline_at"]
    assert replace(raised, deadline_at=None) != raised


def test_rows_from_before_seals_may_hold_their_times_a_moment_apart_from_their_entries():
    s = replace(fold((K.ACTIVATION_EVENT_KIND_RAISED, "svc", ("tfc-a",), RAISED)), raised_sequence=3)
    moment = row_of(s, raised_at=AT - timedelta(milliseconds=4))
    assert projection.differences(moment, s, sealed_from=10) == []  # written before seals: the same event
    assert projection.differences(moment, s, sealed_from=1) == ["raised_at"]  # folded from the log since
    assert projection.differences(row_of(s, raised_at=AT - timedelta(minutes=1)), s, sealed_from=10) == ["raised_at"]
