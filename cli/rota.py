"""`anpr rota ...` and `anpr ndm verify`: the firearms duty rota and the NDM log check (the chain,
its seals, the signed checkpoints of its head, and every activation's record: VerifyLog; give the
checkpoints kept outside the database with --checkpoints, and check their signatures here with
--public-key).

A week's rota as CSV (one shift a line; times ISO 8601 with a UTC offset, e.g. 2026-11-30T07:00:00Z):

    force,area,starts_at,ends_at,primary,backups,supervisor
    Thames Valley Police,,2026-11-30T07:00:00Z,2026-11-30T19:00:00Z,insp-jones,insp-patel;insp-ng,supt-wood

`area` empty: the whole force. `backups`: subjects separated by `;`, told in that order. Every
person must be registered first (`anpr rota commander SUBJECT --name ... --force ...`), a shift's
supervisor as one (`--as-supervisor`: they hold the tfc_supervisor role). Shifts start at most 31
days ago and at most 366 days ahead. Any number of lines: sent in batches of 1,000, stored all or
none.
"""

from __future__ import annotations

import asyncio
import csv
from datetime import datetime, timezone
from pathlib import Path

import grpc
from google.protobuf import timestamp_pb2

from anpr.runtime.auth import Role
from anpr.runtime.errors import field_violations_of
from anpr.v1 import firearms_pb2 as F
from anpr.v1 import firearms_pb2_grpc
from anpr.v1 import types_pb2 as T
from cli.client import CommandError, rpc_error, target_of
from services.firearms import checkpoints, keys


def command(args) -> int:
    """`anpr rota ...` and `anpr ndm verify`: one call to the firearms service each."""

    async def go() -> int:
        async with target_of(args, "firearms", Role.TFC_SUPERVISOR).channel() as ch:
            stub = firearms_pb2_grpc.FirearmsServiceStub(ch)
            return await (verify(stub, args) if args.command == "ndm" else run(stub, args))

    try:
        return asyncio.run(go())
    except ValueError as err:
        raise CommandError(f"invalid value: {err}") from None


COLUMNS = ("force", "area", "starts_at", "ends_at", "primary", "backups", "supervisor")
IMPORT_BATCH = 1000  # shifts per message of ImportShifts


def parse_time(text: str, name: str) -> timestamp_pb2.Timestamp:
    """An ISO 8601 time with its offset; ValueError naming `name` (the flag or column) otherwise."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{name}: {text.strip()!r} is not an ISO 8601 time, e.g. 2026-11-30T07:00:00Z") from None
    if when.tzinfo is None:
        raise ValueError(f"{name}: needs a UTC offset, e.g. 2026-11-30T07:00:00Z")
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(when.astimezone(timezone.utc))
    return ts


def shift_of(
    force: str,
    area: str,
    starts: str,
    ends: str,
    primary: str,
    backups: str,
    supervisor: str,
    names: tuple[str, str] = ("starts_at", "ends_at"),
) -> T.Shift:
    """A shift; a bad time is named as `names` (the columns, or the flags --from and --to)."""
    return T.Shift(
        force=force.strip(),
        area=area.strip(),
        starts_at=parse_time(starts, names[0]),
        ends_at=parse_time(ends, names[1]),
        primary=primary.strip(),
        supervisor=supervisor.strip(),
        backups=[b.strip() for b in backups.replace(",", ";").split(";") if b.strip()],
    )


def read_shifts(path: Path) -> tuple[list[T.Shift], list[str], list[int]]:
    """Shifts of a CSV file, the problems found (by line number), and each shift's line."""
    shifts, problems, lines = [], [], []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            return [], [f"line 1: the header must be {','.join(COLUMNS)}"], []
        for row in reader:
            try:
                if None in row or any(row[c] is None for c in COLUMNS):
                    raise ValueError(f"needs exactly {len(COLUMNS)} columns")
                shifts.append(shift_of(*(row[c] for c in COLUMNS)))
                lines.append(reader.line_num)
            except ValueError as err:
                problems.append(f"line {reader.line_num}: {err}")
    if not shifts and not problems:
        problems.append("no shifts in the file")
    return shifts, problems, lines


def _ordinal(i: int) -> str:
    return {0: "first", 1: "second", 2: "third"}.get(i, f"{i + 1}th")


def _chain(s) -> str:
    return " > ".join([s.primary, *s.backups, s.supervisor])


def _fmt(ts) -> str:
    return ts.ToDatetime().strftime("%Y-%m-%d %H:%MZ")


async def run(stub: firearms_pb2_grpc.FirearmsServiceStub, args) -> int:
    """`anpr rota ACTION`: the action's exit code."""
    return await ACTIONS[args.action](stub, args)


async def add_commander(stub, args) -> int:
    c = T.Commander(
        subject=args.subject or "",
        name=args.name or "",
        force=args.force or "",
        contact=args.contact or "",
        supervisor=args.as_supervisor,
    )
    try:
        await stub.UpsertCommander(F.UpsertCommanderRequest(commander=c))
    except grpc.aio.AioRpcError as err:
        raise rpc_error(err, COMMANDER_FLAGS) from None
    print(f"commander {c.subject} ({c.force}) registered" + (" as a supervisor" if c.supervisor else ""))
    return 0


async def add_shift(stub, args) -> int:
    if not args.starts or not args.ends:
        raise ValueError("anpr rota add needs --from and --to")
    shift = shift_of(
        args.force or "",
        args.area or "",
        args.starts,
        args.ends,
        args.primary or "",
        args.backups or "",
        args.supervisor or "",
        names=("--from", "--to"),
    )
    try:
        [s] = (await stub.AddShifts(F.AddShiftsRequest(shifts=[shift]))).shifts
    except grpc.aio.AioRpcError as err:
        raise rpc_error(err, SHIFT_FLAGS) from None
    print(f"shift {s.shift_id}: {s.force} {_fmt(s.starts_at)} - {_fmt(s.ends_at)}: {_chain(s)}")
    return 0


# The request's fields as the commands' flags, for the service's refusals (rpc_error).
COMMANDER_FLAGS = {
    "commander.subject": "the subject",
    "commander.name": "--name",
    "commander.force": "--force",
    "commander.contact": "--contact",
    "commander.supervisor": "--as-supervisor",
}
SHIFT_FLAGS = {
    f"shifts[0].{field}": flag
    for field, flag in (
        ("force", "--force"),
        ("area", "--area"),
        ("starts_at", "--from"),
        ("ends_at", "--to"),
        ("primary", "--primary"),
        ("backups", "--backups"),
        ("supervisor", "--supervisor"),
        *((f"backups[{i}]", f"--backups (the {_ordinal(i)})") for i in range(10)),
    )
}


async def import_shifts(stub, args) -> int:
    path = args.file or (Path(args.subject) if args.subject else None)
    if path is None:
        raise ValueError("anpr rota import FILE")
    shifts, problems, lines = read_shifts(path)
    imported = 0
    if not problems:
        batches = (
            F.ImportShiftsRequest(shifts=shifts[i : i + IMPORT_BATCH]) for i in range(0, len(shifts), IMPORT_BATCH)
        )
        try:
            imported = (await stub.ImportShifts(batches)).imported
        except grpc.aio.AioRpcError as err:
            if not (problems := by_line(field_violations_of(err), lines)):
                raise
    if problems:
        print("\n".join(problems[:50]) + "\nnothing imported")
        return 1
    print(f"imported {imported} shift(s)")
    return 0


def by_line(violations: list[tuple[str, str]], lines: list[int]) -> list[str]:
    """The service's violations of shifts[i].field as the file's lines and columns, in file order."""
    found = []
    for field, why in violations:
        index, _, column = field.removeprefix("shifts[").partition("].")
        if not index.isdigit() or int(index) >= len(lines):
            return []
        found.append((lines[int(index)], f"line {lines[int(index)]}: {column or 'shift'}: {why}"))
    return [text for _, text in sorted(found)]


async def list_shifts(stub, args) -> int:
    for s in (await stub.ListShifts(F.ListShiftsRequest(force=args.force or ""))).shifts:
        print(f"{s.force}\t{s.area or '(whole force)'}\t{_fmt(s.starts_at)} - {_fmt(s.ends_at)}\t{_chain(s)}")
    return 0


async def duty_status(stub) -> list[T.DutyStatus]:
    """Every force's and area's duty status, page by page."""
    out, token = [], ""
    while True:
        page = await stub.GetDutyStatus(F.GetDutyStatusRequest(page_token=token))
        out.extend(page.forces)
        if not (token := page.next_page_token):
            return out


async def on_duty(stub, _args=None) -> int:
    forces = await duty_status(stub)
    nobody = 0
    for d in forces:
        where = d.force + (f" / {d.area}" if d.area else "")
        if d.chain:
            print(f"{where}\t{' > '.join(d.chain)}\tuntil {_fmt(d.ends_at)}")
        else:
            nobody += 1
            print(
                f"{where}\tNOBODY ON DUTY"
                + (f"\t{d.unassigned_activations} activation(s) waiting" if d.unassigned_activations else "")
            )
    return 1 if nobody else 0


MAX_CHECKPOINTS = 20_000  # sent with one VerifyLog call (the newest; field_limits)


def outside_checkpoints(files: list[Path], public_keys: list[Path]) -> tuple[list, list[str]]:
    """The checkpoints of `files` (checkpoint files, service logs, exported objects) to send, and
    what to tell about them. With public keys, only those they verify are sent."""
    found = [c for f in files for c in checkpoints.parse_lines(Path(f).read_text(errors="replace").splitlines())]
    notes = [f"{len(found)} checkpoint(s) read from {len(files)} file(s)"] if files else []
    if public_keys:
        ring = keys.public_keyring(public_keys)
        good = [c for c in found if keys.signature_ok(ring, c.key_id, c.statement(), c.signature)]
        if len(good) < len(found):
            notes.append(f"WARNING: {len(found) - len(good)} of them not signed by the given key(s): not sent")
        found = good
    found.sort(key=lambda c: c.sequence)
    return [checkpoints.to_message(c) for c in found[-MAX_CHECKPOINTS:]], notes


def _check_given_files(args) -> None:
    """`anpr ndm verify`'s files, each there (a missing one named by its flag)."""
    for flag, paths in (("--checkpoints", args.checkpoints or []), ("--public-key", args.public_key or [])):
        missing = [str(p) for p in paths if not Path(p).is_file()]
        if missing:
            hint = (
                " (anpr up keeps them in its data dir: firearms-checkpoints.jsonl)" if flag == "--checkpoints" else ""
            )
            raise CommandError(f"anpr ndm verify: {flag}: no such file: {', '.join(missing)}{hint}")


async def verify(stub, args) -> int:
    _check_given_files(args)
    try:
        given, notes = outside_checkpoints(args.checkpoints or [], args.public_key or [])
    except (OSError, keys.KeyProblem) as err:
        raise CommandError(f"anpr ndm verify: {err}") from None
    v = await stub.VerifyLog(F.VerifyLogRequest(checkpoints=given))
    for note in notes:
        print(note)
    if not v.ok:
        about = f" (activation {v.activation_id})" if v.activation_id else ""
        print(
            f"NDM log does NOT verify: entry {v.first_bad_sequence}: {v.problem}{about}"
            f" ({v.entries_verified} entries before it verify)"
        )
        return 1
    print(f"NDM log verifies: {v.entries_verified} entries, head hash {v.head_hash}")
    ignored = f", {v.checkpoints_ignored} ignored: their signatures do not verify" if v.checkpoints_ignored else ""
    if v.anchored_sequence:
        print(
            f"  anchored: entry {v.anchored_sequence} by a checkpoint signed {_fmt(v.anchored_at)}"
            f" ({v.checkpoints_verified} signed checkpoint(s) checked{ignored})"
        )
    else:
        print(f"  not anchored yet: no signed checkpoint covers an entry{ignored}")
    print(f"  record: {v.activations_verified} activation(s) match their log entries")
    return 0


ACTIONS = {
    "commander": add_commander,
    "add": add_shift,
    "import": import_shifts,
    "list": list_shifts,
    "on-duty": on_duty,
}
