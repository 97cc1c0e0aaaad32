"""Every string, bytes and repeated field of every contract has a limit in anpr/field_limits.py, and its
.proto comment states it; the compiled checkers find what the database or a client would refuse."""

from __future__ import annotations

import subprocess

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FieldDescriptor

from anpr.field_limits import LIMITS, compile_checkers, contract_messages, describe, limit_of, violations_of
from anpr.v1 import firearms_pb2, ingest_pb2, types_pb2
from tests.contracts.test_contracts import ROOT, buf


def _needs_limit(field: FieldDescriptor) -> bool:
    return field.is_repeated or field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES)


def _field_comments(tmp_path) -> dict[tuple[str, str], str]:
    """(message full name, field) -> leading comment, from `buf build` (which keeps source info)."""
    out = tmp_path / "image.binpb"
    subprocess.run([buf(), "build", "-o", str(out)], cwd=ROOT / "protos", check=True, timeout=120)
    fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    comments = {}
    for f in fds.file:
        if not f.package.startswith("anpr."):
            continue
        by_path = {tuple(loc.path): loc.leading_comments for loc in f.source_code_info.location}
        for i, msg in enumerate(f.message_type):
            for j, field in enumerate(msg.field):
                comments[(f"{f.package}.{msg.name}", field.name)] = by_path.get((4, i, 2, j), "")
    return comments


def test_every_string_bytes_and_repeated_field_has_a_limit_stated_in_its_comment(tmp_path):
    comments = _field_comments(tmp_path)
    missing, undocumented = [], []
    for desc in contract_messages():
        for field in desc.fields:
            if not _needs_limit(field):
                continue
            limit = limit_of(desc.full_name, field.name)
            if limit is None:
                missing.append(f"{desc.full_name}.{field.name}")
            elif describe(limit, field) not in comments[(desc.full_name, field.name)]:
                undocumented.append(f"{desc.full_name}.{field.name}: {describe(limit, field)!r}")
    assert not missing, f"no limit in anpr/field_limits.py for {missing}"
    assert not undocumented, f"the .proto comment does not state the limit: {undocumented}"


def test_the_table_names_only_real_fields():
    descs = {d.full_name: d for d in contract_messages()}
    for message, fields in LIMITS.items():
        assert message in descs, message
        for name in fields:
            assert name in descs[message].fields_by_name, f"{message}.{name}"


def test_checkers_name_each_offending_field_path():
    checkers = compile_checkers()
    read = types_pb2.Read(
        read_id="r" * 129,
        vrm="AB\x0012",
        camera_id="CAM",
        direction=7,
        confidence=float("nan"),
        vehicle=types_pb2.VehicleDescription(colour="c" * 65),
    )
    read.captured_at.seconds = 10**12
    request = ingest_pb2.SubmitReadRequest(read=read)
    assert sorted(f for f, _ in violations_of(request, checkers)) == sorted(
        ["read.read_id", "read.vrm", "read.confidence", "read.captured_at", "read.direction", "read.vehicle.colour"]
    )
    good = types_pb2.Read(read_id="r" * 128, vrm="AB12", camera_id="CAM", direction=2, confidence=99.5)
    assert violations_of(good, checkers) == []


def test_repeated_and_nested_paths_and_settings():
    checkers = compile_checkers(type("S", (), {"max_image_bytes": 10})())
    decision = types_pb2.NdmDecision(rationale="x" * 16385)
    activation = types_pb2.Activation(decisions=[types_pb2.NdmDecision(), decision])
    assert violations_of(firearms_pb2.GetActivationResponse(activation=activation), checkers) == [
        ("activation.decisions[1].rationale", "at most 16384 characters")
    ]
    hit = types_pb2.Hit(vehicle_mismatches=["make", "m" * 17])
    assert violations_of(hit, checkers) == [("vehicle_mismatches[1]", "at most 16 characters")]
    assert violations_of(types_pb2.Read(plate_image=b"x" * 11), checkers) == [("plate_image", "at most 10 bytes")]
    # Reads in a batch are the handler's to check one by one (a bad read is rejected alone).
    batch = ingest_pb2.StreamReadsRequest(reads=[types_pb2.Read(vrm="\x00")] * 600)
    assert violations_of(batch, checkers) == []
