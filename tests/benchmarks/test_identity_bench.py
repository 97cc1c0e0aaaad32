"""The identity benchmark still runs: a tiny run ends with every figure as a positive number and one
fetch of the issuer's keys. (Its figures are not judged here: benchmarks print, tests do not time.)"""

from __future__ import annotations

from tests.benchmarks.scripts import run_script


def test_a_tiny_identity_bench_ends_with_every_figure():
    ran = run_script("identity_bench", "--calls 200 --new-tokens 20", timeout=120)
    figures = ran.numbers
    assert set(figures) == {
        "verify_new_token_us",
        "verify_new_token_per_s",
        "verify_repeat_camera_us",
        "verify_repeat_camera_per_s",
        "verify_repeat_terminal_us",
        "verify_repeat_terminal_per_s",
        "jwks_fetches",
    }, ran.last
    assert all(v > 0 for v in figures.values()) and figures["jwks_fetches"] == 1, ran.last
