"""numpy's transparent-huge-page advice is off in the suite's processes (anpr/__init__.py): with the
kernel compacting memory on the page fault, it made the matcher's bulk loads stall (docs/operators.md)."""

import os
import subprocess
import sys

from cli.suite.launcher import ROOT

# numpy's setter answers the value it replaces: what numpy chose when it was imported
SCRIPT = """
import services.matcher.server
import numpy
print(numpy._core.multiarray._set_madvise_hugepage(True))
"""


def _advice(env: dict) -> str:
    ran = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr[-3000:]
    return ran.stdout.split()[-1]


def test_the_matcher_asks_for_no_huge_pages_unless_the_operator_does():
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    assert _advice(env) == "False"
    assert _advice({**env, "NUMPY_MADVISE_HUGEPAGE": "1"}) == "True"
