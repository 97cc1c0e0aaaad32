"""The notify benchmark still runs and its correctness figures hold: a tiny configuration, as a
subprocess, ends with every figure, every expected delivery made and none to a terminal outside
its circle. (Its timings are not judged here: benchmarks print, tests do not time.)"""

from __future__ import annotations

import math

import pytest

from tests.benchmarks.scripts import run_script

REQUIRED = (
    "terminals",
    "rate",
    "expected_deliveries",
    "deliveries",
    "p50_ms",
    "p99_ms",
    "max_ms",
    "wrong_deliveries",
    "missed_deliveries",
    "location_mismatches",
    "cpu_notify",
    "cpu_ingest",
    "cpu_matcher",
    "cpu_postgres",
    "control_room_p50_ms",
    "control_room_p99_ms",
)


@pytest.mark.timeout(600)
def test_a_tiny_notify_bench_delivers_to_exactly_the_terminals_in_range(tmp_path):
    # A 30 km square, so that 50 terminals with 5 km circles cover most cameras several times over.
    options = "--terminals 50 --rate 200 --seconds 3 --entries 2000 --side-km 30 --cameras 40"
    ran = run_script("notify_bench", options + " --streams-per-channel 20 --control-room", timeout=540)
    last, figures = ran.last, ran.numbers
    missing = [n for n in REQUIRED if n not in figures]
    assert not missing, f"missing {missing} in the last line: {last}"
    assert figures["terminals"] == 50 and figures["expected_deliveries"] > 0, last
    assert figures["wrong_deliveries"] == 0 and figures["missed_deliveries"] == 0, last
    assert figures["deliveries"] == figures["expected_deliveries"], last
    assert figures["location_mismatches"] == 0, last  # reads without coordinates placed at their camera
    assert math.isfinite(figures["p99_ms"]) and math.isfinite(figures["control_room_p99_ms"]), last
