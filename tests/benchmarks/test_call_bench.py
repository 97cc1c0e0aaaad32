"""The call benchmark still runs: a tiny run ends with every figure as a positive number. (Its
figures are not judged here: benchmarks print, tests do not time.)"""

from __future__ import annotations

import subprocess
import sys

from cli.suite.launcher import ROOT
from tests.benchmarks.scripts import run_script


def test_a_tiny_call_bench_ends_with_every_figure():
    ran = run_script("call_bench", "--calls 50 --rounds 1 --gaps 0,5 --idle-calls 5 --pace 200", timeout=120)
    figures = ran.numbers
    assert set(figures) == {
        "server_cpu_us_plain",
        "server_cpu_us_traced",
        "client_cpu_us_intercepted",
        "client_wall_us_intercepted",
        "client_cpu_us_relay_call",
        "client_wall_us_relay_call",
        "paced_server_cpu_us_unary",
        "paced_client_cpu_us_unary",
        "paced_server_cpu_us_stream",
        "paced_client_cpu_us_stream",
        "idle_wall_us_grpc_0ms",
        "idle_wall_us_grpc_5ms",
        "idle_wall_us_tcp_0ms",
        "idle_wall_us_tcp_5ms",
    }, ran.last
    assert all(v > 0 for v in figures.values()), ran.last
    assert "a single read's floor" in ran.output, ran.output


def test_no_pace_no_paced_lines():
    ran = run_script("call_bench", "--calls 20 --rounds 1 --gaps 0 --idle-calls 2 --pace 0", timeout=120)
    assert not any(name.startswith("paced_") for name in ran.numbers), ran.last
    assert "calls a second" not in ran.output


def test_a_negative_pace_is_refused_naming_the_flag():
    ran = subprocess.run(
        [sys.executable, "benchmarks/call_bench.py", "--pace", "-1"], cwd=ROOT, capture_output=True, text=True
    )
    assert ran.returncode == 2 and "--pace" in ran.stderr, ran.stderr


def test_with_no_rounds_only_the_calls_after_idle_are_measured():
    ran = run_script("call_bench", "--rounds 0 --gaps 0,5 --idle-calls 3", timeout=120)
    assert set(ran.numbers) == {
        "idle_wall_us_grpc_0ms",
        "idle_wall_us_grpc_5ms",
        "idle_wall_us_tcp_0ms",
        "idle_wall_us_tcp_5ms",
    }, ran.last
    assert "server CPU" not in ran.output and "calls a second" not in ran.output
