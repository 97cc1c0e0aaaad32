"""Structure-aware fuzzing of every RPC of the four services and of the hotlist CSV import.

Requests are built from the contracts' descriptors (Hypothesis strategies per field type): values
near and over each field's limit (anpr/field_limits.py), NUL characters, unknown enum values, timestamps
beyond the years 1-9999, NaN and infinities, extreme integers, oversized repeated fields, mixed
with plausible values (known cameras, valid VRMs, recent times) so that calls get past validation.

Each call is judged: UNKNOWN or INTERNAL, a hang (no answer within the deadline), UNAVAILABLE while
everything is up, an answer other than INVALID_ARGUMENT to a request that breaks a limit, a bad
read of a batch not rejected, or an address or exception text in a status message, is a finding.
Used by benchmarks/fuzz.py (the long run) and tests/services/test_fuzz.py (a bounded sample).
"""

from __future__ import annotations

import asyncio
import csv
import io
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from anpr.field_limits import MAX_TIMESTAMP_S, MIN_TIMESTAMP_S, Setting, compile_checkers, limit_of
from anpr.runtime.auth import Role
from anpr.v1 import ingest_pb2, ingest_pb2_grpc, matcher_pb2, matcher_pb2_grpc, notify_pb2
from anpr.v1 import types_pb2 as T
from benchmarks import common
from cli import hotlist_columns
from cli.client import channel, subscribe
from cli.hotlist_csv import COLUMNS, BadRow, read_file
from services import NAMES, spec
from services.matcher import entry_columns

CALL_TIMEOUT_S = 10.0
STREAM_LISTEN_S = 0.3
LEAKS = ("127.0.0.1", "Traceback", "DETAIL", "Exception", "errno", "asyncpg")
VRMS = ("AB12CDE", "KX19 ZTB", "LR68HGW", "ab12cde", "B0O8", "")
# The cameras the requests name (registered by register_cameras), and where they stand.
CAMERAS = ("CAM-FUZZ-1", "CAM-FUZZ-2", "CAM-FUZZ-3")
SITE = (51.5, -0.12, 0.0)
BAD = {
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}

# grpc-python's aio client reports INTERNAL "Internal error from Core" instead of the server's status
# when the server ends a request stream (here: rejects it) while the client is still writing
# (grpc/grpc#36066, fix pending in grpc/grpc#43486). Counted apart: it is not the server's answer.
LIVE = "live stream, still open"
CLIENT_WRITE_AFTER_END = "client: write after the server ended the call (grpc/grpc#36066)"


def client_write_after_end(err: grpc.aio.AioRpcError) -> bool:
    """grpc-python's own INTERNAL for a call the server ended while the client was still writing
    its request (the server's status is lost; see above)."""
    return err.code() == grpc.StatusCode.INTERNAL and "execute_batch" in (err.debug_error_string() or "")


_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)


def _string(limit: int | None, name: str) -> st.SearchStrategy[str]:
    n = limit or 64
    hostile = st.one_of(
        st.just("x" * n), st.just("x" * (n + 1)), _TEXT.map(lambda s: s + "\x00" + s), st.just("é" * (n + 1))
    )
    plausible = {
        "vrm": st.sampled_from(VRMS),
        "camera_id": st.sampled_from(CAMERAS),
        "read_id": st.uuids().map(str),
        "hit_id": st.uuids().map(str),
    }.get(name, _TEXT)
    return st.one_of(plausible, plausible, hostile)


def _timestamp() -> st.SearchStrategy:
    now = int(datetime.now(timezone.utc).timestamp())
    seconds = st.one_of(
        st.integers(now - 600, now + 60),
        st.integers(now - 600, now + 60),
        st.sampled_from([MIN_TIMESTAMP_S - 1, MAX_TIMESTAMP_S + 1, 0, -(2**62), 2**62]),
        st.integers(MIN_TIMESTAMP_S - 10, MAX_TIMESTAMP_S + 10),
    )
    nanos = st.one_of(st.just(0), st.integers(-5, 10**9 + 5))
    cls = message_factory.GetMessageClass(T.DESCRIPTOR.pool.FindMessageTypeByName("google.protobuf.Timestamp"))
    return st.builds(lambda s, n: cls(seconds=s, nanos=n), seconds, nanos)


def _scalar(f: FieldDescriptor, limit: int | None) -> st.SearchStrategy:
    t = f.type
    if t == FieldDescriptor.TYPE_STRING:
        return _string(limit, f.name)
    if t == FieldDescriptor.TYPE_BYTES:
        n = limit or 64
        return st.one_of(st.binary(max_size=16), st.just(b"\xff" * (n + 1)))
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == FieldDescriptor.TYPE_ENUM:
        return st.one_of(st.sampled_from([v.number for v in f.enum_type.values]), st.integers(-3, 40))
    if t == FieldDescriptor.TYPE_FLOAT:
        return st.one_of(st.floats(-1, 400, width=32), st.floats(width=32))
    if t == FieldDescriptor.TYPE_DOUBLE:
        return st.one_of(st.floats(-200, 200), st.floats())
    if t in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64):
        return st.one_of(st.integers(-3, 5000), st.sampled_from([2**63 - 1, -(2**63)]))
    return st.one_of(st.integers(-3, 600), st.sampled_from([2**31 - 1, -(2**31)]))


def message(desc: Descriptor, depth: int = 0) -> st.SearchStrategy:
    """A strategy of `desc` messages, each field unset, plausible or hostile."""
    if desc.full_name == "google.protobuf.Timestamp":
        return _timestamp()
    cls = message_factory.GetMessageClass(desc)
    fields = {}
    for f in desc.fields:
        value = _field(desc, f, depth)
        if value is not None:
            fields[f.name] = st.one_of(st.none(), value)
    return st.fixed_dictionaries(fields).map(lambda d: _build(cls, d))


def _build(cls, values: dict):
    msg = cls()
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, list):
            getattr(msg, name).extend(value)
        elif hasattr(value, "DESCRIPTOR"):
            getattr(msg, name).CopyFrom(value)
        else:
            setattr(msg, name, value)
    return msg


def _field(desc: Descriptor, f: FieldDescriptor, depth: int) -> st.SearchStrategy | None:
    limit = limit_of(desc.full_name, f.name)
    n = limit.max.default if limit and isinstance(limit.max, Setting) else (limit.max if limit else None)
    if f.message_type is not None:
        if depth >= 3:
            return None
        item = message(f.message_type, depth + 1)
    else:
        item = _scalar(f, limit.each if (limit and limit.each) else (n if not f.is_repeated else None))
    if not f.is_repeated:
        return item
    lists = st.lists(item, max_size=3)
    if n is None or n > 1000:
        return lists
    if f.message_type is not None:
        cls = message_factory.GetMessageClass(f.message_type)
        too_many = st.builds(lambda: [cls() for _ in range(n + 1)])
    else:
        too_many = st.just(["" if f.type == FieldDescriptor.TYPE_STRING else 1] * (n + 1))
    return st.one_of(lists, lists, lists, too_many)


# --- calling and judging ------------------------------------------------------------------------


@dataclass(frozen=True)
class Rpc:
    service: str
    method: MethodDescriptor
    role: Role

    @property
    def path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"


def every_rpc() -> list[Rpc]:
    rpcs = []
    for name in NAMES:
        s = spec(name)
        service = T.DESCRIPTOR.pool.FindServiceByName(s.grpc_service)
        for m in service.methods:
            rpcs.append(Rpc(name, m, sorted(s.method_roles[m.name])[0]))
    return rpcs


@dataclass
class Findings:
    calls: int = 0
    codes: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def add(self, problem: str) -> None:
        if len(self.problems) < 200:
            self.problems.append(problem)


async def call(ch: grpc.aio.Channel, rpc: Rpc, requests: list) -> tuple[grpc.StatusCode, str, list]:
    """(status, details, responses) of one call; a live server stream counts as OK once it has
    been quiet for STREAM_LISTEN_S."""
    m = rpc.method
    req_cls = message_factory.GetMessageClass(m.input_type)
    resp_cls = message_factory.GetMessageClass(m.output_type)
    kw = dict(request_serializer=req_cls.SerializeToString, response_deserializer=resp_cls.FromString)
    try:
        if not m.client_streaming and not m.server_streaming:
            return grpc.StatusCode.OK, "", [await ch.unary_unary(rpc.path, **kw)(requests[0], timeout=CALL_TIMEOUT_S)]
        if m.client_streaming and not m.server_streaming:
            return (
                grpc.StatusCode.OK,
                "",
                [await ch.stream_unary(rpc.path, **kw)(iter(requests), timeout=CALL_TIMEOUT_S)],
            )
        if m.client_streaming:
            stream = ch.stream_stream(rpc.path, **kw)(iter(requests), timeout=CALL_TIMEOUT_S)
        else:
            stream = ch.unary_stream(rpc.path, **kw)(requests[0], timeout=CALL_TIMEOUT_S)
        return await _listen(stream, quiet_s=1.0 if m.client_streaming else STREAM_LISTEN_S)
    except grpc.aio.AioRpcError as err:
        if client_write_after_end(err):
            return err.code(), CLIENT_WRITE_AFTER_END, []
        return err.code(), err.details() or "", []


async def _listen(stream, quiet_s: float) -> tuple[grpc.StatusCode, str, list]:
    """Read a response stream until it ends, or until it has been quiet for `quiet_s` (a live stream:
    OK, answered LIVE so that its responses are not judged as complete)."""
    out = []
    try:
        while len(out) < 50:
            item = await asyncio.wait_for(stream.read(), quiet_s)
            if item is grpc.aio.EOF:
                return await stream.code(), await stream.details() or "", out
            out.append(item)
    except TimeoutError:
        pass
    stream.cancel()
    return grpc.StatusCode.OK, LIVE, out


class Judge:
    def __init__(self):
        self._checkers = compile_checkers()

    def violations(self, msg) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        self._checkers[msg.DESCRIPTOR.full_name](msg, "", out)
        return out

    def judge(self, rpc: Rpc, requests: list, code, details: str, responses: list, findings: Findings) -> None:
        findings.calls += 1
        if details == CLIENT_WRITE_AFTER_END:
            findings.codes["CLIENT_WRITE_AFTER_END"] += 1
            return
        findings.codes[code.name] += 1
        what = f"{rpc.method.name}: {code.name}"
        if code in BAD:
            findings.add(f"{what} ({details[:80]!r})")
        if any(leak in details for leak in LEAKS):
            findings.add(f"{what}: the status message leaks internals: {details[:120]!r}")
        too_big = any(r.ByteSize() > common.MAX_MESSAGE_BYTES for r in requests)
        # A handler may end a request stream at its first message (NOT_FOUND, say): only the first is
        # sure to have been read.
        bad_input = bool(self.violations(requests[0]))
        if bad_input and not too_big and code not in (grpc.StatusCode.INVALID_ARGUMENT,) and code not in BAD:
            if not (code == grpc.StatusCode.RESOURCE_EXHAUSTED and rpc.method.name in ("SubmitReads", "StreamReads")):
                findings.add(f"{rpc.method.name}: bad input answered {code.name}: {self.violations(requests[0])[:2]}")
        if code == grpc.StatusCode.OK and details != LIVE and rpc.method.name in ("SubmitReads", "StreamReads"):
            self._batch_results(rpc, requests, responses, findings)

    def _batch_results(self, rpc: Rpc, requests: list, responses: list, findings: Findings) -> None:
        reads = [r for req in requests for r in req.reads]
        results = [x for resp in responses for x in resp.results]
        if len(results) != len(reads):
            findings.add(f"{rpc.method.name}: {len(results)} results for {len(reads)} reads")
            return
        for read, result in zip(reads, results, strict=True):
            if self.violations(read) and result.status != 3:  # READ_STATUS_REJECTED
                findings.add(f"{rpc.method.name}: a read breaking a limit was answered {result.status}")


def examples_of(n: int) -> settings:
    """Hypothesis as a fuzzer: n generated examples, no shrinking, no deadline, no example database."""
    return settings(
        max_examples=n, deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
    )


def fuzz_rpcs(
    suite, loop: asyncio.AbstractEventLoop, examples_per_rpc: int, findings: Findings, rpcs: list[Rpc] | None = None
) -> None:
    """Run in a worker thread: Hypothesis drives, each call runs on the suite's event loop."""
    judge = Judge()
    for rpc in rpcs or every_rpc():
        _fuzz_rpc(suite, loop, rpc, examples_per_rpc, judge, findings)


def _fuzz_rpc(suite, loop, rpc: Rpc, examples: int, judge: Judge, findings: Findings) -> None:
    strategy = st.lists(message(rpc.method.input_type), min_size=1, max_size=3 if rpc.method.client_streaming else 1)

    async def go(requests):
        async with channel(suite.addr(rpc.service), suite.tokens[rpc.role]) as ch:
            return await call(ch, rpc, requests)

    @examples_of(examples)
    @given(requests=strategy)
    def one(requests):
        try:
            code, details, responses = asyncio.run_coroutine_threadsafe(go(requests), loop).result(CALL_TIMEOUT_S * 3)
        except TimeoutError:
            findings.add(f"{rpc.method.name}: hang (no answer in {CALL_TIMEOUT_S * 3:.0f} s)")
            return
        judge.judge(rpc, requests, code, details, responses, findings)

    one()


# --- the CSV import -----------------------------------------------------------------------------

_CSV_VALUES = {
    "vrm": st.sampled_from(VRMS),
    "action": st.sampled_from(["STOP_VEHICLE", "stop vehicle", "PURSUE", ""]),
    "warning_markers": st.sampled_from(["FIREARMS;VIOLENT", "DRUGS", "LASERS", ";;", ""]),
    "weed_date": st.sampled_from(
        ["2099-01-01", "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+01:00", "yesterday", "2030-02-30", ""]
    ),
    "protective_marking": st.sampled_from(["OFFICIAL", "SECRET", "TOP", ""]),
    "entry_id": st.sampled_from(["e1", "e2", "", "x" * 129]),
}


@st.composite
def csv_extract(draw) -> bytes:
    """A hotlist extract: a header of known (and unknown) columns, rows of plausible and hostile
    fields (long, NUL, quotes, newlines, bytes that are not UTF-8)."""
    columns = draw(st.lists(st.sampled_from([*COLUMNS, "bogus"]), min_size=1, max_size=10, unique=True))
    if draw(st.booleans()):
        columns = ["vrm", "action", "reason", *[c for c in columns if c not in ("vrm", "action", "reason")]]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for _ in range(draw(st.integers(0, 6))):
        writer.writerow(
            [
                draw(
                    st.one_of(
                        _CSV_VALUES.get(c, _TEXT),
                        _TEXT,
                        st.just("r" * 4097),
                        _TEXT.map(lambda s: s + "\x00"),
                        st.just('a "quoted"\nline'),
                    )
                )
                for c in columns
            ]
        )
    data = out.getvalue().encode()
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff\xfe", b"\xc3", b"\x00", b'"', b"\n"])) + data[at:]
    return data


def check_csv(data: bytes, findings: Findings, run_cli: Callable[[Path], tuple[int, str] | None] | None = None) -> None:
    """read_file never raises; what it accepts is within the contract; the CLI (when given) ends
    with 0 or 1 and no traceback."""
    checkers = compile_checkers()
    findings.calls += 1
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "extract.csv"
        path.write_bytes(data)
        try:
            items = list(read_file(path, "list-" + uuid.uuid4().hex[:8]))
        except Exception as exc:
            findings.add(f"csv: read_file raised {type(exc).__name__}")
            return
        for line, item in items:
            if not isinstance(item, BadRow):
                bad: list[tuple[str, str]] = []
                checkers["anpr.v1.VoiEntry"](item, "", bad)
                if bad:
                    findings.add(f"csv: line {line} accepted although {bad[0]}")
        _check_columns(path, items, findings)
        ran = run_cli(path) if run_cli is not None else None
        if ran is not None:
            code, out = ran
            findings.codes[f"csv-exit-{code}"] += 1
            if code not in (0, 1) or "Traceback" in out:
                findings.add(f"csv: anpr hotlist import exited {code}: {out[-200:]!r}")


def columns_as_entries(path: Path, hotlist_id: str) -> list[T.VoiEntry] | None:
    """The entries `anpr hotlist import` sends for `path` as columns (cli/hotlist_columns.py), as
    matcher stores them, or None when the column reader gives the file to the row reader."""
    try:
        messages = list(hotlist_columns.messages(path, hotlist_id))
    except hotlist_columns.Unsuitable:
        return None
    out = []
    for message in messages:
        request = matcher_pb2.ImportEntriesRequest.FromString(message)
        out.extend(request.entries)
        for batch in entry_columns.read(request.entry_columns) if request.entry_columns else ():
            encoded = entry_columns.encode(entry_columns._Batch(batch), hotlist_id)
            out.extend(T.VoiEntry.FromString(data) for data in encoded.to_pylist())
    return out


def _check_columns(path: Path, items: list, findings: Findings) -> None:
    """The column reader takes no file with a bad row, and sends the row reader's entries exactly."""
    hotlist_id = "list-columns"
    try:
        columns = columns_as_entries(path, hotlist_id)
    except Exception as exc:
        findings.add(f"csv: the column reader raised {type(exc).__name__}: {str(exc)[:100]}")
        return
    if columns is None:
        return
    if any(isinstance(item, BadRow) for _, item in items):
        findings.add("csv: the column reader took a file with a bad row")
        return
    rows = [item for _, item in read_file(path, hotlist_id)]
    if sorted(e.SerializeToString() for e in columns) != sorted(e.SerializeToString() for e in rows):
        findings.add("csv: the column reader sent other entries than the row reader makes")


def fuzz_csv(examples: int, findings: Findings, run_cli=None) -> None:
    @examples_of(examples)
    @given(data=csv_extract())
    def one(data):
        check_csv(data, findings, run_cli)

    one()


# --- the suite's cameras, and alerting still works ---------------------------------------------


async def register_cameras(suite, camera_ids: Iterable[str] = CAMERAS) -> None:
    """The cameras the requests name (CAMERAS) registered and enabled, so that reads get past validation."""
    await common.register_cameras(
        suite.addr("ingest"),
        suite.tokens[Role.CAMERA_ADMIN],
        dict.fromkeys(camera_ids, SITE),
        force="Fuzz Police",
        name="Fuzz camera",
    )


async def _list(suite, vrm: str) -> None:
    """A new local hotlist holding one entry of `vrm`."""
    async with channel(suite.addr("matcher"), suite.tokens[Role.HOTLIST_ADMIN]) as ch:
        stub = matcher_pb2_grpc.MatcherServiceStub(ch)
        hotlist = T.Hotlist(name=f"after-fuzz-{uuid.uuid4().hex[:6]}", source=T.HOTLIST_SOURCE_LOCAL_FORCE)
        hotlist = (await stub.UpsertHotlist(matcher_pb2.UpsertHotlistRequest(hotlist=hotlist))).hotlist
        entry = T.VoiEntry(
            entry_id=str(uuid.uuid4()),
            hotlist_id=hotlist.hotlist_id,
            vrm=vrm,
            action=T.ACTION_STOP_VEHICLE,
            reason="Listed after the fuzz run",
        )
        await stub.UpsertEntry(matcher_pb2.UpsertEntryRequest(entry=entry))


def _read(vrm: str, camera_id: str) -> T.Read:
    read = T.Read(
        read_id=str(uuid.uuid4()),
        vrm=vrm,
        confidence=93.5,
        camera_id=camera_id,
        location=T.GeoPoint(latitude=SITE[0], longitude=SITE[1]),
        direction=T.DIRECTION_TOWARDS,
    )
    read.captured_at.FromDatetime(datetime.now(timezone.utc) - timedelta(seconds=1))
    return read


async def alerting_works(suite, seconds: float = 20.0) -> bool:
    """A read of a listed VRM, submitted now, reaches the control room as an alert within `seconds`."""
    vrm = "ZZ" + str(uuid.uuid4().int % 10**6).zfill(6)
    camera_id = f"CAM-AFTER-FUZZ-{uuid.uuid4().hex[:8]}"  # the fuzzer may have disabled the others
    await register_cameras(suite, [camera_id])
    await _list(suite, vrm)
    async with (
        channel(suite.addr("notify"), suite.tokens[Role.CONTROL_ROOM]) as ch,
        channel(suite.addr("ingest"), suite.tokens[Role.CAMERA]) as cam,
    ):
        stream = subscribe(ch, notify_pb2.SubscribeRequest(from_start=True))
        try:
            read = _read(vrm, camera_id)
            await ingest_pb2_grpc.IngestServiceStub(cam).SubmitRead(ingest_pb2.SubmitReadRequest(read=read))
            async with asyncio.timeout(seconds):
                async for message in stream:
                    if message.WhichOneof("event") == "alert" and message.alert.hit.read.vrm == vrm:
                        return True
            return False  # the stream ended
        except TimeoutError:
            return False
        finally:
            stream.cancel()
