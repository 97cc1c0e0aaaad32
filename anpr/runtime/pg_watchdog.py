"""Stop an embedded PostgreSQL when the process that started it dies, however it dies (kill -9 too).

    python -m anpr.runtime.pg_watchdog PGDATA

reads its standard input, a pipe whose other end only the starting process holds (`pg.watch_embedded`).
The kernel closes that end when the process dies; at end of input the watchdog asks the server of
PGDATA for a fast shutdown (SIGINT to the pid in postmaster.pid). A process that stops the server
itself writes "detach" first, and the watchdog leaves the server alone.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        first = (pgdata / "postmaster.pid").read_text().split("\n", 1)[0]
    except OSError:
        return None  # stopped already
    return int(first) if first.strip().isdigit() else None


def main(pgdata: Path) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # not stopped by a Ctrl-C meant for its parent
    told = sys.stdin.buffer.read()
    pid = postmaster_pid(pgdata)
    if told.startswith(b"detach") or pid is None:
        return 0
    try:
        os.kill(pid, signal.SIGINT)  # fast shutdown: open transactions roll back, data stays consistent
    except ProcessLookupError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
