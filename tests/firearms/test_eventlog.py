"""The firearms log's hash chain (services.firearms.eventlog)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from services.firearms.eventlog import GENESIS, entry_hash

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def test_the_log_hash_covers_every_field_and_the_previous_hash():
    args = (GENESIS, 1, "a1", 5, "tfc-a", NOW, ["tfc-a"], '{"x":1}')
    base = entry_hash(*args)
    assert base == entry_hash(*args) and len(base) == 64
    for i, other in enumerate(("1" * 64, 2, "a2", 6, "tfc-b", NOW + timedelta(microseconds=1), ["tfc-b"], '{"x":2}')):
        assert entry_hash(*args[:i], other, *args[i + 1 :]) != base, i
