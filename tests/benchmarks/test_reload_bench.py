"""The reload benchmark still runs: a small list written, matcher's full reload timed with every
entry in the index, the figures printed."""

from __future__ import annotations

import pytest

from tests.benchmarks.scripts import run_script


@pytest.mark.timeout(300)
def test_a_small_reload_bench_loads_every_entry_and_prints_its_figures():
    ran = run_script("reload_bench", "--entries 20000 --repeat 2", timeout=240)
    assert ran.output.count("(20,000 entries)") == 2, ran.output[-2000:]
    assert set(ran.numbers) == {"reload_s", "read_s", "build_s"} and ran.numbers["reload_s"] > 0, ran.last
