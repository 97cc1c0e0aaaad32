"""`anpr stats`: a window the service would refuse (or read as another) is refused naming --days;
the tables as a control room reads them."""

from __future__ import annotations

import pytest

from anpr.runtime.auth import Role
from tests.cli import anpr, hit, publish
from tests.support import free_port


@pytest.mark.parametrize("days", ["0", "-1", "400"])
async def test_a_window_outside_a_day_to_a_year_is_refused_naming_the_flag(days):
    code, out = await anpr("stats", "--days", days, token="not-used")
    assert code == 2 and "anpr stats: --days: give a number of days above 0 and at most 366" in out, out


async def test_the_tables_say_what_a_control_room_needs_to_read_them(notify, tokens):
    """An alert nobody has acted on yet has no accept or misread rate (not 0%); the total row is
    named; an empty table says so."""
    await publish(notify, hit("AB12CDE", [], exact=True))
    code, out = await anpr(
        "stats", "--addr", notify.addr("notify"), "--matcher-addr", f"127.0.0.1:{free_port()}",
        token=tokens[Role.CONTROL_ROOM],
    )  # fmt: skip
    assert code == 0, out
    lines = out.splitlines()
    [listed] = [line for line in lines if line.startswith("Force list")]
    assert listed.split() == ["Force", "list", "1", "0", "0", "0", "-", "-"], out
    [total] = [line for line in lines if line.startswith("all alerts")]
    assert total.split()[2:] == ["1", "0", "0", "0", "-", "-"], out
    assert lines[lines.index("by reason code") + 2] == "  (none)", out
    assert "0%" not in out, out
