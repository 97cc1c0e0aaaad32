"""`anpr stats`: a window the service would refuse (or read as another) is refused naming --days."""

from __future__ import annotations

import pytest

from tests.cli import anpr


@pytest.mark.parametrize("days", ["0", "-1", "400"])
async def test_a_window_outside_a_day_to_a_year_is_refused_naming_the_flag(days):
    code, out = await anpr("stats", "--days", days, token="not-used")
    assert code == 2 and "anpr stats: --days: give a number of days above 0 and at most 366" in out, out
