"""The chain benchmark's child processes: load generators (camera streams into ingest, or COPY into the
reference design) and the observer (a control-room subscriber, a TFC console and the reference's
LISTEN connection), each in its own process so that the benchmark's own work stays off the servers'
and the measuring clocks.

Latency is measured without shared state: every read id carries the phase and the wall-clock time
(microseconds) just before its batch was written, `<phase>.<gen>.<stream>.<seq>.<t_us>.<i>`, and the
observer subtracts it from the arrival time (one machine, one clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from datetime import datetime, timedelta, timezone

import asyncpg
from grpc import aio

from anpr.v1 import ingest_pb2, ingest_pb2_grpc
from anpr.v1 import types_pb2 as T
from anpr.vrm import normalise_vrm
from benchmarks.chain_tally import Tally
from benchmarks.common import AGES, CHANNEL_OPTIONS, camera_ids, camera_site, child_setup, serve_pipe

STORED = ingest_pb2.READ_STATUS_STORED
REF_CHANNEL = "bench_ref_hit"
REF_COLUMNS = (
    "read_id",
    "vrm",
    "vrm_normalised",
    "confidence",
    "camera_id",
    "captured_at",
    "latitude",
    "longitude",
    "direction",
    "lane",
)

# VRMs in the current UK format (two letters, age identifier, three letters), without I, O, Q and Z:
# listed plates start with one of HOT_FIRST, other traffic with one of MISS_FIRST, so that no read
# matches by chance, exactly or through a look-alike character, and a listed read hits one entry only.
LETTERS = "ABCDEFGHJKLMNPRSTUVWXY"
HOT_FIRST, MISS_FIRST = "ACEFH", "KMNPRVWXY"
FIREARMS_EVERY = 100  # entry i carries the firearms marker when i % 100 == 0 (1% of the list)


def entry_vrm(i: int) -> str:
    """The VRM of hotlist entry i (distinct for every i below 57 million)."""
    i, a = divmod(i, len(HOT_FIRST))
    i, b = divmod(i, len(LETTERS))
    i, age = divmod(i, len(AGES))
    i, c = divmod(i, len(LETTERS))
    i, d = divmod(i, len(LETTERS))
    e = i % len(LETTERS)
    return f"{HOT_FIRST[a]}{LETTERS[b]}{AGES[age]} {LETTERS[c]}{LETTERS[d]}{LETTERS[e]}"


def miss_vrm(rng: random.Random) -> str:
    c = rng.choice
    return f"{c(MISS_FIRST)}{c(LETTERS)}{c(AGES)} {c(LETTERS)}{c(LETTERS)}{c(LETTERS)}"


def parse_read_id(read_id: str) -> tuple[str, float] | None:
    """(phase, send time in seconds) of a benchmark read id, None for any other."""
    parts = read_id.split(".")
    if len(parts) != 6:
        return None
    return parts[0], int(parts[4]) / 1e6


class Hits:
    """Which listed entry the next listed read names: a share `tfc_share` of them firearms-marked."""

    def __init__(self, rng: random.Random, entries: int, tfc_share: float):
        self.rng, self.entries, self.tfc_share = rng, entries, tfc_share

    def next(self) -> tuple[str, bool]:
        if self.rng.random() < self.tfc_share:
            i = FIREARMS_EVERY * self.rng.randrange(max(1, self.entries // FIREARMS_EVERY))
        else:
            i = self.rng.randrange(self.entries)
        return entry_vrm(i), i % FIREARMS_EVERY == 0


class Batches:
    """Batches of reads built just before they are sent, from a pool of prepared reads: `hits` of
    every `size` reads name a listed plate. Camera i stands at spec["sites"][i] when given (else
    camera_site(i)); every spec["no_location_every"]-th read is sent without coordinates (0: none)."""

    def __init__(self, spec: dict, gen: int):
        self.rng = rng = random.Random(spec["seed"] * 1000 + gen)
        self.size, self.hit_slots = spec["batch"], range(spec["hits_per_batch"])
        self.hits = Hits(rng, spec["entries"], spec["tfc_share"])
        captured = datetime.now(timezone.utc) - timedelta(seconds=1)
        self.captured = captured
        cams, sites, bare = camera_ids(spec["cameras"]), spec.get("sites"), spec.get("no_location_every", 0)
        self.pool = []
        for n in range(max(4096, 2 * self.size)):
            lat, lon = sites[n % len(cams)] if sites else camera_site(n % len(cams))
            read = T.Read(
                vrm=miss_vrm(rng),
                confidence=80 + n % 20,
                camera_id=cams[n % len(cams)],
                location=T.GeoPoint(latitude=lat, longitude=lon),
                direction=T.DIRECTION_TOWARDS,
                lane=1 + n % 3,
            )
            if bare and n % bare == 0:
                read.ClearField("location")
            read.captured_at.FromDatetime(captured)
            self.pool.append(read)
        self.norms = [normalise_vrm(r.vrm) for r in self.pool]
        self.gen = gen
        self.marked: list[str] = []  # the last batch's firearms-marked read ids

    def prefix(self, phase: str, stream: int, seq: int) -> str:
        return f"{phase}.{self.gen}.{stream}.{seq}.{int(time.time() * 1e6)}."

    def listed_in(self, size: int) -> int:
        """How many reads of a batch of `size` name a listed plate: the spec's share of a batch of its
        own size; of a smaller batch (a single read, ten) the same share on average, drawn at random."""
        if size == self.size:
            return len(self.hit_slots)
        expected = size * len(self.hit_slots) / self.size
        return int(expected) + (self.rng.random() < expected - int(expected))

    def request(
        self, phase: str, stream: int, seq: int, size: int = 0
    ) -> tuple[ingest_pb2.StreamReadsRequest, int, int]:
        """A batch (of `size` reads, default the spec's), the number of listed reads in it, and how
        many of those are firearms-marked."""
        size = size or self.size
        start = self.rng.randrange(len(self.pool) - size)
        req = ingest_pb2.StreamReadsRequest(batch_id=str(seq), reads=self.pool[start : start + size])
        prefix = self.prefix(phase, stream, seq)
        for i, read in enumerate(req.reads):
            read.read_id = prefix + str(i)
        listed = self.listed_in(size)
        self.marked = []
        for i in range(listed):
            req.reads[i].vrm, marked = self.hits.next()
            if marked:
                self.marked.append(req.reads[i].read_id)
        return req, listed, len(self.marked)

    def rows(self, phase: str, stream: int, seq: int) -> list[tuple]:
        """The same kind of batch as rows for the reference table (REF_COLUMNS)."""
        start = self.rng.randrange(len(self.pool) - self.size)
        prefix = self.prefix(phase, stream, seq)
        out = []
        for i in range(self.size):
            read, vrm, norm = self.pool[start + i], self.pool[start + i].vrm, self.norms[start + i]
            if i < len(self.hit_slots):
                vrm = self.hits.next()[0]
                norm = normalise_vrm(vrm)
            out.append(
                (
                    prefix + str(i),
                    vrm,
                    norm,
                    read.confidence,
                    read.camera_id,
                    self.captured,
                    read.location.latitude,
                    read.location.longitude,
                    int(read.direction),
                    read.lane,
                )
            )
        return out


async def one_stream(stub, md, batches: Batches, go: dict, stream: int, tally: Tally) -> None:
    """One camera stream: `depth` batches in flight; paced (go["interval"] seconds between batches,
    from go["offset"]) or as fast as acknowledgements allow (interval 0)."""
    call = stub.StreamReads(metadata=md)
    slots = asyncio.Semaphore(go["depth"])
    sent: dict[str, tuple[float, int, int]] = {}

    async def reader() -> None:
        try:
            async for resp in call:
                t_sent, listed, firearms, listed_reads = sent.pop(resp.batch_id)
                tally.ack(t_sent, time.time(), resp.results, listed, firearms, listed_reads)
                slots.release()
        except aio.AioRpcError as exc:
            tally.failed(exc)

    read_task = asyncio.create_task(reader())
    seq, interval, next_at = 0, go["interval"], go["start"] + go["offset"]
    try:
        while not read_task.done():
            if interval:
                await asyncio.sleep(max(0.0, next_at - time.time()))
                next_at += interval
            await slots.acquire()
            now = time.time()
            if now >= go["w1"] or read_task.done():
                break
            req, listed, firearms = batches.request(go["phase"], stream, seq, go.get("batch", 0))
            sent[req.batch_id] = (now, listed, firearms, tuple((r.read_id, r.camera_id) for r in req.reads[:listed]))
            tally.sent_in_window += go["w0"] <= now
            await call.write(req)
            seq += 1
        await call.done_writing()
        await asyncio.wait_for(read_task, go["drain_s"])
    except (aio.AioRpcError, TimeoutError) as exc:
        tally.failed(exc)
    finally:
        call.cancel()
        with contextlib.suppress(BaseException):
            await read_task


async def one_unary(stub, md, batches: Batches, go: dict, stream: int, tally: Tally) -> None:
    """A camera sending one read per SubmitRead call, paced (go["interval"] seconds between calls,
    from go["offset"]), up to go["depth"] calls in flight."""
    slots = asyncio.Semaphore(go["depth"])
    calls: set[asyncio.Task] = set()

    async def submit(req: ingest_pb2.StreamReadsRequest, now: float, listed: int, firearms: int) -> None:
        read = req.reads[0]
        try:
            resp = await stub.SubmitRead(ingest_pb2.SubmitReadRequest(read=read), metadata=md, timeout=30)
            tally.ack(now, time.time(), [resp.result], listed, firearms, ((read.read_id, read.camera_id),)[:listed])
        except aio.AioRpcError as exc:
            tally.failed(exc)
        finally:
            slots.release()

    seq, interval, next_at = 0, go["interval"], go["start"] + go["offset"]
    while True:
        await asyncio.sleep(max(0.0, next_at - time.time()))
        next_at += interval
        await slots.acquire()
        now = time.time()
        if now >= go["w1"]:
            slots.release()
            break
        req, listed, firearms = batches.request(go["phase"], stream, seq, 1)
        tally.sent_in_window += go["w0"] <= now
        task = asyncio.create_task(submit(req, now, listed, firearms))
        calls.add(task)
        task.add_done_callback(calls.discard)
        seq += 1
    if calls:
        await asyncio.wait(calls, timeout=go["drain_s"])


async def run_chain(state: dict, go: dict) -> dict:
    spec = state["spec"]
    if "stubs" not in state:
        targets = spec["targets"]
        state["channels"] = [
            aio.insecure_channel(targets[i % len(targets)], options=CHANNEL_OPTIONS) for i in range(spec["connections"])
        ]
        state["stubs"] = [ingest_pb2_grpc.IngestServiceStub(ch) for ch in state["channels"]]
    md = (("authorization", f"Bearer {spec['token']}"),)
    tally = Tally(go["w0"], go["w1"])
    streams = spec["connections"] * spec["streams_per_connection"]
    await asyncio.sleep(max(0.0, go["start"] - time.time()))
    send = one_unary if go.get("batch") == 1 else one_stream  # single reads: SubmitRead calls
    await asyncio.gather(
        *(
            send(
                state["stubs"][s % len(state["stubs"])],
                md,
                state["batches"],
                {**go, "offset": go["interval"] * (spec["index"] + s * spec["gens"]) / (streams * spec["gens"])},
                s,
                tally,
            )
            for s in range(streams)
        )
    )
    return tally.result()


async def run_reference(state: dict, go: dict) -> dict:
    """COPY batches into the reference table, paced (go["interval"] seconds between a connection's
    batches) or as fast as each connection can (interval 0), until go["w1"]."""
    spec = state["spec"]
    tally = Tally(go["w0"], go["w1"])

    streams = spec["ref_connections"] * spec["gens"]

    async def loader(stream: int) -> None:
        conn = await asyncpg.connect(spec["database_url"])
        interval = go["interval"]
        next_at = go["start"] + interval * (spec["index"] + stream * spec["gens"]) / streams
        try:
            seq = 0
            while True:
                if interval:  # paced
                    await asyncio.sleep(max(0.0, next_at - time.time()))
                    next_at += interval
                if (now := time.time()) >= go["w1"]:
                    break
                rows = state["ref_batches"].rows(go["phase"], stream, seq)
                await conn.copy_records_to_table("reads", schema_name="bench_ref", records=rows, columns=REF_COLUMNS)
                tally.ack(now, time.time(), (), len(state["ref_batches"].hit_slots), 0)
                tally.stored_in_window += len(rows) if go["w0"] <= time.time() < go["w1"] else 0
                seq += 1
        finally:
            await conn.close()

    await asyncio.sleep(max(0.0, go["start"] - time.time()))
    await asyncio.gather(*(loader(s) for s in range(spec["ref_connections"])))
    return tally.result()


def generator_main(conn, spec: dict, log_path: str) -> None:
    """A load generator process: answers ("chain"|"reference", go) with its tally, until "exit"."""
    child_setup(log_path)
    ref_hits = max(1, round(spec["ref_batch"] * spec["hits_per_batch"] / spec["batch"]))
    state = {
        "spec": spec,
        "batches": Batches(spec, spec["index"]),
        "ref_batches": Batches({**spec, "batch": spec["ref_batch"], "hits_per_batch": ref_hits}, spec["index"]),
    }

    async def answer(op: str, go) -> dict:
        if op == "faults":
            from benchmarks.chain_faults import run_faults  # (it builds on this module)

            return await run_faults(state, go)
        return await (run_chain if op == "chain" else run_reference)(state, go)

    async def serve() -> None:
        try:
            await serve_pipe(conn, answer)
        finally:
            for ch in state.get("channels", []):
                await ch.close()

    with contextlib.suppress(KeyboardInterrupt, EOFError, BrokenPipeError):
        asyncio.run(serve())
