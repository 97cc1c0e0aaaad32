"""The long fuzz run still runs: a tiny configuration of benchmarks/fuzz.py, as a subprocess (the four
services as processes, every RPC, the CSV import through the command), ends with its figures and finds
nothing. (The strategies and the judge are tested by tests/services/test_fuzz.py.)"""

from __future__ import annotations

import pytest

from benchmarks.fuzzing import every_rpc
from tests.benchmarks.scripts import run_script


@pytest.mark.timeout(300)
def test_a_tiny_fuzz_run_finds_nothing_and_alerting_survives():
    output, last, figures = run_script("fuzz", "--per-rpc 2 --csv 4 --cli-every 2", timeout=240)
    assert int(figures["rpc_requests"]) >= len(every_rpc()) and int(figures["csv_files"]) == 4, last
    assert figures["findings"] == "0" and figures["crashes"] == "0" and figures["alerting_after"] == "yes", last
    assert "csv-exit-" in output  # the import command ran
