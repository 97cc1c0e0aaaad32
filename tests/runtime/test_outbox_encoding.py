"""Outbox payloads are built on the protobuf wire format directly (anpr.runtime.outbox.encode_field):
what they encode must parse as the message they stand for, whatever the length of the field."""

from __future__ import annotations

import pytest

from anpr.runtime import outbox
from anpr.v1 import matcher_pb2, types_pb2


# Lengths around each varint's byte boundary, and around the end of the table of small varints.
@pytest.mark.parametrize("length", [0, 1, 127, 128, 300, 2047, 2048, 2049, 16383, 16384, 2_100_000])
def test_a_field_of_any_length_parses_as_the_message_it_stands_for(length):
    read = types_pb2.Read(read_id="r-1", camera_id="c-1", plate_image=b"\xff" * length)
    item = outbox.encode_field(1, outbox.encode_field(1, read.SerializeToString()) + outbox.encode_field(3, b"F1"))
    request = matcher_pb2.MatchReadsRequest.FromString(item + item)
    assert [r.read for r in request.reads] == [read, read]
    assert [r.force for r in request.reads] == ["F1", "F1"]


def test_field_numbers_beyond_one_byte_of_tag_are_encoded_as_protobuf_does():
    message = types_pb2.Read(vrm="AB12CDE")
    wire = message.SerializeToString()  # field 2: tag 0x12
    assert outbox.encode_field(2, b"AB12CDE") == wire
    assert outbox.encode_field(2048, b"x") == b"\x82\x80\x01\x01x"  # (2048 << 3 | 2) takes three bytes
