"""VRM normalisation and validity (anpr.vrm)."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from anpr.vrm import is_valid_vrm, normalise_vrm, normalise_vrm_column


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


def test_a_column_of_vrms_is_normalised_as_each_vrm_is():
    """normalise_vrm_column (the import readers' vectorised form) on the values they vouch for:
    letters, digits, spaces, dots and hyphens, in any mix and case."""
    rng = random.Random(7)
    alphabet = "abcXYZ0189 .-"
    values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))) for _ in range(5000)]
    values += ["", " ", "-.-", "ab-12 cde", "AB12.CDE"]
    assert normalise_vrm_column(pa.array(values)).to_pylist() == [normalise_vrm(v) for v in values]
