"""The presence filter's bits (services/matcher/bulk.py): built a slice at a time for a large set,
the same bits as setting them in one byte-per-bit array, and every code built from is present."""

from __future__ import annotations

import numpy as np
import pytest

from services.matcher import bulk


@pytest.mark.parametrize(("n", "bits_per_code"), [(10, 32), (3_000, 16), (600_000, 32)])
def test_the_bits_are_those_of_one_array_and_every_code_is_present(n, bits_per_code):
    codes = np.random.default_rng(n).integers(0, 2**62, n, dtype=np.int64)
    presence = bulk.PresenceFilter(codes, bits_per_code=bits_per_code)
    log2 = max(6, int(n * bits_per_code - 1).bit_length())
    one = np.zeros(1 << log2, dtype=bool)
    one[presence._hash(codes)] = True
    assert np.array_equal(presence._bits, np.packbits(one, bitorder="little"))
    assert presence.maybe(codes).all()
    others = np.random.default_rng(n + 1).integers(0, 2**62, 100_000, dtype=np.int64)
    assert presence.maybe(others).mean() < 0.1
