"""NDM decisions and duty shifts as a commander sends them (services.firearms.ndm)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from anpr.v1 import types_pb2 as T
from services.firearms.ndm import validate_decision, validate_shift
from tests.support import ts

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def test_ndm_entries_are_recorded_stage_by_stage_within_limits():
    assert validate_decision(T.NdmDecision(activation_id="x", threat_assessment="t")) == []
    assert validate_decision(T.NdmDecision(activation_id="x", code_of_ethics="c")) == []
    [(field, why)] = validate_decision(T.NdmDecision(activation_id="x", rationale="only why"))
    assert field == "decision.information" and "at least one stage" in why
    v = dict(
        validate_decision(
            T.NdmDecision(
                activation_id="x",
                information="i",
                options=" ",
                rationale="r" * (16 * 1024 + 1),
                code_of_ethics="a\x00b",
            )
        )
    )
    assert v == {
        "decision.options": "must not be blank",
        "decision.rationale": "at most 16384 bytes of UTF-8",
        "decision.code_of_ethics": "must not contain NUL",
    }


def test_a_shift_needs_an_order_of_people_and_a_sane_span():
    good = T.Shift(
        force="F", starts_at=ts(NOW), ends_at=ts(NOW + timedelta(hours=12)), primary="a", backups=["b"], supervisor="s"
    )
    assert validate_shift(good, "") == []
    bad = T.Shift(
        force="F", starts_at=ts(NOW), ends_at=ts(NOW + timedelta(days=8)), primary="a", backups=["a"], supervisor=""
    )
    assert {f for f, _ in validate_shift(bad, "shifts[0].")} == {
        "shifts[0].supervisor",
        "shifts[0].backups",
        "shifts[0].ends_at",
    }
