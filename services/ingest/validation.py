"""Validation of camera reads (DOMAIN.md). A bad read is rejected alone, naming each field."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from anpr.field_limits import Checker
from anpr.geo import point_problems
from anpr.v1 import types_pb2
from anpr.vrm import MAX_VRM_LENGTH, is_valid_vrm, normalise_vrm

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def timestamp_utc(ts) -> datetime:
    """A protobuf Timestamp as an aware UTC datetime (faster than Timestamp.ToDatetime)."""
    return _EPOCH + timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1000)


def validate_read(
    read: types_pb2.Read,
    *,
    now: datetime,
    max_skew: timedelta,
    retention: timedelta,
    check: Checker | None,
    prefix: str = "",
) -> tuple[list[tuple[str, str]], str, datetime | None]:
    """(field violations, normalised VRM, capture time) of one read; `prefix` is its path in the
    request (e.g. 'reads[3].'). `check` is the contract's checker of anpr.v1.Read (anpr/field_limits.py:
    lengths, image sizes, NUL, enum values, timestamp range, finite numbers), None when the read was
    checked at the edge already (SubmitRead's); a field it finds malformed gets no second violation."""
    errors: list[tuple[str, str]] = []
    if check is not None:
        check(read, prefix, errors)
    malformed = {f for f, _ in errors}
    vrm = normalise_vrm(read.vrm)
    captured = None
    found = _identity_problems(read, vrm)
    if not read.HasField("captured_at"):
        found.append(("captured_at", "required"))
    elif prefix + "captured_at" not in malformed:
        captured = timestamp_utc(read.captured_at)
        found += _time_problems(captured, now, max_skew, retention)
    found += _measure_problems(read)
    errors += [(prefix + field, why) for field, why in found if prefix + field not in malformed]
    return errors, vrm, captured


def _identity_problems(read: types_pb2.Read, vrm: str) -> list[tuple[str, str]]:
    out = []
    if not read.read_id:
        out.append(("read_id", "required"))
    if not vrm:
        out.append(("vrm", "required"))
    elif not is_valid_vrm(vrm):
        out.append(("vrm", f"must be 1-{MAX_VRM_LENGTH} letters A-Z or digits 0-9 after removing spaces"))
    if not read.camera_id:
        out.append(("camera_id", "required"))
    return out


def _time_problems(
    captured: datetime, now: datetime, max_skew: timedelta, retention: timedelta
) -> list[tuple[str, str]]:
    if captured > now + max_skew:
        return [("captured_at", f"more than {int(max_skew.total_seconds())} s in the future")]
    if captured < now - retention:
        return [("captured_at", f"older than the retention period ({retention.days} days)")]
    return []


def _measure_problems(read: types_pb2.Read) -> list[tuple[str, str]]:
    out = point_problems(read.location, "location") if read.HasField("location") else []
    if not 0.0 <= read.confidence <= 100.0:
        out.append(("confidence", "must be between 0 and 100"))
    if not 0.0 <= read.heading_degrees <= 360.0:
        out.append(("heading_degrees", "must be between 0 and 360"))
    if read.lane < 0:
        out.append(("lane", "must not be negative"))
    return out
