#!/usr/bin/env python3
"""Geo-targeted alerts to in-car terminals (issue 10): camera call -> alert on the terminals that
should get it, and deliveries to terminals that should not have had them.

    .venv/bin/python benchmarks/notify_bench.py          # 1,000 terminals, 5,000 reads/s, about 2 minutes
    .venv/bin/python benchmarks/notify_bench.py --terminals 200 --rate 1000 --seconds 5 --entries 20000

Set-up (the chain benchmark's modules: benchmarks/chain_suite.py, chain_load.py, common.py):
embedded PostgreSQL (or a fresh database on the server of ANPR_DATABASE_URL), the four services as
`anpr serve` processes, alert deduplication off so that every listed read is one alert; --cameras
cameras registered with UpsertCamera at random positions in a --side-km square around Reading
(51.45, -0.97); a hotlist of --entries imported through ImportEntries.

Terminals: --terminals units at random positions in the same square, each subscribed (role terminal,
NotifyService.Subscribe) with a circle of --radius-km around it, held by --observers terminal
processes with --streams-per-channel streams per channel. The load starts once every stream has
sent its first message (`opened`).

Load: chain_load's generator processes send StreamReads batches paced at --rate reads/s for
--warmup + --seconds; 2% of reads name a listed plate; reads carry their camera's coordinates, except
every --no-location-every-th, which notify must place at the camera's registered position.

Ground truth: the benchmark knows where each camera stands. A listed read acknowledged as stored must
reach exactly the terminals whose circle contains its camera: expected deliveries. Delivered: the
(terminal, read) pairs received; missed: expected and not received within --wait seconds after the
load; wrong: received by a terminal whose centre is farther than the radius (+1 m) from the read's
camera (or, for a read the benchmark did not send, from hit.location); location mismatches: alerts
whose hit.location is not the camera's position. Latency: send (just before the batch is written)
-> arrival on each terminal that should get it, over reads sent after the warm-up; with --control-room,
also the same reads on one unfiltered control-room stream (NaN without). Figures are
printed, never asserted; the last line is space-separated name=value pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import random
import sys
import time
from collections import Counter

from anpr.runtime.auth import Caller, Role
from benchmarks import chain_suite as cs
from benchmarks.chain_bench import merge
from benchmarks.chain_load import parse_read_id
from benchmarks.common import CpuMeter, camera_ids, pct, until
from benchmarks.notify_terminals import CONTROL_ROOM, terminals_main

CENTRE = (51.45, -0.97)  # Reading


def unit_identities(n: int) -> dict[str, Caller]:
    """An identity per terminal (its token's unit and force): a unit is who its token says."""
    return {
        f"unit-{i}": Caller(Role.TERMINAL, f"bench-unit-{i:04d}", force=cs.FORCE, unit=f"UNIT-{i:04d}")
        for i in range(n)
    }


TOLERANCE_KM = 0.001
PHASE = "nb"


def km(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    """Great-circle distance (haversine, mean Earth radius): the benchmark's own, independent of
    the code under test; the 1 m tolerance covers the two implementations' rounding."""
    p1, p2 = math.radians(a_lat), math.radians(b_lat)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b_lon - a_lon) / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def spread(rng: random.Random, n: int, side_km: float) -> list[tuple[float, float]]:
    """n uniform random points in a side_km square centred on CENTRE."""
    dlat = side_km / 2 / 111.2
    dlon = side_km / 2 / (111.2 * math.cos(math.radians(CENTRE[0])))
    return [(CENTRE[0] + rng.uniform(-dlat, dlat), CENTRE[1] + rng.uniform(-dlon, dlon)) for _ in range(n)]


class Truth:
    """Who should get an alert for a read at each camera, and what counts as wrong."""

    def __init__(self, terminals: list[tuple[float, float]], sites: list[tuple[float, float]], radius_km: float):
        self.terminals, self.radius = terminals, radius_km
        self.site_of = dict(zip(camera_ids(len(sites)), sites, strict=True))
        self.covering = {
            cam: [t for t, (lat, lon) in enumerate(terminals) if km(lat, lon, *site) <= radius_km]
            for cam, site in self.site_of.items()
        }

    def expected(self, listed_reads: list[tuple[str, str]]) -> dict[tuple[int, str], float]:
        """(terminal, read id) -> send time, for every listed read stored."""
        return {(t, rid): parse_read_id(rid)[1] for rid, cam in listed_reads for t in self.covering[cam]}

    def outside(self, terminal: int, where: tuple[float, float]) -> bool:
        return km(*self.terminals[terminal], *where) > self.radius + TOLERANCE_KM


def judge(truth: Truth, listed_reads: list[tuple[str, str]], deliveries: list[tuple], w0: float, w1: float) -> dict:
    """Expected, delivered, missed, wrong, duplicates, location mismatches, (send time, latency in ms)
    of the expected deliveries of reads sent in [w0, w1), and the control room's latencies for them."""
    expected = truth.expected(listed_reads)
    camera_of = dict(listed_reads)
    first: dict[tuple[int, str], float] = {}
    room: dict[str, float] = {}
    wrong = duplicates = mismatched = 0
    for t, rid, arrived, has_loc, lat, lon in deliveries:
        parsed = parse_read_id(rid)
        if parsed is None or parsed[0] != PHASE:
            continue  # not this run's load
        if t == CONTROL_ROOM:
            room.setdefault(rid, arrived)
            continue
        if (t, rid) in first:
            duplicates += 1
            continue
        first[t, rid] = arrived
        site = truth.site_of.get(camera_of.get(rid, ""))
        if site is not None and (not has_loc or km(lat, lon, *site) > TOLERANCE_KM):
            mismatched += 1
        wrong += truth.outside(t, site if site is not None else (lat, lon))
    delivered = sum(pair in first for pair in expected)
    lat_ms = [
        (sent, (first[pair] - sent) * 1000) for pair, sent in expected.items() if pair in first and w0 <= sent < w1
    ]
    room_ms = [
        (room[rid] - sent) * 1000
        for rid, _ in listed_reads
        if rid in room and w0 <= (sent := parse_read_id(rid)[1]) < w1
    ]
    return {
        "expected": len(expected),
        "delivered": delivered,
        "missed": len(expected) - delivered,
        "wrong": wrong,
        "duplicates": duplicates,
        "location_mismatch": mismatched,
        "lat_ms": lat_ms,
        "room_ms": room_ms,
    }


class Bench(cs.Bench):
    def __init__(self, args):
        super().__init__(args, "anpr-notify-bench-")
        self.observers: list[cs.Child] = []
        rng = random.Random(args.seed)
        self.sites = spread(rng, args.cameras, args.side_km)
        self.terminals = spread(rng, args.terminals, args.side_km)
        self.truth = Truth(self.terminals, self.sites, args.radius_km)

    def children(self) -> list[cs.Child]:
        return [*self.observers, *self.gens]

    async def setup(self) -> None:
        a = self.args
        url = await self.db.start()
        self.launcher = cs.launch(
            self.db.logins, self.tmp, a.workers, 1, identities=unit_identities(len(self.terminals))
        )
        await self.launcher.start_all(120)
        self.say(
            "services SERVING: "
            + ", ".join(f"{n} {self.launcher.addr(n)}" for n in self.launcher.procs)
            + f"; logs in {self.tmp / 'logs'}"
        )
        await cs.register_cameras(self.launcher, a.cameras, self.sites)
        took = await cs.import_hotlist(self.launcher, a.entries, a.import_chunk)
        self.say(
            f"{a.cameras} cameras registered; hotlist of {a.entries:,} entries imported in {took:.1f} s; "
            f"matcher index ready {await cs.wait_indexed(self.launcher, a.entries):.1f} s later"
        )
        self.start_children(url)
        for child in self.children():
            await child.ready(120)
        await self.wait_opened()

    def start_children(self, url: str) -> None:
        a, tokens = self.args, self.launcher.tokens
        ctx = multiprocessing.get_context("spawn")
        units = [
            [i, f"UNIT-{i:04d}", lat, lon, tokens.named(f"unit-{i}")] for i, (lat, lon) in enumerate(self.terminals)
        ]
        for k in range(a.observers):
            self.observers.append(
                cs.Child(
                    ctx,
                    terminals_main,
                    {
                        "terminals": units[k :: a.observers],
                        "notify": self.launcher.target("notify"),
                        "force": cs.FORCE,
                        "radius_km": a.radius_km,
                        "streams_per_channel": a.streams_per_channel,
                        "control_room_token": tokens[Role.CONTROL_ROOM] if k == 0 and a.control_room else "",
                    },
                    self.tmp / f"terminals-{k}.log",
                    f"terminals-{k}",
                )
            )
        self.start_generators(
            ctx,
            url,
            tfc_share=0.0,
            sites=self.sites,
            no_location_every=a.no_location_every,
            seed=a.seed,
            ref_connections=1,
            ref_batch=a.batch,
        )
        self.cpu = CpuMeter(
            cs.cpu_groups(self.launcher, self.db, {"load generators": self.gens, "terminal processes": self.observers})
        )

    async def wait_opened(self, within_s: float = 180.0) -> None:
        t0, n = time.monotonic(), 0

        async def all_opened() -> bool:
            nonlocal n
            n = sum([await o.call("opened", None) for o in self.observers])
            return n >= self.args.terminals

        if not await until(all_opened, within_s):
            raise cs.BenchError(f"only {n} of {self.args.terminals} terminal streams opened in {within_s:.0f} s")
        self.say(f"{n} terminal streams opened in {time.monotonic() - t0:.1f} s")

    async def deliveries(self) -> tuple[list, Counter]:
        got, errors = [], Counter()
        for o in self.observers:
            r = await o.call("deliveries", None)
            got += r["deliveries"]
            errors.update(r["errors"])
        return got, errors

    async def load(self) -> tuple[dict, dict]:
        a = self.args
        streams = a.gens * a.connections * a.streams
        start = time.time() + 0.5
        go = {
            "phase": PHASE,
            "start": start,
            "w0": start + a.warmup,
            "w1": start + a.warmup + a.seconds,
            "interval": a.batch * streams / a.rate,
            "depth": 16,
            "drain_s": 30.0,
        }

        async def measure() -> dict:
            await asyncio.sleep(max(0.0, go["w0"] - time.time()))
            snap0 = self.cpu.snapshot()
            await asyncio.sleep(max(0.0, go["w1"] - time.time()))
            return CpuMeter.cores(snap0, self.cpu.snapshot(), a.seconds)

        *results, cpu = await asyncio.gather(*(g.call("chain", go) for g in self.gens), measure())
        return go, {**merge(results), "cpu": cpu}

    async def settle(self, listed_reads: list[tuple[str, str]]) -> tuple[list, Counter]:
        """Deliveries once every expected one is in, or after --wait seconds."""
        want = set(self.truth.expected(listed_reads))
        got, errors = [], Counter()

        async def all_in() -> bool:
            nonlocal got, errors
            got, errors = await self.deliveries()
            return want <= {(d[0], d[1]) for d in got}

        await until(all_in, self.args.wait, every_s=0.5)
        return got, errors

    async def measure(self) -> None:
        a = self.args
        self.say(
            f"\nload: {a.rate:,} reads/s for {a.warmup:.0f} s warm-up + {a.seconds:.0f} s; {a.terminals} terminals, "
            f"radius {a.radius_km} km, {a.side_km:.0f} km square; {a.cameras} cameras"
        )
        go, r = await self.load()
        if r["errors"]:
            self.say(f"  load errors: {r['errors']} (first: {r['first_error']})")
        got, errors = await self.settle(r["listed_reads"])
        j = judge(self.truth, r["listed_reads"], got, go["w0"], go["w1"])
        timed, room = j.pop("lat_ms"), j.pop("room_ms")
        self.record(r, j, [ms for _, ms in timed], room, errors)
        self.say_deliveries(j, len(timed), len(room), errors)
        self.say_quarters(go, timed)
        self.say("  cpu (cores): " + ", ".join(f"{k} {v:.2f}" for k, v in r["cpu"].items()))
        self.fig.update({f"cpu_{k.replace(' ', '_')}": v for k, v in r["cpu"].items()})

    def record(self, r: dict, j: dict, lat: list[float], room: list[float], errors: Counter) -> None:
        """The figures of the last line: the load, the judge's counts, the latencies."""
        a = self.args
        self.fig.update(
            terminals=a.terminals,
            rate=a.rate,
            achieved_reads_per_s=r["stored_in_window"] / a.seconds,
            listed_reads=len(r["listed_reads"]),
            expected_deliveries=j["expected"],
            deliveries=j["delivered"],
            p50_ms=pct(lat, 0.5),
            p99_ms=pct(lat, 0.99),
            max_ms=max(lat, default=float("nan")),
            wrong_deliveries=j["wrong"],
            missed_deliveries=j["missed"],
            duplicate_deliveries=j["duplicates"],
            location_mismatches=j["location_mismatch"],
            stream_errors=sum(errors.values()),
            control_room_p50_ms=pct(room, 0.5),
            control_room_p99_ms=pct(room, 0.99),
        )

    def say_deliveries(self, j: dict, timed: int, room: int, errors: Counter) -> None:
        f = self.fig
        self.say(
            f"  stored {f['achieved_reads_per_s']:,.0f} reads/s; {f['listed_reads']} listed reads -> "
            f"{j['expected']} expected deliveries ({j['expected'] / max(1, f['listed_reads']):.1f} terminals a read)"
        )
        self.say(
            f"  delivered {j['delivered']}, missed {j['missed']}, WRONG {j['wrong']}, duplicates {j['duplicates']}, "
            f"hit.location not the camera's {j['location_mismatch']}; stream errors {dict(errors) or 0}"
        )
        self.say(
            f"  camera call -> terminal alert ({timed} deliveries after the warm-up): p50 {f['p50_ms']:.1f} ms, "
            f"p99 {f['p99_ms']:.1f} ms, max {f['max_ms']:.1f} ms"
        )
        if self.args.control_room:
            self.say(
                f"  the same reads on one unfiltered control-room stream ({room}): p50 "
                f"{f['control_room_p50_ms']:.1f} ms, p99 {f['control_room_p99_ms']:.1f} ms"
            )

    def say_quarters(self, go: dict, timed: list[tuple[float, float]]) -> None:
        quarter = self.args.seconds / 4
        quarters = [
            pct([ms for sent, ms in timed if go["w0"] + k * quarter <= sent < go["w0"] + (k + 1) * quarter], 0.5)
            for k in range(4)
        ]
        self.say(
            "  p50 by quarter of the load (growing: a queue builds up): "
            + ", ".join(f"{q:.1f}" for q in quarters)
            + " ms"
        )

    async def main(self) -> None:
        t0 = time.monotonic()
        try:
            await self.setup()
            await self.measure()
        finally:
            await self.close()
        self.say(f"\ntotal {time.monotonic() - t0:.0f} s")
        self.say(" ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.fig.items()))


OPTIONS = {
    "--terminals": (int, 1000, "subscribed terminals (default 1000)"),
    "--radius-km": (float, 5.0, "each terminal's circle (default 5 km)"),
    "--side-km": (float, 100.0, "side of the square around Reading (default 100 km)"),
    "--cameras": (int, 200, "cameras in the same square (default 200)"),
    "--rate": (int, 5000, "reads per second (default 5000)"),
    "--seconds": (float, 20.0, "measured seconds of load (default 20)"),
    "--warmup": (float, 2.0, "warm-up seconds before them (default 2)"),
    "--wait": (float, 15.0, "longest wait for late deliveries after the load (default 15)"),
    "--entries": (int, 100_000, "hotlist entries (default 100,000)"),
    "--no-location-every": (int, 10, "every n-th read is sent without coordinates (default 10; 0: none)"),
    "--observers": (int, 2, "terminal processes (default 2)"),
    "--streams-per-channel": (int, 100, "Subscribe streams per channel (default 100)"),
    "--gens": (int, 1, "load generator processes (default 1)"),
    "--connections": (int, 2, "connections per generator (default 2)"),
    "--batch": (int, 50, "reads per batch (default 50)"),
    "--seed": (int, 10, "random seed of positions and reads (default 10)"),
}


def parse_args(argv=None) -> argparse.Namespace:
    ap = cs.parser(__doc__, OPTIONS)
    ap.add_argument(
        "--control-room",
        action="store_true",
        help="also follow every alert on one unfiltered control-room stream (the chain without the terminals' filtering)",
    )
    return ap.parse_args(argv)


def main(argv=None) -> int:
    return cs.run("notify_bench", Bench(parse_args(argv)).main)


if __name__ == "__main__":
    sys.exit(main())
