"""The chain benchmark still runs: a tiny configuration, as a subprocess, ends with the figures the
issue names as numbers. (Its figures are not judged here: benchmarks print, tests do not time.)"""

from __future__ import annotations

import math

import pytest

from tests.benchmarks.scripts import run_script

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
    "p50_alert_ms_at_500",
    "p99_alert_ms_at_500",
    "p99_tfc_ms_at_500",
    "p99_escalation_late_ms",
    "grpc_call_after_idle_ms",
    "grpc_call_back_to_back_ms",
    "tcp_round_trip_after_idle_ms",
)


@pytest.mark.timeout(600)
def test_a_tiny_chain_bench_ends_with_every_figure(tmp_path):
    options = "--entries 2000 --seconds 3 --ladder 500 --ref-seconds 2 --step-seconds 3 --gens 1 --tfc-share 0.5"
    ran = run_script("chain_bench", options, timeout=540)
    last, figures = ran.last, ran.figures
    missing = [n for n in REQUIRED if n not in figures]
    assert not missing, f"missing {missing} in the last line: {last}"
    values = ran.numbers  # every value a number
    assert all(math.isfinite(values[n]) for n in MEASURED), last
    assert values["chain_reads_per_s"] > 0 and values["reference_reads_per_s"] > 0, last
    # the observer acknowledged every activation but in the escalation step, whose all escalated
    assert values["escalations"] > 0 and values["escalated_while_acknowledging"] == 0, last


@pytest.mark.timeout(300)
def test_with_traces_a_ladder_step_says_where_its_alerts_spent_their_time():
    ran = run_script(
        "chain_bench", "--entries 2000 --phases ladder --ladder 200 --step-seconds 4 --gens 1 --traces", 240
    )
    assert "where an alert's time went" in ran.output, ran.output[-2000:]
    stages = {k: v for k, v in ran.numbers.items() if k.startswith("stage_p50_ms_at_200_")}
    assert set(stages) == {
        f"stage_p50_ms_at_200_{s}"
        for s in ("ingest", "to_matcher", "matching", "hits_recorded", "to_notify", "alert_stored")
    }, ran.last
    assert all(math.isfinite(v) and v >= 0 for v in stages.values()), ran.last
