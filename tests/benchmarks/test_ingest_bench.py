"""The ingest benchmark still runs: a tiny configuration, as a subprocess, goes through every phase
(COPY, echo, ingest batched, unary and unloaded, RSS) and ends with every figure as a number, every
read it sent stored. (Its figures are not judged here: benchmarks print, tests do not time.)"""

from __future__ import annotations

import math

import pytest

from benchmarks.ingest_report import ORDER
from tests.benchmarks.scripts import run_script

# The unloaded run's window is the longest: one batch in flight, and the other test worker shares the
# cores (0.5 s once saw no acknowledgement at all, and its latencies were nan).
TINY = "--seconds 1 --warmup 0.5 --idle-seconds 1.5 --streams 10 --unary-concurrency 8 --ingest-workers 1"
SMALL_POOLS = "--copy-max-rows 20000 --max-pool-reads 20000"


@pytest.mark.timeout(300)
def test_a_tiny_ingest_bench_ends_with_every_figure():
    ran = run_script("ingest_bench", f"{TINY} {SMALL_POOLS}", timeout=240)
    output, last, figures = ran.output, ran.last, ran.numbers
    assert list(figures) == ORDER, last
    assert all(math.isfinite(v) and v > 0 for v in figures.values()), last
    assert "NOT STORED" not in output and "ERRORS" not in output, output[-3000:]
