"""The quality benchmark in a tiny run (so that it cannot rot): it prints its tables and figures, and
on its own corpus the evidence does what it is for."""

from __future__ import annotations

from tests.benchmarks.scripts import run_script


def test_quality_bench_prints_figures_per_tier_with_and_without_evidence():
    ran = run_script("quality_bench", "--entries 20000 --reads 6000 --listed-share 0.2", timeout=300)
    assert "| VRM only |" in ran.output and "| with evidence |" in ran.output
    f = ran.numbers
    assert f["vrm_terminal_exact"] == f["evidence_terminal_exact"] == 1.0
    # the camera's evidence lifts look-alike misreads of valid plates into the terminal tier
    assert f["evidence_terminal_common1"] > f["vrm_terminal_common1"]
    assert f["evidence_room_rare1"] > f["vrm_room_rare1"]
    assert f["reads_per_s_batch_2000_match"] > 0 and f["vrm_room_withheld_per_1000"] > 0
