"""What the benchmark scripts share: percentiles, the CPU meter, and the set-up of their child processes."""

from __future__ import annotations

import contextlib
import math
import os
import signal
from pathlib import Path

import psutil


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def die_with_parent() -> None:
    """Linux: get SIGTERM if the benchmark process dies, so nothing outlives it."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def child_setup(log_path: str) -> None:
    """In a benchmark's child process: ignore Ctrl-C (the benchmark's to handle), die with the
    parent, and send stdout/stderr (gRPC core logs, tracebacks) to the child's log."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    " + ln for ln in text[-lines:]) or "    (empty log)"


class CpuMeter:
    """CPU seconds used by each group of processes between two snapshots."""

    def __init__(self, groups: dict[str, object]):
        self.groups = groups  # name -> callable returning the processes of the group

    def snapshot(self) -> dict[str, dict[int, float]]:
        t = psutil.cpu_times()
        busy = sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)
        snap = {"_machine": {0: busy}}
        for name, procs in self.groups.items():
            per_pid = {}
            for p in procs():
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    per_pid[p.pid] = t.user + t.system
            snap[name] = per_pid
        return snap

    @staticmethod
    def cores(a: dict, b: dict, wall: float) -> dict[str, float]:
        out = {}
        for name in b:
            used = sum(v - a.get(name, {}).get(pid, 0.0) for pid, v in b[name].items())
            out[name] = used / wall if wall > 0 else float("nan")
        machine = out.pop("_machine")
        out["other processes"] = max(0.0, machine - sum(out.values()))
        return out


def family(pid: int | None) -> list[psutil.Process]:
    """A process and all its descendants (a service's ANPR_WORKERS, PostgreSQL's backends)."""
    try:
        p = psutil.Process(pid)
        return [p, *p.children(recursive=True)]
    except (psutil.Error, TypeError, ValueError):
        return []
