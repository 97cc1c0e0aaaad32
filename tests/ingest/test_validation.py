"""Validation of camera reads (services.ingest.validation): every field named, each read alone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from anpr.field_limits import compile_checkers
from anpr.v1 import types_pb2 as T
from services.ingest.validation import validate_read
from tests.support import make_read, ts

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def _violations(read, **kw):
    args = dict(now=NOW, max_skew=timedelta(minutes=5), retention=timedelta(days=365), check=READ_CHECK)
    args.update(kw)
    return dict(validate_read(read, **args)[0])


READ_CHECK = compile_checkers(type("S", (), {"max_image_bytes": 1000})())["anpr.v1.Read"]


def _violations_of(**fields):
    """The violations of a read made now with `fields` changed."""
    return _violations(make_read("AB12CDE", captured_at=ts(NOW), **fields))


def test_what_the_database_would_refuse_is_a_violation_of_that_field_alone():
    v = _violations_of(direction=9, source_id="s\x00", plate_image=b"x" * 1001, heading_degrees=float("inf"))
    assert set(v) == {"direction", "source_id", "plate_image", "heading_degrees"}
    far = make_read("AB12CDE")
    far.captured_at.seconds = 300_000_000_000  # beyond year 9999
    assert set(_violations(far)) == {"captured_at"}


def test_a_good_read_has_no_violations():
    assert _violations_of() == {}


def test_capture_time_window():
    assert "captured_at" in _violations(make_read("AB12CDE", captured_at=ts(NOW + timedelta(minutes=6))))
    assert _violations(make_read("AB12CDE", captured_at=ts(NOW + timedelta(minutes=4)))) == {}
    old = _violations(make_read("AB12CDE", captured_at=ts(NOW - timedelta(days=366))))
    assert "retention" in old["captured_at"]


def test_heading_lane_and_longitude_are_checked():
    v = _violations_of(heading_degrees=400.0, lane=-1, location=T.GeoPoint(latitude=51.0, longitude=-181.0))
    assert set(v) == {"heading_degrees", "lane", "location.longitude"}
