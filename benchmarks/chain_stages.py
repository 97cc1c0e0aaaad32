"""Where an alert's time went, stage by stage, from the services' own spans (`chain_bench.py --traces`).

With --traces the services export their spans to their logs (OTEL_TRACES_EXPORTER=console). A ladder
read that hits is followed through them: its read id carries the time it was sent (chain_load);
matcher's `anpr.match` span names it, and notify's `anpr.alert` span is that span's child. Between
them are the deliveries (`anpr.outbox.deliver` in ingest and matcher) and the receivers' server
spans (`MatchReads`, `PublishAlerts`), each found as the span of its kind that was open at the
moment the next stage began. Stages:

  ingest         sent by the camera -> ingest's delivery to matcher starts (validation, the group
                 commit, the hand-over to the relay)
  to matcher     -> matcher's MatchReads starts (the call, the server's interceptors)
  matching       -> the read's anpr.match span (the limits check, matching the batch)
  hits recorded  -> matcher's delivery to notify starts (entries read, hits recorded and committed)
  to notify      -> notify's PublishAlerts starts
  alert stored   -> the alert's anpr.alert span (appended and committed, handed to the streams)

The stream to a control room comes after the last stage: the benchmark's own send -> alert figures
include it. Exporting spans costs the services some CPU: read the stages beside each other, and
the latencies of a run without --traces as the latencies.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from benchmarks.chain_load import parse_read_id
from benchmarks.common import pct

STAGES = ("ingest", "to matcher", "matching", "hits recorded", "to notify", "alert stored")
_SPAN = re.compile(r'^\{\n\s+"name"', re.M)  # the console exporter's indented JSON, one object a span
MATCH_READS = "/anpr.v1.MatcherService/MatchReads"
PUBLISH_ALERTS = "/anpr.v1.NotifyService/PublishAlerts"
DELIVER = "anpr.outbox.deliver"


def _time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def spans_in(log_dir: Path) -> list[dict]:
    """Every span the services wrote to their logs in `log_dir` (a span cut by another line is skipped)."""
    decoder = json.JSONDecoder()
    out = []
    for path in sorted(log_dir.glob("*.log")):
        text = path.read_text(errors="replace")
        for m in _SPAN.finditer(text):
            try:
                span, _ = decoder.raw_decode(text, m.start())
                span["t0"], span["t1"] = _time(span["start_time"]), _time(span["end_time"])
                span["service"] = span["resource"]["attributes"]["service.name"]
            except (ValueError, KeyError, TypeError):
                continue
            out.append(span)
    return out


class _Open:
    """Spans of one service and name, to find the one open at a moment (the latest started)."""

    def __init__(self, spans: Iterable[dict]):
        self.spans = sorted(spans, key=lambda s: s["t0"])
        self.starts = [s["t0"] for s in self.spans]

    def at(self, t: float) -> dict | None:
        i = bisect.bisect_right(self.starts, t)
        for s in reversed(self.spans[max(0, i - 64) : i]):
            if s["t1"] >= t:
                return s
        return None


def stages(spans: list[dict]) -> dict[str, list[dict[str, float]]]:
    """Per ladder step (the read id's phase, "r<rate>"): one {stage: seconds} per alert followed."""

    def of(service: str, name: str) -> _Open:
        return _Open(s for s in spans if s["service"].startswith(f"anpr-{service}") and s["name"] == name)

    ingest_deliver, match_reads = of("ingest", DELIVER), of("matcher", MATCH_READS)
    matcher_deliver, publish = of("matcher", DELIVER), of("notify", PUBLISH_ALERTS)
    alerts = {s["parent_id"]: s for s in spans if s["name"] == "anpr.alert" and s.get("parent_id")}
    out: dict[str, list[dict[str, float]]] = {}
    for m in (s for s in spans if s["name"] == "anpr.match"):
        parsed = parse_read_id(str(m["attributes"].get("anpr.read.id", "")))
        alert = alerts.get(m["context"]["span_id"])
        if parsed is None or not parsed[0].startswith("r") or alert is None:
            continue
        phase, sent = parsed
        d1, server = ingest_deliver.at(m["t0"]), match_reads.at(m["t0"])
        p = publish.at(alert["t0"])
        d2 = matcher_deliver.at(p["t0"]) if p else None
        if not (d1 and server and p and d2):
            continue
        marks = (sent, d1["t0"], server["t0"], m["t0"], d2["t0"], p["t0"], alert["t0"])
        out.setdefault(phase, []).append({name: b - a for name, a, b in zip(STAGES, marks, marks[1:], strict=False)})
    return out


def report(bench, log_dir: Path) -> None:
    """Print where the ladder's alerts spent their time, per step, and put each stage's p50 (ms) in the
    last line as stage_p50_ms_at_<rate>_<stage>."""
    found = stages(spans_in(log_dir))
    if not found:
        bench.say("\nstages: no ladder alert could be followed through the spans")
        return
    bench.say("\nwhere an alert's time went (p50 / p90 ms, from the services' spans; --traces):")
    for phase in sorted(found, key=lambda p: int(p[1:]) if p[1:].isdigit() else 0):
        rows = found[phase]
        parts = []
        for name in STAGES:
            ms = [r[name] * 1000 for r in rows]
            parts.append(f"{name} {pct(ms, 0.5):.1f}/{pct(ms, 0.9):.1f}")
            bench.fig[f"stage_p50_ms_at_{phase[1:]}_{name.replace(' ', '_')}"] = pct(ms, 0.5)
        total = [sum(r.values()) * 1000 for r in rows]
        bench.say(
            f"  {phase[1:]:>6} reads/s (n={len(rows)}): {', '.join(parts)};"
            f" to the stored alert {pct(total, 0.5):.1f}/{pct(total, 0.9):.1f}"
        )
