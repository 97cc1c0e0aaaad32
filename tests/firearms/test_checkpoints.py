"""The log's key (seals, signatures, rotation) and its checkpoints: what is signed, and the places
they are published to and read back from (the file, the log stream; the Object Lock store's
requests)."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from anpr.runtime.telemetry import setup_logging
from services.firearms import checkpoints, keys
from services.firearms.checkpoints import AppendOnlyFile, Checkpoint, LogStream, ObjectLockStore

AT = datetime(2026, 12, 1, 17, 0, 0, 123456, tzinfo=timezone.utc)


@pytest.fixture
def keyring(tmp_path) -> keys.Keyring:
    return keys.Keyring(keys.create(tmp_path / "key.pem"))


def test_a_seal_covers_the_whole_entry_and_needs_the_key(keyring, tmp_path):
    seal = keyring.seal("entry text")
    assert keyring.seal_ok("entry text", seal)
    assert not keyring.seal_ok("entry text!", seal)
    assert not keyring.seal_ok("entry text", None)
    other = keys.Keyring(keys.create(tmp_path / "other.pem"))
    assert not other.seal_ok("entry text", seal)  # another key's holder cannot vouch for it
    assert not keyring.seal_ok("entry text", other.seal("entry text"))


def test_after_a_rotation_the_previous_key_still_verifies_what_it_made(tmp_path):
    old = keys.create(tmp_path / "old.pem")
    sealed, (kid, signature) = keys.Keyring(old).seal("x"), keys.Keyring(old).sign(b"statement")
    keys.create(tmp_path / "new.pem")
    rotated = keys.Keyring.load(tmp_path / "new.pem", [tmp_path / "old.pem"])
    assert rotated.current.key_id != old.key_id
    assert rotated.seal_ok("x", sealed) and rotated.signature_ok(kid, b"statement", signature)
    assert not keys.Keyring(keys.Key.of(keys.read_private(tmp_path / "new.pem"))).seal_ok("x", sealed)


def test_a_key_file_that_is_not_an_ed25519_key_is_named(tmp_path):
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(keys.KeyProblem, match=r"bad\.pem: not a readable PEM private key"):
        keys.read_private(tmp_path / "bad.pem")


def test_a_checkpoint_signature_covers_every_field_and_verifies_with_the_public_key(keyring, tmp_path):
    c = Checkpoint(42, "ab" * 32, AT, 1, replica="firearms-0:7").signed(keyring)
    public = keys.public_keyring([Path(f"{tmp_path / 'key.pem'}.pub")])
    assert keys.signature_ok(public, c.key_id, c.statement(), c.signature)
    for changed in (
        replace(c, sequence=41),
        replace(c, head_hash="cd" * 32),
        replace(c, at=AT + timedelta(microseconds=1)),
        replace(c, sealed_from=2),
        replace(c, replica="elsewhere"),
    ):
        assert not keys.signature_ok(public, changed.key_id, changed.statement(), changed.signature), changed
    assert not keys.signature_ok(public, c.key_id, c.statement(), "not base64!")


def test_a_checkpoint_survives_json_and_the_contract_unchanged(keyring):
    c = Checkpoint(42, "ab" * 32, AT, 7, replica="r").signed(keyring)
    assert Checkpoint.from_json(json.loads(json.dumps(c.as_json()))) == c
    assert checkpoints.from_message(checkpoints.to_message(c)) == c


async def test_the_file_is_appended_to_and_read_back(keyring, tmp_path):
    file = AppendOnlyFile(tmp_path / "dir" / "checkpoints.jsonl")
    first = Checkpoint(1, "a" * 64, AT, 1, replica="r").signed(keyring)
    second = Checkpoint(2, "b" * 64, AT + timedelta(seconds=2), 1, replica="r").signed(keyring)
    await file.publish(first)
    await file.publish(second)
    assert await file.read() == [first, second]
    assert len(file.path.read_text().splitlines()) == 2


async def test_the_log_stream_line_carries_the_checkpoint_and_reads_back(keyring, capsys):
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging("firearms", "INFO")
        c = Checkpoint(9, "c" * 64, AT, 1, replica="r").signed(keyring)
        await LogStream().publish(c)
        lines = [line for line in capsys.readouterr().err.splitlines() if checkpoints.LOG_MESSAGE in line]
    finally:
        root.handlers[:], root.level = handlers, level
    assert len(lines) == 1 and json.loads(lines[0])["message"] == checkpoints.LOG_MESSAGE
    assert checkpoints.parse_lines(["not json", '{"message": "other"}', *lines]) == [c]


class FakeS3:
    """What the Object Lock store asks of S3 (no S3 here): its requests, and the objects put."""

    def __init__(self):
        self.puts: list[dict] = []

    def put_object(self, **request):
        self.puts.append(request)


async def test_the_object_lock_store_puts_each_checkpoint_locked_in_compliance_mode(keyring):
    s3 = FakeS3()
    store = ObjectLockStore("s3://anpr-checkpoints/prod/firearms", retain_days=2557, client=s3)
    c = Checkpoint(5, "d" * 64, AT, 1, replica="firearms-0:7").signed(keyring)
    await store.publish(c)
    [put] = s3.puts
    assert put["Bucket"] == "anpr-checkpoints"
    assert put["Key"] == f"prod/firearms/firearms-0:7/{5:020d}-2026-12-01T17:00:00.123456+00:00.json"
    assert put["ObjectLockMode"] == "COMPLIANCE" and put["ObjectLockRetainUntilDate"] == AT + timedelta(days=2557)
    assert checkpoints.parse_lines([put["Body"].decode()]) == [c]
