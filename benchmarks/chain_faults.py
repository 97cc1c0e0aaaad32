"""The chain benchmark's fault phase: under load, each service in turn is killed (SIGKILL) and started
again at once (as the kubelet restarts a container); cameras resubmit what was not acknowledged, the
observer's streams resume by sequence. Per victim: how long alerts and TFC activations stopped, when
the first alert of a read sent after the kill came, and what cameras were answered meanwhile; over
the phase: acknowledged listed reads without an alert, reads alerted twice, sequences out of order.

    .venv/bin/python benchmarks/chain_bench.py --phases faults --kill ingest,matcher,notify,firearms
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter

import grpc
from grpc import aio

from anpr.v1 import ingest_pb2, ingest_pb2_grpc
from benchmarks.chain_tally import Tally
from benchmarks.common import CHANNEL_OPTIONS, pct

# What a vendor client resubmits after (the contract: resubmitting a read is harmless). INTERNAL is
# resubmitted too, but counted: an outage must never answer it.
RESUBMIT = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
}


KEPT = (ingest_pb2.READ_STATUS_STORED, ingest_pb2.READ_STATUS_DUPLICATE)


class FaultTally(Tally):
    """A resubmitted batch may come back DUPLICATE (stored before its answer was lost): its listed
    reads count as acknowledged too. Keeps the ids of the listed and the firearms-marked reads
    acknowledged, to be checked one by one against what the streams delivered."""

    def __init__(self, w0: float, w1: float):
        super().__init__(w0, w1)
        self.marked_ids: list[str] = []

    def acked(self, t_sent: float, results, req, listed: int, marked: list[str]) -> None:
        super().ack(t_sent, time.time(), results, 0, 0)
        if all(r.status in KEPT for r in results):
            self.listed += listed
            self.firearms += len(marked)
            self.listed_reads += [(r.read_id, r.camera_id) for r in req.reads[:listed]]
            self.marked_ids += marked

    def result(self) -> dict:
        return {**super().result(), "marked_ids": self.marked_ids}


async def _camera(stub, md, batches, go: dict, stream: int, tally: FaultTally) -> None:
    """One camera: paced batches, each resubmitted (same read ids) until acknowledged, in order."""
    seq, next_at = 0, go["start"] + go["offset"]
    while (now := time.time()) < go["w1"]:
        await asyncio.sleep(max(0.0, next_at - now))
        next_at += go["interval"]
        req, listed, _ = batches.request(go["phase"], stream, seq, go["batch"])
        marked, sent = list(batches.marked), time.time()
        while True:
            try:
                resp = await stub.SubmitReads(
                    iter([ingest_pb2.SubmitReadsRequest(reads=req.reads)]), metadata=md, timeout=10, wait_for_ready=True
                )
                break
            except aio.AioRpcError as exc:
                tally.failed(exc)
                if exc.code() not in RESUBMIT:
                    return
                await asyncio.sleep(0.05)
        tally.acked(sent, resp.results, req, listed, marked)
        seq += 1


async def run_faults(state: dict, go: dict) -> dict:
    """A generator's part of the fault phase (an op of chain_load.generator_main)."""
    spec = state["spec"]
    targets = spec["targets"]
    channels = [
        aio.insecure_channel(targets[i % len(targets)], options=CHANNEL_OPTIONS) for i in range(spec["connections"])
    ]
    stubs = [ingest_pb2_grpc.IngestServiceStub(ch) for ch in channels]
    md = (("authorization", f"Bearer {spec['token']}"),)
    tally = FaultTally(go["w0"], go["w1"])
    streams = spec["connections"] * spec["streams_per_connection"]
    try:
        await asyncio.gather(
            *(
                _camera(
                    stubs[s % len(stubs)],
                    md,
                    state["batches"],
                    {**go, "offset": go["interval"] * (spec["index"] + s * spec["gens"]) / (streams * spec["gens"])},
                    s,
                    tally,
                )
                for s in range(streams)
            )
        )
    finally:
        for ch in channels:
            await ch.close()
    return tally.result()


def _gap(arrived: list[float], t0: float, t1: float) -> float:
    """The longest time without an arrival in [t0, t1] (the last arrival before t0 starts the first
    stretch, t1 ends the last)."""
    before = [t for t in arrived if t < t0]
    times = [max(before)] if before else [t0]
    times += [*sorted(t for t in arrived if t0 <= t <= t1), t1]
    return max(b - a for a, b in itertools.pairwise(times))


async def _kill_each(bench, victims: list[str], first_at: float, gap: float) -> list[tuple[str, float, float]]:
    """Kill each victim at its time and start it again at once: (name, killed at, serving again after s)."""
    out = []
    for i, name in enumerate(victims):
        await asyncio.sleep(max(0.0, first_at + i * gap - time.time()))
        killed = time.time()
        bench.launcher.kill(name)
        await bench.launcher.restart(name)
        out.append((name, killed, time.time() - killed))
    return out


async def faults(bench) -> None:
    a = bench.args
    victims = [v for v in a.kill.split(",") if v]
    warm, gap = 3.0, a.fault_gap
    streams = a.gens * a.connections * a.streams
    start = time.time() + 0.5
    go = {
        "phase": "faults",
        "start": start,
        "w0": start + warm,
        "w1": start + warm + gap * (len(victims) + 0.5),
        "interval": a.batch * streams / a.fault_rate,
        "batch": a.batch,
    }
    bench.say(
        f"\nfaults: {a.fault_rate:,} reads/s in SubmitReads calls of {a.batch}, resubmitted until acknowledged; "
        f"SIGKILL and restart of {', '.join(victims)}, {gap:.0f} s apart"
    )
    *results, kills = await asyncio.gather(
        *(g.call("faults", go, within_s=go["w1"] - start + 120) for g in bench.gens),
        _kill_each(bench, victims, go["w0"] + gap / 2, gap),
    )
    listed = {i for r in results for i, _ in r["listed_reads"]}
    marked = {i for r in results for i in r["marked_ids"]}
    got, _ = await bench.arrivals_until("faults", len(listed), len(marked), 60)
    ids = await bench.observer.call("ids", "faults")
    integrity = await bench.observer.call("integrity", "faults")
    errors = Counter()
    for r in results:
        errors.update(r["errors"])
    for name, killed, back in kills:
        _victim(bench, name, killed, back, got, gap)
    _report(bench, listed - set(ids["alert"]), marked - set(ids["tfc"]), (len(listed), len(marked)), integrity, errors)
    bench.say(f"  p99 read -> alert over the phase {pct([(t1 - t0) * 1000 for t0, t1 in got['alert']], 0.99):,.0f} ms")


def _victim(bench, name: str, killed: float, back: float, got: dict, gap: float) -> None:
    """How long alerts and activations stopped after `name` was killed, when alerts of reads sent
    after the kill came again, and the latest alert of a read sent around it."""
    stalls = {k: _gap([t1 for _, t1 in got[k]], killed, killed + gap) for k in ("alert", "tfc")}
    first = min((t1 - killed for t0, t1 in got["alert"] if t0 > killed), default=float("nan"))
    late = max(((t1 - t0) for t0, t1 in got["alert"] + got["tfc"] if killed - 1 <= t0 <= killed + 5), default=0.0)
    bench.say(
        f"  {name:<9} killed: serving again after {back:.1f} s; alerts stopped for {stalls['alert']:.2f} s, TFC "
        f"activations for {stalls['tfc']:.2f} s; first alert of a read sent after the kill {first:.2f} s after "
        f"it; latest alert or activation of a read sent from 1 s before to 5 s after: {late:.2f} s"
    )
    bench.fig[f"fault_{name}_alert_stall_s"] = stalls["alert"]
    bench.fig[f"fault_{name}_tfc_stall_s"] = stalls["tfc"]
    bench.fig[f"fault_{name}_latest_s"] = late
    bench.fig["fault_worst_stall_s"] = max(bench.fig.get("fault_worst_stall_s", 0.0), *stalls.values())


def _report(bench, unalerted: set, unraised: set, counts: tuple[int, int], integrity: dict, errors: Counter) -> None:
    doubled = sum(v["doubled"] for v in integrity.values())
    disorder = sum(v["out_of_order"] for v in integrity.values())
    bench.say(
        f"  {counts[0]} listed reads acknowledged, {len(unalerted)} of them without an alert; {counts[1]} "
        f"firearms-marked, {len(unraised)} without an activation; alerted twice {doubled}, out of sequence "
        f"order {disorder}; camera answers other than success: {dict(errors) or 'none'}"
    )
    bench.fig.update(
        fault_lost=len(unalerted) + len(unraised),
        fault_doubled=doubled,
        fault_out_of_order=disorder,
        fault_internal=errors.get("INTERNAL", 0) + errors.get("UNKNOWN", 0),
    )
