"""Tests of the `anpr` command, run as a process against real services."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from cli.suite.launcher import ROOT

NO_SUITE = str(Path(tempfile.gettempdir()) / "anpr-tests-no-suite")  # never made: no command makes it


async def anpr(*args: str, token: str | None = None, **settings: str) -> tuple[int, str]:
    """Run `anpr ARGS` (as `python -m cli`) with ANPR_TOKEN and ANPR_<NAME> settings; its exit code and
    output (stdout and stderr together)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANPR_")}
    env["ANPR_DATA_DIR"] = NO_SUITE  # not a suite some `anpr up` left in the repository's .anpr
    env.update({f"ANPR_{k.upper()}": v for k, v in settings.items()})
    if token is not None:
        env["ANPR_TOKEN"] = token
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode()
