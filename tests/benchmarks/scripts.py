"""A benchmark script run as the README runs it (`.venv/bin/python benchmarks/<name>.py ...`, from the
repository), without any ANPR_* or OTEL_* setting of the test run."""

from __future__ import annotations

import subprocess
import sys
from typing import NamedTuple

from cli.suite.launcher import ROOT, clean_env


class Ran(NamedTuple):
    output: str  # standard output
    last: str  # its last line
    figures: dict[str, str]  # the last line's name=value pairs

    @property
    def numbers(self) -> dict[str, float]:
        """The figures as numbers (a ValueError if one is not)."""
        return {k: float(v) for k, v in self.figures.items()}


def run_script(name: str, options: str, timeout: float) -> Ran:
    """Run benchmarks/<name>.py with `options` (words separated by spaces); it must exit 0 within
    `timeout` seconds."""
    proc = subprocess.run(
        [sys.executable, f"benchmarks/{name}.py", *options.split()],
        cwd=ROOT,
        env=clean_env() | {"PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    return Ran(proc.stdout, last, dict(pair.split("=", 1) for pair in last.split()))
