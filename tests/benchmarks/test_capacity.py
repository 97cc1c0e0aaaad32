"""The capacity model's arithmetic (benchmarks/capacity.py) from a chain benchmark's figures: what a
platform team reads off it, and what it says when the run lacks a phase it needs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks import capacity
from cli.suite.launcher import ROOT

# The last line of a `chain_bench.py --ladder 200,5000 --phases ladder,cost,idle` run (the figures used).
RUN = " ".join(
    [
        "cpu_s_per_1000_reads_at_200_total=0.4",
        "cpu_s_per_1000_reads_at_5000_ingest=0.06 cpu_s_per_1000_reads_at_5000_matcher=0.05",
        "cpu_s_per_1000_reads_at_5000_notify=0.03 cpu_s_per_1000_reads_at_5000_firearms=0.02",
        "cpu_s_per_1000_reads_at_5000_postgres=0.08 cpu_s_per_1000_reads_at_5000_total=0.24",
        "cpu_s_per_1000_reads_1_ingest=1.4 cpu_s_per_1000_reads_1_postgres=0.45",
        "cpu_s_per_1000_reads_10_ingest=0.36 cpu_s_per_1000_reads_10_postgres=0.18",
        "wal_kb_per_1000_reads_1=1000 wal_kb_per_1000_reads_10=1100 bytes_per_read=260",
        "p50_alert_ms_at_5000=nan entries=20000",
    ]
)


def run(*args: str, stdin: str = RUN) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "benchmarks/capacity.py", "-", *args], cwd=ROOT, input=stdin, capture_output=True, text=True
    )


def test_single_read_cameras_at_the_national_peak_need_28_ingest_replicas_and_the_primary_its_range():
    ran = run()
    assert ran.returncode == 0, ran.stderr
    figures = dict(pair.split("=") for pair in ran.stdout.strip().splitlines()[-1].split())
    # 12,000 reads/s x 1.4 ms = 16.8 cores, 28 at 60%; matcher, notify and firearms at their minimums
    assert figures["ingest_replicas"] == "28" and figures["ingest_cores_peak"] == "16.8"
    assert (figures["matcher_replicas"], figures["notify_replicas"], figures["firearms_replicas"]) == ("3", "3", "2")
    assert figures["matcher_cores_peak"] == "0.6"  # 0.05 ms a read at the ladder's highest step, not the cost phase
    assert figures["pg_cores_peak_high"] == "5.4"  # 12,000 x 0.45 ms (single reads' flushes)
    assert figures["wal_mb_s_peak"] == "11.72"  # 12 x 1,000 kB / 1,024
    assert figures["storage_tb_retention"] == "5.25"  # 640 x 86,400 x 260 bytes x 365
    assert figures["connections"] == "432"  # 36 replicas x (10 + 2)
    assert "against max_connections 400: raise it" in ran.stdout
    assert "11.8 GiB" in ran.stdout  # matcher: 45 M entries x 135 bytes x 2 (a reload) + the process


def test_batching_cameras_and_a_smaller_service_change_the_sizing():
    ran = run("--shape", "10", "--peak", "3000", "--entries", "5e6", "--pool", "6")
    assert ran.returncode == 0, ran.stderr
    figures = dict(pair.split("=") for pair in ran.stdout.strip().splitlines()[-1].split())
    assert figures["ingest_replicas"] == "2" and figures["ingest_cores_peak"] == "1.08"  # 3,000 x 0.36 ms
    assert figures["connections"] == "80" and "raise it" not in ran.stdout
    assert "10-read batches" in ran.stdout


def test_a_run_without_the_cost_phase_names_the_phase_to_add():
    ran = run(stdin=RUN.replace("cpu_s_per_1000_reads_1_ingest=1.4", ""))
    assert ran.returncode == 2
    assert "cpu_s_per_1000_reads_1_ingest" in ran.stderr and "cost phase" in ran.stderr
    ran = run(stdin="ladder: 200 reads/s ...\n")
    assert ran.returncode == 2 and "chain_bench.py" in ran.stderr


@pytest.mark.parametrize(("args", "named"), [(("--utilisation", "1.5"), "--utilisation"), (("--peak", "0"), "--peak")])
def test_a_bad_setting_is_refused_naming_it(args, named):
    ran = run(*args)
    assert ran.returncode == 2 and named in ran.stderr


def test_figures_are_read_from_the_last_line_that_has_them():
    text = "ladder: ...\n" + RUN + "\n\n"
    assert capacity.read_figures(text)["cpu_s_per_1000_reads_1_ingest"] == 1.4
