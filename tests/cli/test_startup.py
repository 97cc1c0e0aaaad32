"""A client command starts without the services' machinery: `anpr hotlist import` (and every other
command) loads neither the settings library, the metrics SDK, the database driver nor the firearms
log's cryptography unless it uses them (they took 0.25 s of every command's start, and 0.15 s more
for the long descriptions only --help shows), while --help still shows those descriptions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pydantic_settings", "opentelemetry.sdk.metrics", "asyncpg", "services.firearms.checkpoints", "jwt")


def test_a_hotlist_import_loads_none_of_the_services_machinery():
    code = (
        "import sys\n"
        "from cli.main import build_parser, _handler\n"
        "args = build_parser(docs=False).parse_args(['hotlist', 'import', 'x.csv', '--list', 'L'])\n"
        "_handler(args.run)\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert loaded.stdout.strip() == ""


def test_help_still_shows_a_commands_long_description():
    shown = subprocess.run(
        [sys.executable, "-m", "cli", "deadletters", "--help"], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert "the records a service set aside" in shown.stdout
