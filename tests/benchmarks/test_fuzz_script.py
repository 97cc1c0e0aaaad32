"""The long fuzz run still runs: a tiny configuration of benchmarks/fuzz.py, as a subprocess (the four
services as processes, every RPC, the CSV import through the command), ends with its figures and finds
nothing. (The strategies and the judge are tested by tests/services/test_fuzz.py.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks.fuzzing import every_rpc
from cli.suite.launcher import ROOT, clean_env


@pytest.mark.timeout(300)
def test_a_tiny_fuzz_run_finds_nothing_and_alerting_survives():
    proc = subprocess.run(
        [sys.executable, "benchmarks/fuzz.py", "--per-rpc", "2", "--csv", "4", "--cli-every", "2"],
        cwd=ROOT,
        env=clean_env() | {"PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    figures = dict(pair.split("=", 1) for pair in last.split())
    assert int(figures["rpc_requests"]) >= len(every_rpc()) and int(figures["csv_files"]) == 4, last
    assert figures["findings"] == "0" and figures["crashes"] == "0" and figures["alerting_after"] == "yes", last
    assert "csv-exit-" in proc.stdout  # the import command ran
