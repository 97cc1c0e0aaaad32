"""Run a command that stops (SIGTERM) when a given process dies, however it dies (kill -9 too):

    python -m cli.suite.pdeathsig PARENT_PID COMMAND [ARG ...]

asks the kernel (Linux: prctl PR_SET_PDEATHSIG) for the signal, then becomes COMMAND (exec; the
setting survives it). The launcher starts every service through this, rather than with a
`preexec_fn`, because a Python-level hook between fork and exec runs gRPC's fork handlers in the
child. The kernel sends the signal when the thread that started the process ends: the launcher
starts its processes from threads that live as long as it does (the main thread, the event loop's).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> None:
    parent, command = int(argv[0]), argv[1:]
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the command outlives a launcher that is killed
    if os.getppid() != parent:  # the launcher died before the kernel was told
        sys.exit(143)
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
