"""The ingest benchmark still runs: a tiny configuration, as a subprocess, goes through every phase
(COPY, echo, ingest batched, unary and unloaded, RSS) and ends with every figure as a number, every
read it sent stored. (Its figures are not judged here: benchmarks print, tests do not time.)"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from benchmarks.ingest_report import ORDER
from cli.suite.launcher import ROOT, clean_env

TINY = "--seconds 1 --warmup 0.5 --idle-seconds 0.5 --streams 10 --unary-concurrency 8 --ingest-workers 1"
SMALL_POOLS = "--copy-max-rows 20000 --max-pool-reads 20000"


@pytest.mark.timeout(300)
def test_a_tiny_ingest_bench_ends_with_every_figure():
    proc = subprocess.run(
        [sys.executable, "benchmarks/ingest_bench.py", *TINY.split(), *SMALL_POOLS.split()],
        cwd=ROOT,
        env=clean_env() | {"PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    figures = {k: float(v) for k, v in (pair.split("=", 1) for pair in last.split())}
    assert list(figures) == ORDER, last
    assert all(math.isfinite(v) and v > 0 for v in figures.values()), last
    assert "NOT STORED" not in proc.stdout and "ERRORS" not in proc.stdout, proc.stdout[-3000:]
