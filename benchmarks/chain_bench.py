#!/usr/bin/env python3
"""The whole chain end to end, as in production, beside a PostgreSQL-only reference in the same run.

    .venv/bin/python benchmarks/chain_bench.py                    # about 5 minutes on 2 cores
    .venv/bin/python benchmarks/chain_bench.py --entries 20000 --seconds 10 --ladder 1000,5000   # ~1 min

Set-up: embedded PostgreSQL (or a fresh database on the server of ANPR_DATABASE_URL); the four
services as separate OS processes (`anpr serve`, started by cli/suite/launcher.py; --workers sets
ANPR_WORKERS for each, --replicas runs that many processes of ingest and of matcher); cameras
registered with UpsertCamera; a hotlist of --entries entries (1% firearms-marked) imported through
MatcherService.ImportEntries. Alert deduplication is off (ANPR_DEDUP_WINDOW_S=0) and every firearms
sighting raises its own activation (ANPR_ACTIVATION_ATTACH_WINDOW_S=0), so that every listed read is
one alert (and, when firearms-marked, one activation) that can be timed.

Load: --gens generator processes, each with --connections TCP connections to ingest (spread over
its replicas) carrying --streams StreamReads calls of batches of --batch reads; --hit-share of the
reads (2%) name a listed plate, --tfc-share of those (10%, so that the TFC's p99 has samples) a
firearms-marked one. Other reads never match. An observer process holds a control-room Subscribe,
a TFC console (StreamActivations) and the reference's LISTEN connection; latencies run from just
before a batch is written to the first arrival of the read (read id -> alert.hit.read.read_id).

Phases:
  reference   reads COPYed (--ref-batch rows a batch, --ref-connections per generator) into a table
              whose row trigger looks up the same hotlist and pg_notify's the observer: reads/s and
              p50/p99 read -> listener at saturation for --ref-seconds, then p50/p99 paced at
              --ref-paced-rate (5000 reads/s) for half as long.
  saturation  as fast as ingest acknowledges, for --seconds: durable reads/s (acknowledged as stored),
              reads through matching/s (stored minus the growth of ingest's outbox backlog), hits/s
              (reads through matching x the listed share, exact by construction), alerts/s received,
              backlog at the end, then the drain time (until the backlog is 0 and every alert is in).
  ladder      paced rates (--ladder), each --step-seconds after --step-warmup: p50/p99 send -> ack,
              -> terminal alert, -> TFC activation; climbing stops when a p99 passes 1 s or the rate is
              not reached. max_rate_p99_under_100ms is the highest step where both p99s were <= 100 ms.
              First, the machine's floor under the low rates' latency (benchmarks/call_bench.py): a
              do-nothing gRPC call after 100 ms idle, back to back, and a plain TCP round trip after
              idle (grpc_call_after_idle_ms, grpc_call_back_to_back_ms, tcp_round_trip_after_idle_ms).
Each phase prints the CPU every process group used (cores). Figures are printed, never asserted;
the last line is space-separated name=value pairs. With --traces the services write their spans to
their logs and the run ends with where each ladder step's alerts spent their time, stage by stage
(chain_stages.py); use it at low rates, and take the latencies from a run without it.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from pathlib import Path

from anpr.runtime.auth import Role
from benchmarks import chain_cost, chain_faults, chain_reference, chain_stages
from benchmarks import chain_suite as cs
from benchmarks.chain_observer import observer_main
from benchmarks.common import CpuMeter, figures_of, pct, until

DEFAULT_LADDER = "1000,2500,5000,7500,10000,15000,20000,25000"
NAN = float("nan")


def merge(results: list[dict]) -> dict:
    out = {"ack_ms": [], "statuses": {}, "errors": {}, "first_error": "", "listed_reads": []}
    for r in results:
        out["ack_ms"] += r["ack_ms"]
        out["listed_reads"] += r["listed_reads"]
        for key in ("stored_in_window", "listed", "firearms", "sent_in_window"):
            out[key] = out.get(key, 0) + r[key]
        for key in ("statuses", "errors"):
            for k, v in r[key].items():
                out[key][k] = out[key].get(k, 0) + v
        out["first_error"] = out["first_error"] or r["first_error"]
    return out


class Bench(cs.Bench):
    def __init__(self, args):
        super().__init__(args, "anpr-chain-bench-")
        self.observer: cs.Child | None = None
        self.cpu: CpuMeter | None = None

    def children(self) -> list[cs.Child]:
        return [*self.gens, *([self.observer] if self.observer else [])]

    async def close(self) -> None:
        """With --traces, the services are stopped first (their spans flushed to their logs) and the
        stages reported before the temporary directory goes."""
        if self.args.traces and self.launcher is not None:
            await self.launcher.stop_all(20)
            chain_stages.report(self, self.tmp / "logs")
        await super().close()

    # -- set-up ----------------------------------------------------------------------------------------

    async def setup(self) -> None:
        a = self.args
        url = await self.db.start()
        self.launcher = cs.launch(self.db.logins, self.tmp, a.workers, a.replicas, traces=a.traces)
        t = time.perf_counter()
        await self.launcher.start_all(120)
        self.say(
            f"services SERVING in {time.perf_counter() - t:.1f} s: "
            + ", ".join(f"{n} {self.launcher.addr(n)}" for n in self.launcher.procs)
            + f" (ANPR_WORKERS={a.workers}); logs in {self.tmp / 'logs'}"
        )
        await cs.register_cameras(self.launcher, a.cameras)
        await cs.set_duty_rota(self.launcher, "bench-tfc", "bench-tfc_supervisor")
        took = await cs.import_hotlist(self.launcher, a.entries, a.import_chunk)
        self.say(f"hotlist: {a.entries} entries imported in {took:.1f} s ({a.entries / took:,.0f} entries/s)")
        self.say(f"matcher index ready {await cs.wait_indexed(self.launcher, a.entries):.1f} s later")
        t = time.perf_counter()
        await chain_reference.create(url, a.entries)
        self.say(f"reference hotlist table loaded in {time.perf_counter() - t:.1f} s")
        self.start_children(url)
        await self.probe()

    def start_children(self, url: str) -> None:
        a, tokens = self.args, self.launcher.tokens
        ctx = multiprocessing.get_context("spawn")
        self.observer = cs.Child(
            ctx,
            observer_main,
            {
                "database_url": url,
                "notify": self.launcher.target("notify"),
                "firearms": self.launcher.target("firearms"),
                "control_room_token": tokens[Role.CONTROL_ROOM],
                "tfc_token": tokens[Role.TFC],
            },
            self.tmp / "observer.log",
            "observer",
        )
        self.start_generators(
            ctx, url, tfc_share=a.tfc_share, seed=7, ref_connections=a.ref_connections, ref_batch=a.ref_batch
        )
        self.cpu = CpuMeter(
            cs.cpu_groups(self.launcher, self.db, {"load generators": self.gens, "observer": [self.observer]})
        )

    async def probe(self) -> None:
        """Both streams live and the chain whole: two listed reads through ingest reach the
        subscriber, and the firearms-marked one the TFC console."""
        for child in self.children():
            await child.ready(120)

        async def arrived() -> bool:
            got = await self.observer.call("arrivals", "e2e")
            return bool(got["alert"] and got["tfc"])

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            await cs.submit_probe(self.launcher, self.args.entries)
            if await until(arrived, 5.0):
                self.say("probe: alert and TFC activation received; measuring")
                return
        raise cs.BenchError("the probe reads never reached the subscriber and the TFC console")

    # -- running load ----------------------------------------------------------------------------------

    async def run(
        self, op: str, phase: str, warm: float, seconds: float, rate: float = 0.0, batch: int = 0
    ) -> tuple[dict, dict]:
        """Load of `op` ("chain" or "reference") for `seconds` after `warm`, paced at `rate` (0: as
        fast as acknowledged) in calls of `batch` reads (0: --batch; 1: SubmitRead calls)."""
        a = self.args
        streams, batch = (
            (a.gens * a.connections * a.streams, batch or a.batch)
            if op == "chain"
            else (a.gens * a.ref_connections, a.ref_batch)
        )
        start = time.time() + 0.5
        go = {
            "phase": phase,
            "start": start,
            "w0": start + warm,
            "w1": start + warm + seconds,
            "interval": (batch * streams / rate) if rate else 0.0,
            "depth": a.depth if not rate else 16,
            "drain_s": 30.0,
            "batch": batch,
        }

        async def measure() -> dict:
            await asyncio.sleep(max(0.0, go["w0"] - time.time()))
            snap0, b0, pg0 = (
                self.cpu.snapshot(),
                await cs.backlog(self.db.url),
                await chain_cost.pg_counters(self.db.url),
            )
            await asyncio.sleep(max(0.0, go["w1"] - time.time()))
            snap1, b1, pg1 = (
                self.cpu.snapshot(),
                await cs.backlog(self.db.url),
                await chain_cost.pg_counters(self.db.url),
            )
            return {
                "cpu": CpuMeter.cores(snap0, snap1, seconds),
                "backlog0": b0,
                "backlog1": b1,
                "pg": chain_cost.pg_rates(pg0, pg1, seconds),
            }

        *results, m = await asyncio.gather(*(g.call(op, go) for g in self.gens), measure())
        load = merge(results)
        if load["errors"]:
            self.say(f"  errors: {load['errors']} (first: {load['first_error']})")
        return go, {**load, **m}

    def say_cpu(self, cpu: dict) -> None:
        self.say("  cpu (cores): " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))

    async def arrivals_until(self, phase: str, alerts: int, tfc: int, within_s: float) -> tuple[dict, float]:
        """The observer's arrivals once `alerts` alerts and `tfc` activations are in, or after `within_s`
        seconds; and the time then."""

        async def all_in() -> bool:
            n = await self.observer.call("counts", phase)
            return n["alert"] >= alerts and n["tfc"] >= tfc

        await until(all_in, within_s)
        return await self.observer.call("arrivals", phase), time.time()

    # -- phases ----------------------------------------------------------------------------------------

    async def reference(self) -> None:
        a = self.args
        self.say(
            f"\nreference: COPY batches of {a.ref_batch} into a table with a hotlist-lookup trigger and "
            f"pg_notify, {a.gens} x {a.ref_connections} connections, {a.ref_seconds:.0f} s"
        )
        go, r = await self.run("reference", "ref", 1.0, a.ref_seconds)
        got, _ = await self.arrivals_until("ref", r["listed"], 0, 10)
        lat = [(t1 - t0) * 1000 for t0, t1 in got["ref"] if go["w0"] <= t0 < go["w1"]]
        self.fig["reference_reads_per_s"] = r["stored_in_window"] / a.ref_seconds
        self.fig["reference_p50_ms"], self.fig["reference_p99_ms"] = pct(lat, 0.5), pct(lat, 0.99)
        self.say(
            f"  {self.fig['reference_reads_per_s']:,.0f} reads/s; read -> listener p50 "
            f"{self.fig['reference_p50_ms']:.1f} ms, p99 {self.fig['reference_p99_ms']:.1f} ms "
            f"({len(lat)} hits); COPY p99 {pct(r['ack_ms'], 0.99):.1f} ms"
        )
        self.say_cpu(r["cpu"])
        rate = a.ref_paced_rate
        go, r = await self.run("reference", "ref-paced", 1.0, a.ref_seconds / 2, rate)
        got, _ = await self.arrivals_until("ref-paced", r["listed"], 0, 10)
        lat = [(t1 - t0) * 1000 for t0, t1 in got["ref"] if go["w0"] <= t0 < go["w1"]]
        self.fig[f"reference_p99_ms_at_{rate}"] = pct(lat, 0.99)
        self.say(
            f"  paced at {rate:,} reads/s (got {r['stored_in_window'] / (a.ref_seconds / 2):,.0f}): read -> "
            f"listener p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms ({len(lat)} hits)"
        )

    async def saturation(self) -> None:
        a = self.args
        self.say(
            f"\nsaturation: {a.gens} x {a.connections} connections x {a.streams} streams, batches of "
            f"{a.batch}, {a.depth} in flight per stream, {a.seconds:.0f} s"
        )
        go, r = await self.run("chain", "sat", a.warmup, a.seconds)
        stored = r["stored_in_window"]
        matched = stored - (r["backlog1"] - r["backlog0"])
        got = await self.observer.call("arrivals", "sat")
        alerts_in = sum(go["w0"] <= t1 < go["w1"] for _, t1 in got["alert"])
        f = self.fig
        f["chain_reads_per_s"], f["matched_reads_per_s"] = stored / a.seconds, matched / a.seconds
        f["hits_per_s"] = f["matched_reads_per_s"] * max(1, round(a.batch * a.hit_share)) / a.batch
        f["alerts_per_s"], f["backlog_end"] = alerts_in / a.seconds, r["backlog1"]
        f["sat_p99_ack_ms"] = pct(r["ack_ms"], 0.99)
        self.say(
            f"  durable {f['chain_reads_per_s']:,.0f} reads/s (ack p50 {pct(r['ack_ms'], 0.5):.0f} ms, p99 "
            f"{f['sat_p99_ack_ms']:.0f} ms; statuses {r['statuses']}); through matching "
            f"{f['matched_reads_per_s']:,.0f} reads/s; hits {f['hits_per_s']:,.0f}/s; alerts received "
            f"{f['alerts_per_s']:,.0f}/s; backlog at the end {f['backlog_end']:,.0f} reads"
        )
        self.say_cpu(r["cpu"])
        await self.drain(go, r)

    async def drain(self, go: dict, r: dict) -> None:
        """After the load stops: until the backlog is 0 and every alert and activation is in."""
        left, n = NAN, {}

        async def drained() -> bool:
            nonlocal left, n
            left = await cs.backlog(self.db.url)
            n = await self.observer.call("counts", "sat")
            return left == 0 and n["alert"] >= r["listed"] and n["tfc"] >= r["firearms"]

        done = await until(drained, self.args.drain_timeout)
        got = await self.observer.call("arrivals", "sat")
        f = self.fig
        f["drain_s"] = max(0.0, time.time() - go["w1"]) if done else NAN
        lat = [(t1 - t0) * 1000 for t0, t1 in got["alert"]]
        f["sat_p50_alert_ms"], f["sat_p99_alert_ms"] = pct(lat, 0.5), pct(lat, 0.99)
        self.say(
            f"  drained in {f['drain_s']:.1f} s after the load stopped"
            if done
            else f"  NOT drained within {self.args.drain_timeout:.0f} s: backlog {left:,.0f}, alerts "
            f"{n['alert']}/{r['listed']}, activations {n['tfc']}/{r['firearms']}"
        )
        self.say(
            f"  read -> alert at saturation: p50 {f['sat_p50_alert_ms']:,.0f} ms, p99 "
            f"{f['sat_p99_alert_ms']:,.0f} ms ({len(lat)} alerts)"
        )

    async def step(self, rate: int) -> dict:
        a = self.args
        go, r = await self.run("chain", f"r{rate}", a.step_warmup, a.step_seconds, rate)
        got, now = await self.arrivals_until(f"r{rate}", r["listed"], r["firearms"], a.step_wait)
        out = {
            "rate": rate,
            "achieved": r["stored_in_window"] / a.step_seconds,
            "ack50": pct(r["ack_ms"], 0.5),
            "ack99": pct(r["ack_ms"], 0.99),
            "cpu": r["cpu"],
            "pg": r["pg"],
        }
        for kind, expected in (("alert", r["listed"]), ("tfc", r["firearms"])):
            lat = [(t1 - t0) * 1000 for t0, t1 in got[kind] if go["w0"] <= t0 < go["w1"]]
            missing = max(0, expected - len(got[kind]))
            lat += [(now - go["w1"]) * 1000] * missing  # not in yet: at least this late
            out[f"{kind}50"], out[f"{kind}99"], out[f"{kind}_n"], out[f"{kind}_missing"] = (
                pct(lat, 0.5),
                pct(lat, 0.99),
                len(lat),
                missing,
            )
        return out

    async def call_floor(self) -> None:
        """What one gRPC call costs this machine after 100 ms of idle, beside back to back and plain TCP
        (benchmarks/call_bench.py): at low rates every hop of the chain is such a call, so the p50 at
        200 reads/s is read against it."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).with_name("call_bench.py")),
            *("--rounds", "0", "--gaps", "0,100", "--idle-calls", "30"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out = (await proc.communicate())[0].decode(errors="replace")
        got = figures_of(out)
        names = {
            "grpc_call_after_idle_ms": "idle_wall_us_grpc_100ms",
            "grpc_call_back_to_back_ms": "idle_wall_us_grpc_0ms",
            "tcp_round_trip_after_idle_ms": "idle_wall_us_tcp_100ms",
        }
        if not all(us in got for us in names.values()):
            self.say("  (the machine's call floor could not be measured: " + " / ".join(out.splitlines()[-3:]) + ")")
            return
        floor = {ms: got[us] / 1000 for ms, us in names.items()}
        self.fig.update(floor)
        self.say(
            f"  this machine: a do-nothing gRPC call after 100 ms idle takes {floor['grpc_call_after_idle_ms']:.2f} ms"
            f" (back to back {floor['grpc_call_back_to_back_ms']:.2f}; a plain TCP round trip after idle"
            f" {floor['tcp_round_trip_after_idle_ms']:.2f}): at low rates each of the four calls on a read's"
            " path pays about the first"
        )

    async def ladder(self) -> None:
        a = self.args
        self.say(f"\nladder: paced rates, {a.step_warmup:.0f} s warm-up + {a.step_seconds:.0f} s each")
        await self.call_floor()
        best = 0
        for rate in a.ladder:
            s = await self.step(rate)
            reached = s["achieved"] >= 0.9 * rate
            self.say(
                f"  {rate:>6,} reads/s (got {s['achieved']:,.0f}): ack p50/p99 {s['ack50']:.1f}/{s['ack99']:.1f}"
                f" ms, alert {s['alert50']:.1f}/{s['alert99']:.1f} ms (n={s['alert_n']}, missing "
                f"{s['alert_missing']}), TFC {s['tfc50']:.1f}/{s['tfc99']:.1f} ms (n={s['tfc_n']})"
            )
            self.say_cpu(s["cpu"])
            chain_cost.say_per_thousand(self, f"at_{rate}", s["cpu"], s["achieved"], s["pg"])
            self.fig[f"p99_alert_ms_at_{rate}"], self.fig[f"p99_tfc_ms_at_{rate}"] = s["alert99"], s["tfc99"]
            self.fig[f"p50_alert_ms_at_{rate}"] = s["alert50"]
            if rate == 5000:
                self.fig.update(p99_ack_ms_at_5000=s["ack99"])
            if reached and s["alert99"] <= 100 and s["tfc99"] <= 100:
                best = rate
            if not reached or not s["alert99"] <= 1000 or not s["tfc99"] <= 1000:
                self.say("  stop climbing: " + ("rate not reached" if not reached else "p99 over 1 s"))
                break
            await self.wait_backlog_empty(30)
        self.fig["max_rate_p99_under_100ms"] = best

    async def escalations(self) -> None:
        """Until now the observer acknowledged every activation as it arrived (a commander at the
        console). Now nobody does, for one paced step: how late each escalation reaches the console,
        past the deadline it missed (cs.ACK_DEADLINE_S)."""
        a = self.args
        before = await self.observer.call("escalations", "")
        await self.observer.call("acking", "off")
        rate = a.escalation_rate
        self.say(
            f"\nescalations: nobody acknowledges the activations of {a.step_seconds:.0f} s at {rate:,} reads/s "
            f"(deadline {cs.ACK_DEADLINE_S} s)"
        )
        _, r = await self.run("chain", "escalation", a.step_warmup, a.step_seconds, rate)
        seen, late = before, []

        async def all_escalated() -> bool:
            nonlocal seen, late
            seen = await self.observer.call("escalations", "")
            late = [x * 1000 for x in seen["late"][len(before["late"]) :]]
            return len(late) >= r["firearms"]

        await until(all_escalated, cs.ACK_DEADLINE_S + a.step_warmup + a.step_wait)
        self.say(
            f"  {len(late)} escalations ({r['firearms']} activations; {before['late'].__len__()} escalated "
            f"earlier, {seen['ack_failures']} acknowledgements failed); reached the console after the missed "
            f"deadline: p50 {pct(late, 0.5):.1f} ms, p99 {pct(late, 0.99):.1f} ms"
            if late
            else "  none seen"
        )
        self.fig.update(
            escalations=len(late),
            p50_escalation_late_ms=pct(late, 0.5) if late else NAN,
            p99_escalation_late_ms=pct(late, 0.99) if late else NAN,
            escalated_while_acknowledging=len(before["late"]),
        )

    async def wait_backlog_empty(self, within_s: float) -> None:
        async def empty() -> bool:
            return not await cs.backlog(self.db.url) > 0  # NaN (unreadable) ends the wait too

        await until(empty, within_s)

    # -- the run ---------------------------------------------------------------------------------------

    async def main(self) -> None:
        t0 = time.monotonic()
        try:
            await self.setup()
            phases = {
                "reference": self.reference,
                "saturation": self.saturation,
                "ladder": self.ladder,
                "cost": lambda: chain_cost.cost(self),
                "idle": lambda: chain_cost.idle(self),
                "escalations": self.escalations,
                "faults": lambda: chain_faults.faults(self),
            }
            for name in self.args.phases:
                await phases[name]()
        finally:
            await self.close()
        f = self.fig
        if "matched_reads_per_s" in f and "reference_reads_per_s" in f:
            f["matched_over_reference"] = f["matched_reads_per_s"] / f["reference_reads_per_s"]
        for name in ("p50_alert_ms_at_5000", "p99_alert_ms_at_5000", "p99_tfc_ms_at_5000", "p99_ack_ms_at_5000"):
            f.setdefault(name, NAN)
        f.update(entries=self.args.entries, workers=self.args.workers, replicas=self.args.replicas)
        self.say(f"\ntotal {time.monotonic() - t0:.0f} s")
        self.say(" ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in f.items()))


def rates(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


PHASES = "reference,saturation,ladder,cost,idle,escalations"


KNOWN_PHASES = f"{PHASES},faults"


def phases(text: str) -> list[str]:
    names = [x for x in text.split(",") if x]
    unknown = set(names) - set(KNOWN_PHASES.split(","))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown phases {sorted(unknown)}; known: {KNOWN_PHASES}")
    return names


OPTIONS = {
    "--entries": (int, 1_000_000, "hotlist entries (default 1,000,000)"),
    "--seconds": (float, 30.0, "saturation window (default 30)"),
    "--warmup": (float, 2.0, "saturation warm-up (default 2)"),
    "--ladder": (rates, DEFAULT_LADDER, f"paced rates, reads/s (default {DEFAULT_LADDER})"),
    "--step-seconds": (float, 10.0, "measured seconds per ladder step (default 10)"),
    "--step-warmup": (float, 2.0, "warm-up per ladder step (default 2)"),
    "--step-wait": (float, 10.0, "seconds to wait for a step's late alerts (default 10)"),
    "--drain-timeout": (float, 180.0, "longest wait for the drain (default 180)"),
    "--ref-seconds": (float, 10.0, "reference window (default 10)"),
    "--ref-paced-rate": (int, 5000, "reference's paced rate, reads/s (default 5000)"),
    "--ref-batch": (int, 1000, "rows per COPY in the reference (default 1000)"),
    "--ref-connections": (int, 2, "COPY connections per generator (default 2)"),
    "--replicas": (int, 1, "processes of ingest and of matcher (default 1)"),
    "--gens": (int, 2, "load generator processes (default 2)"),
    "--connections": (int, 4, "connections per generator (default 4)"),
    "--batch": (int, 100, "reads per batch (default 100)"),
    "--depth": (int, 2, "batches in flight per stream at saturation (default 2)"),
    "--phases": (phases, PHASES, f"phases to run, in this order (default {PHASES}; also: faults)"),
    "--kill": (str, "ingest,matcher,notify,firearms", "faults: the services killed, in turn"),
    "--fault-rate": (int, 1500, "faults: reads/s while they happen (default 1500)"),
    "--fault-gap": (float, 20.0, "faults: seconds between kills (default 20)"),
    "--cost-rate": (int, 500, "reads/s of each call shape of the cost phase (default 500; 0: no cost phase)"),
    "--escalation-rate": (int, 1000, "reads/s of the step whose activations nobody acknowledges (default 1000)"),
    "--tfc-share": (float, 0.1, "share of listed reads that are firearms-marked (default 0.1)"),
    "--cameras": (int, 100, "cameras registered (default 100)"),
}


def parse_args(argv=None) -> argparse.Namespace:
    ap = cs.parser(__doc__, OPTIONS)
    ap.add_argument(
        "--traces",
        action="store_true",
        help="the services write their spans to their logs; at the end, where each ladder step's alerts"
        " spent their time, stage by stage (benchmarks/chain_stages.py; costs the services some CPU)",
    )
    args = ap.parse_args(argv)
    if isinstance(args.ladder, str):  # the default, when argparse has not converted it
        args.ladder = rates(args.ladder)
    if isinstance(args.phases, str):
        args.phases = phases(args.phases)
    return args


def main(argv=None) -> int:
    return cs.run("chain_bench", Bench(parse_args(argv)).main)


if __name__ == "__main__":
    sys.exit(main())
