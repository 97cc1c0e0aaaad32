"""The ingest benchmark's runs against `anpr serve ingest`: camera streams of batches at saturation,
unary calls, and one stream with one batch in flight (the service time behind those figures); and
ingest's peak RSS meanwhile. Every run reads fresh reads (read ids are unique), so a warm-up on its
own reads first sizes the pool of the measured window."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.common import BenchError, CpuMeter, log_tail
from benchmarks.ingest_report import Report, merge, say
from benchmarks.ingest_rig import Rig, RssSampler

MIB = 2**20
MAIN_WARM_S = 0.5  # the measured run's own warm-up, on its fresh reads


@dataclass
class Run:
    """One run: "stream" or "unary", its label, the reads of its warm-up, its segment of the RSS
    samples (None: not sampled) and what it changes of the arguments."""

    kind: str
    label: str
    probe_reads: int
    rss_tag: str | None
    streams: int | None = None
    depth: int | None = None
    seconds: float | None = None
    warmup: float | None = None
    tag: str | None = None


def mark(rig: Rig, run: Run, segment: str) -> None:
    if rig.rss and run.rss_tag:
        rig.rss.mark(run.rss_tag + segment)


def warm_up(rig: Rig, run: Run, cpu: CpuMeter) -> dict:
    """The warm-up on its own read pool: its merged figures (acknowledgements needed)."""
    a = rig.args
    mark(rig, run, "-warmup")
    shape = {"streams": run.streams, "depth": run.depth}
    rig.clients.prepare(
        run.kind, rig.ingest_addr, rig.tokens["camera"], run.probe_reads, False, f"{run.tag}-warm", **shape
    )
    replies, _ = rig.clients.run_window(0.0, run.warmup or a.warmup, cpu)
    rig.check_ingest_alive(f"during the {run.label} warm-up")
    warm = merge(replies)
    if warm["acks"] == 0:
        raise BenchError(
            f"{run.label}: no acknowledgement in the warm-up; errors {warm['errors']} "
            f"(first: {warm['first_error']})\ntail of the ingest log:\n{log_tail(rig.ingest_log)}"
        )
    return warm


def measure(rig: Rig, run: Run, cpu: CpuMeter, out: Report) -> dict:
    """Warm-up on its own read pool (which sizes the next), then the measured run on fresh reads."""
    a, clients = rig.args, rig.clients
    run.tag = run.tag or run.kind
    seconds = run.seconds or a.seconds
    warm = warm_up(rig, run, cpu)
    headroom = (run.streams or a.streams) * a.batch * ((run.depth or a.depth) + 1)
    want = min(int(warm["acked_per_s"] * (seconds + MAIN_WARM_S) * 1.5) + headroom, a.max_pool_reads)
    shape = {"streams": run.streams, "depth": run.depth}
    gen = clients.prepare(run.kind, rig.ingest_addr, rig.tokens["camera"], want, False, run.tag, **shape)
    rig.profile(run.tag, seconds)
    replies, cores = clients.run_window(MAIN_WARM_S, seconds, cpu, on_window=lambda: mark(rig, run, ""))
    mark(rig, run, "-drain")
    rig.reap_profilers()
    rig.check_ingest_alive(f"during the {run.label} run")
    m = merge(replies)
    out.run(
        f"{run.label} (warm-up {warm['acked_per_s']:,.0f}/s; {want:,} fresh reads generated in {gen:.1f} s)", m, cores
    )
    if m["acks"] == 0:
        say(
            f"    no acknowledgement within the {seconds:g} s window (errors {m['errors']}): its latencies are nan;"
            " a longer window (--seconds, --idle-seconds) measures them"
        )
    clients.prepare(run.kind, rig.ingest_addr, rig.tokens["camera"], 1, False, "free")
    return m


def phase_ingest(rig: Rig, out: Report, cpu: CpuMeter) -> None:
    a = rig.args
    say(f"\n[3/4] ingest service (pid {rig.ingest.pid}); {a.clients} client process(es)")
    rig.rss = RssSampler(rig.ingest.pid)
    base_rss = rig.rss.proc.memory_info().rss
    rig.rss.start()
    batched(rig, out, cpu)
    label = f"SubmitRead, concurrency {a.unary_concurrency}"
    m = measure(rig, Run("unary", label, 15_000, "unary"), cpu, out)
    out.figures(m, "unary_p50_ms", "unary_p99_ms", rate="unary_per_s")
    if a.idle_seconds > 0:
        label = f"unloaded: StreamReads, 1 stream x 1 in flight x {a.batch} reads"
        idle = Run("stream", label, 5_000, None, streams=1, depth=1, seconds=a.idle_seconds, warmup=1.0, tag="idle")
        out.figures(measure(rig, idle, cpu, out), "idle_p50_ack_ms", "idle_p99_ack_ms")
    rig.rss.stop()
    rss_report(rig, out, base_rss)


def batched(rig: Rig, out: Report, cpu: CpuMeter) -> None:
    a = rig.args
    label = f"StreamReads, {a.streams} camera streams x {a.depth} in flight x {a.batch} reads"
    m = measure(rig, Run("stream", label, max(40_000, a.streams * a.batch * 6), "batched"), cpu, out)
    out.figures(m, "p50_ack_ms", "p99_ack_ms", rate="batched_per_s")
    in_flight = a.streams * a.depth * a.batch
    if m["acked_per_s"] > 0:
        say(
            f"    closed loop at saturation: {in_flight:,} reads in flight / {m['acked_per_s']:,.0f} reads/s "
            f"= {1000 * in_flight / m['acked_per_s']:.0f} ms of queueing (Little's law), so these "
            "latencies measure the client's in-flight volume; see the unloaded latency below"
        )


def rss_report(rig: Rig, out: Report, base_rss: int) -> None:
    a, peaks = rig.args, rig.rss.peaks
    batched_peak = max(peaks.get("batched", 0), peaks.get("batched-drain", 0)) / MIB
    out.fig["ingest_peak_rss_mib"] = batched_peak
    say(
        f"\n[4/4] ingest RSS: {base_rss / MIB:.0f} MiB before the flood; peak during batched warm-up "
        f"{peaks.get('batched-warmup', 0) / MIB:.0f} MiB, measured run {batched_peak:.0f} MiB, unary "
        f"{max(peaks.get('unary', 0), peaks.get('unary-drain', 0)) / MIB:.0f} MiB "
        f"(the client keeps at most {a.streams * a.depth * a.batch:,} reads in flight)"
    )
