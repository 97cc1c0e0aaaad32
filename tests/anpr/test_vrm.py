"""VRM normalisation and validity (anpr.vrm)."""

from __future__ import annotations

import pytest

from anpr.vrm import is_valid_vrm, normalise_vrm


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
