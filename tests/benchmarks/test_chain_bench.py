"""The chain benchmark still runs: a tiny configuration, as a subprocess, ends with the figures the
issue names as numbers. (Its figures are not judged here: benchmarks print, tests do not time.)"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from cli.suite.launcher import ROOT, clean_env

REQUIRED = (
    "chain_reads_per_s",
    "matched_reads_per_s",
    "reference_reads_per_s",
    "matched_over_reference",
    "reference_p99_ms",
    "alerts_per_s",
    "hits_per_s",
    "backlog_end",
    "drain_s",
    "p99_alert_ms_at_5000",
    "p99_tfc_ms_at_5000",
    "max_rate_p99_under_100ms",
)
# Measured in the tiny run, so these must be real numbers (the figures at 5000 reads/s are NaN when
# the ladder does not reach 5000; the drain is NaN only if it did not finish).
MEASURED = (
    "chain_reads_per_s",
    "matched_reads_per_s",
    "reference_reads_per_s",
    "alerts_per_s",
    "backlog_end",
    "drain_s",
    "p99_alert_ms_at_500",
    "p99_tfc_ms_at_500",
    "p99_escalation_late_ms",
)


@pytest.mark.timeout(600)
def test_a_tiny_chain_bench_ends_with_every_figure(tmp_path):
    env = clean_env() | {"PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "benchmarks/chain_bench.py",
            "--entries",
            "2000",
            "--seconds",
            "3",
            "--ladder",
            "500",
            "--ref-seconds",
            "2",
            "--step-seconds",
            "3",
            "--gens",
            "1",
            "--tfc-share",
            "0.5",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    figures = dict(pair.split("=", 1) for pair in last.split())
    missing = [n for n in REQUIRED if n not in figures]
    assert not missing, f"missing {missing} in the last line: {last}"
    values = {k: float(v) for k, v in figures.items()}  # every value a number
    assert all(math.isfinite(values[n]) for n in MEASURED), last
    assert values["chain_reads_per_s"] > 0 and values["reference_reads_per_s"] > 0, last
    # the observer acknowledged every activation but in the escalation step, whose all escalated
    assert values["escalations"] > 0 and values["escalated_while_acknowledging"] == 0, last
