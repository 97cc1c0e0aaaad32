"""The ingest benchmark's output: progress lines, the client processes' tallies merged into one
run's figures, the CPU each process group used, and the last line of name=value figures."""

from __future__ import annotations

import os
from collections import Counter

from benchmarks.common import percentile

# The last line, in this order.
ORDER = [
    "copy_rows_per_s",
    "echo_stream_per_s",
    "echo_unary_per_s",
    "batched_per_s",
    "unary_per_s",
    "batched_over_copy",
    "unary_over_echo",
    "stream_over_echo",
    "p50_ack_ms",
    "p99_ack_ms",
    "unary_p50_ms",
    "unary_p99_ms",
    "idle_p50_ack_ms",
    "idle_p99_ack_ms",
    "ingest_peak_rss_mib",
]


def say(text: str) -> None:
    print(text, flush=True)


def merge(replies: list[dict]) -> dict:
    """One run's figures from every client's tally: rates, statuses, errors, latency percentiles."""
    statuses: Counter = Counter()
    errors: Counter = Counter()
    lat: list[float] = []
    rate_stored = rate_acked = 0.0
    for r in replies:
        statuses.update(r["statuses"])
        errors.update(r["errors"])
        lat.extend(r["lat_ms"])
        n = sum(r["statuses"].values())
        rate_acked += n / r["window_s"]
        rate_stored += r["statuses"].get("STORED", 0) / r["window_s"]
    lat.sort()
    return {
        "stored_per_s": rate_stored,
        "acked_per_s": rate_acked,
        "statuses": dict(statuses),
        "errors": dict(errors),
        "acks": len(lat),
        "p50": percentile(lat, 0.50),
        "p99": percentile(lat, 0.99),
        "max": lat[-1] if lat else float("nan"),
        "window_s": min(r["window_s"] for r in replies),
        "exhausted": any(r["exhausted"] for r in replies),
        "first_error": next((r["first_error"] for r in replies if r["first_error"]), ""),
        "client_cpu_s": sum(r["client_cpu_s"] for r in replies),
    }


class Report:
    """The figures of the last line, the notes printed before it, and the most CPU that processes
    outside the benchmark took in a measured window."""

    def __init__(self):
        self.fig: dict[str, float] = {}
        self.notes: list[str] = []
        self.max_other = 0.0

    def cpu(self, cores: dict[str, float]) -> str:
        cores = dict(cores)
        other = cores.pop("other processes", 0.0)
        self.max_other = max(self.max_other, other)
        parts = [f"{k} {v:.2f}" for k, v in cores.items() if v >= 0.005]
        warn = "  <- NOT this benchmark: figures depressed" if other >= 0.25 else ""
        return (
            f"cores used in the window (of {os.cpu_count()}): "
            + ", ".join(parts)
            + f" (benchmark total {sum(cores.values()):.2f}); other processes {other:.2f}{warn}"
        )

    def run(self, label: str, m: dict, cores: dict[str, float], unit: str = "reads/s") -> None:
        """One run's line (rate, latency, what was not stored) and its CPU line."""
        extra = ""
        others = {k: v for k, v in m["statuses"].items() if k != "STORED"}
        if others:
            extra += f"  NOT STORED: {others}"
        if m["errors"]:
            extra += f"  ERRORS: {m['errors']} (first: {m['first_error']})"
        if m["exhausted"]:
            extra += f"  (read pool ran out: window {m['window_s']:.1f} s)"
        say(
            f"  {label}: {m['stored_per_s']:,.0f} {unit} stored ({m['acked_per_s']:,.0f} acked); "
            f"ack latency p50 {m['p50']:.1f} ms, p99 {m['p99']:.1f} ms, max {m['max']:.1f} ms "
            f"over {m['acks']:,} acks{extra}"
        )
        say(f"    {self.cpu(cores)}")

    def figures(self, m: dict, p50: str, p99: str, rate: str | None = None) -> None:
        """A run's latency percentiles (and its stored rate) under their names in the last line."""
        self.fig[p50], self.fig[p99] = m["p50"], m["p99"]
        if rate:
            self.fig[rate] = m["stored_per_s"]

    def note_other_processes(self) -> None:
        if self.max_other >= 0.25:
            self.notes.append(
                f"other processes used up to {self.max_other:.2f} cores during a measured window "
                "(figures depressed; rerun on a quiet machine)"
            )


def summarise(fig: dict[str, float]) -> list[str]:
    """The last line's name=value pairs, with the ratios of ingest to its baselines."""

    def ratio(a: str, b: str) -> float:
        return fig[a] / fig[b] if fig.get(b) else float("nan")

    fig["batched_over_copy"] = ratio("batched_per_s", "copy_rows_per_s")
    fig["unary_over_echo"] = ratio("unary_per_s", "echo_unary_per_s")
    fig["stream_over_echo"] = ratio("batched_per_s", "echo_stream_per_s")
    out = []
    for k in ORDER:
        v = fig.get(k, float("nan"))
        if k.endswith("_per_s"):
            out.append(f"{k}={v:.0f}" if v == v else f"{k}=nan")
        elif k.endswith(("_over_copy", "_over_echo")):
            out.append(f"{k}={v:.3f}")
        else:
            out.append(f"{k}={v:.1f}")
    return out
