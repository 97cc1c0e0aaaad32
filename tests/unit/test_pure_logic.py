"""Pure logic: VRM normalisation, read validation, NDM validation, tokens, config errors, hit ids."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from anpr.field_limits import compile_checkers
from anpr.runtime.auth import Caller, Role, TokenRegistry, hash_token
from anpr.runtime.config import ConfigError, load
from anpr.v1 import types_pb2 as T
from anpr.vrm import is_valid_vrm, normalise_vrm
from services.firearms.ndm import validate_decision
from services.ingest.config import IngestSettings
from services.ingest.validation import validate_read
from services.matcher.server import hit_id_for, vehicle_mismatches
from tests.support import make_read, ts

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("raw, norm", [("ab12 cde", "AB12CDE"), (" AB-12.CDE ", "AB12CDE"), ("x", "X"), ("", "")])
def test_normalise_vrm(raw, norm):
    assert normalise_vrm(raw) == norm


@pytest.mark.parametrize(
    "vrm, ok",
    [
        ("AB12CDE", True),
        ("A", True),
        ("ABCDEFGHIJ", True),
        ("ABCDEFGHIJK", False),
        ("AB12CD*", False),
        ("", False),
        ("ÄB12", False),
    ],
)
def test_is_valid_vrm(vrm, ok):
    assert is_valid_vrm(vrm) is ok


def _violations(read, **kw):
    args = dict(now=NOW, max_skew=timedelta(minutes=5), retention=timedelta(days=365), check=READ_CHECK)
    args.update(kw)
    return dict(validate_read(read, **args)[0])


READ_CHECK = compile_checkers(type("S", (), {"max_image_bytes": 1000})())["anpr.v1.Read"]


def test_what_the_database_would_refuse_is_a_violation_of_that_field_alone():
    v = _violations(
        make_read(
            "AB12CDE",
            captured_at=ts(NOW),
            direction=9,
            source_id="s\x00",
            plate_image=b"x" * 1001,
            heading_degrees=float("inf"),
        )
    )
    assert set(v) == {"direction", "source_id", "plate_image", "heading_degrees"}
    far = make_read("AB12CDE")
    far.captured_at.seconds = 300_000_000_000  # beyond year 9999
    assert set(_violations(far)) == {"captured_at"}


def test_a_good_read_has_no_violations():
    assert _violations(make_read("AB12CDE", captured_at=ts(NOW))) == {}


def test_capture_time_window():
    assert "captured_at" in _violations(make_read("AB12CDE", captured_at=ts(NOW + timedelta(minutes=6))))
    assert _violations(make_read("AB12CDE", captured_at=ts(NOW + timedelta(minutes=4)))) == {}
    old = _violations(make_read("AB12CDE", captured_at=ts(NOW - timedelta(days=366))))
    assert "retention" in old["captured_at"]


def test_heading_lane_and_longitude_are_checked():
    v = _violations(
        make_read(
            "AB12CDE",
            captured_at=ts(NOW),
            heading_degrees=400.0,
            lane=-1,
            location=T.GeoPoint(latitude=51.0, longitude=-181.0),
        )
    )
    assert set(v) == {"heading_degrees", "lane", "location.longitude"}


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
    from services.firearms.ndm import validate_shift

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


def test_the_log_hash_covers_every_field_and_the_previous_hash():
    from services.firearms.eventlog import GENESIS, entry_hash

    args = (GENESIS, 1, "a1", 5, "tfc-a", NOW, ["tfc-a"], '{"x":1}')
    base = entry_hash(*args)
    assert base == entry_hash(*args) and len(base) == 64
    for i, other in enumerate(("1" * 64, 2, "a2", 6, "tfc-b", NOW + timedelta(microseconds=1), ["tfc-b"], '{"x":2}')):
        assert entry_hash(*args[:i], other, *args[i + 1 :]) != base, i


def test_token_registry_round_trip_stores_hashes_only(tmp_path):
    path = tmp_path / "tokens.json"
    TokenRegistry.write_file(path, [("s3cret-token", Role.CAMERA, "cam-vendor-1")])
    assert "s3cret-token" not in path.read_text() and hash_token("s3cret-token") in path.read_text()
    reg = TokenRegistry.from_file(path)
    assert reg.authenticate([("authorization", "Bearer s3cret-token")]) == Caller(Role.CAMERA, "cam-vendor-1")
    assert reg.authenticate([("authorization", "Bearer wrong")]) is None
    assert reg.authenticate([]) is None


def test_missing_setting_fails_at_start_naming_it(monkeypatch, tmp_path):
    monkeypatch.setenv("ANPR_TOKENS_FILE", str(tmp_path / "t.json"))
    monkeypatch.delenv("ANPR_MATCHER_ADDR", raising=False)
    monkeypatch.delenv("ANPR_SERVICE_TOKEN", raising=False)
    monkeypatch.setenv("ANPR_GRPC_PORT", "not-a-port")
    with pytest.raises(ConfigError) as err:
        load(IngestSettings)
    text = str(err.value)
    assert "ANPR_MATCHER_ADDR is not set" in text and "ANPR_SERVICE_TOKEN is not set" in text
    assert "ANPR_GRPC_PORT" in text


def test_hit_id_is_deterministic_per_read_and_entry():
    assert hit_id_for("r1", "e1") == hit_id_for("r1", "e1")
    assert len({hit_id_for("r1", "e1"), hit_id_for("r1", "e2"), hit_id_for("r2", "e1")}) == 3


def test_vehicle_mismatch_only_where_both_sides_know():
    read = T.VehicleDescription(make="ford", model="", colour="Red")
    entry = T.VehicleDescription(make="Ford", model="Focus", colour="Blue")
    assert vehicle_mismatches(read, entry) == ["colour"]
