"""Cost of the contract checks on the read path: the compiled checker of anpr.v1.Read (limits, NUL,
enums, timestamps, finite numbers), the whole validation of a read (checker plus domain rules), and
for comparison a generic walk over the descriptors (what the compiled checker avoids).

    .venv/bin/python benchmarks/limits_bench.py

The last line is name=value pairs (microseconds per read).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from google.protobuf.descriptor import FieldDescriptor

from anpr.field_limits import compile_checkers, limit_of
from anpr.v1 import types_pb2 as T
from services.ingest.validation import validate_read

N = 200_000


def sample_read() -> T.Read:
    read = T.Read(
        read_id="acme-cam17-000001",
        vrm="KX19 ZTB",
        confidence=92.5,
        camera_id="CAM-M4-J12",
        source_id="feed-2",
        direction=T.DIRECTION_TOWARDS,
        heading_degrees=90,
        lane=2,
        vehicle=T.VehicleDescription(make="Ford", model="Focus", colour="Blue"),
        plate_country="GB",
    )
    read.captured_at.FromDatetime(datetime.now(timezone.utc))
    read.location.latitude, read.location.longitude = 51.46, -0.97
    return read


def generic_walk(msg, out: list) -> None:
    for f, value in msg.ListFields():
        limit = limit_of(msg.DESCRIPTOR.full_name, f.name)
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            if f.message_type.full_name != "google.protobuf.Timestamp":
                generic_walk(value, out)
        elif f.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
            n = limit.max if limit and isinstance(limit.max, int) else 1 << 20
            if len(value) > n or (f.type == FieldDescriptor.TYPE_STRING and "\x00" in value):
                out.append(f.name)


def per_read_us(fn) -> float:
    start = time.perf_counter()
    for _ in range(N):
        fn()
    return (time.perf_counter() - start) / N * 1e6


def main() -> None:
    read = sample_read()
    check = compile_checkers()["anpr.v1.Read"]
    now = datetime.now(timezone.utc)
    skew, retention = timedelta(minutes=5), timedelta(days=365)
    compiled = per_read_us(lambda: check(read, "", []))
    whole = per_read_us(lambda: validate_read(read, now=now, max_skew=skew, retention=retention, check=check))
    walk = per_read_us(lambda: generic_walk(read, []))
    print(
        f"compiled checker: {compiled:.2f} us/read; whole validation: {whole:.2f} us/read; "
        f"generic descriptor walk (lengths only): {walk:.2f} us/read"
    )
    print(
        f"limits_check_us={compiled:.2f} validate_read_us={whole:.2f} generic_walk_us={walk:.2f} "
        f"reads_per_s_one_core={1e6 / whole:,.0f}"
    )


if __name__ == "__main__":
    main()
