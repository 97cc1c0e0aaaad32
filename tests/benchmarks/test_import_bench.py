"""The hotlist import benchmark still runs: a tiny extract through `anpr hotlist import` into the four
services, every entry imported, the figure printed."""

from __future__ import annotations

import pytest

from tests.benchmarks.scripts import run_script


@pytest.mark.timeout(300)
def test_a_tiny_import_bench_imports_every_entry_and_prints_the_rate():
    output, last, figures = run_script("import_bench", "--entries 3000", timeout=240)
    assert "imported 3000 entries into 'PNC extract'" in output, output[-2000:]
    assert float(figures["entries_per_s"]) > 0, last
