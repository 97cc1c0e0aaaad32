"""`anpr hotlist import FILE --list NAME` and `anpr hotlist list`: hotlist administration.

An import reads the whole file once, checking every row (every bad row reported by line number;
nothing is imported, and no list created, while one is bad, unless --skip-bad-rows) and encoding the
good ones, then streams them to matcher's ImportEntries, which replaces the list atomically.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from anpr.runtime.auth import Role
from anpr.v1 import matcher_pb2, matcher_pb2_grpc, types_pb2
from cli import hotlist_columns
from cli.client import CommandError, target_of
from cli.hotlist_csv import BadRow, read_file

SOURCES = {
    "pnc": types_pb2.HOTLIST_SOURCE_PNC_NATIONAL,
    "local": types_pb2.HOTLIST_SOURCE_LOCAL_FORCE,
    "other": types_pb2.HOTLIST_SOURCE_OTHER_AGENCY,
}
CHUNK = 2000  # entries per ImportEntries message
BAD_ROWS_SHOWN = 50
PROGRESS_FROM_ROWS = 10_000  # a smaller file is read before a bar would say anything


def command(args) -> int:
    return asyncio.run(_run(args))


async def _run(args) -> int:
    async with target_of(args, "matcher", Role.HOTLIST_ADMIN).channel() as ch:
        stub = matcher_pb2_grpc.MatcherServiceStub(ch)
        if args.action == "list":
            await _list(stub)
            return 0
        if args.action == "set":
            await _set(stub, args)
            return 0
        return await _import(stub, ch, args)


async def _list(stub) -> None:
    for h in (await stub.ListHotlists(matcher_pb2.ListHotlistsRequest())).hotlists:
        print(
            f"{h.name}\t{_entries(h.entry_count)}\t{source_name(h)}\tpriority {h.priority}"
            + ("\tcovert" if h.covert else "")
            + ("\texact-only" if h.match_policy == types_pb2.MATCH_POLICY_EXACT else "")
        )


async def _set(stub, args) -> None:
    """`anpr hotlist set --list NAME ...`: change a list's covert flag, priority or matching policy
    (what an import never changes); its entries stay as they are."""
    usage = "anpr hotlist set --list NAME [--covert|--no-covert] [--priority P] [--exact-only|--no-exact-only]"
    if not args.list:
        raise CommandError(usage)
    if args.source is not None:
        raise CommandError("--source: a list's source stays the one it was made with")
    if args.covert is None and args.priority is None and args.exact_only is None:
        raise CommandError(f"nothing to change: {usage}")
    hotlist = await hotlist_named(stub, args.list)
    if hotlist is None:
        raise CommandError(f"no hotlist named {args.list!r} (anpr hotlist list shows them)")
    changed = types_pb2.Hotlist()
    changed.CopyFrom(hotlist)
    changed.ClearField("entry_count")
    changed.ClearField("version")
    if args.covert is not None:
        changed.covert = args.covert
    if args.priority is not None:
        changed.priority = args.priority
    if args.exact_only is not None:
        changed.match_policy = types_pb2.MATCH_POLICY_EXACT if args.exact_only else types_pb2.MATCH_POLICY_LOOKALIKE
    saved = (await stub.UpsertHotlist(matcher_pb2.UpsertHotlistRequest(hotlist=changed))).hotlist
    print(f"{saved.name}: {_settings(saved)}")


def _entries(n: int) -> str:
    return f"{n} entry" if n == 1 else f"{n} entries"


def count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            n += chunk.count(b"\n")
    return n


@dataclass
class Checked:
    """A file read: its bad rows and how many good ones."""

    good: int = 0
    bad: list[BadRow] = field(default_factory=list)
    unsuitable: bool = False  # read as columns, a row needs the row-by-row reader


def encoded(path: Path, hotlist_id: str, total: int, quiet: bool, checked: Checked) -> Iterator[bytes]:
    """The import's messages (CHUNK entries each, encoded, without the list's id) as the file is read
    once, every row checked; `checked` counts the good rows and keeps the bad ones as it goes."""
    chunk = []
    with progress(total, "importing", quiet) as bar:
        for _, item in read_file(path, hotlist_id):
            bar.update(1)
            if isinstance(item, BadRow):
                checked.bad.append(item)
                continue
            chunk.append(item)
            if len(chunk) == CHUNK:
                checked.good += len(chunk)
                yield matcher_pb2.ImportEntriesRequest(entries=chunk).SerializeToString()
                chunk = []
    if chunk:
        checked.good += len(chunk)
        yield matcher_pb2.ImportEntriesRequest(entries=chunk).SerializeToString()


def as_columns(path: Path, hotlist_id: str, total: int, quiet: bool, checked: Checked) -> Iterator[bytes]:
    """The import's messages as `encoded` makes them, the rows read and sent as columns
    (cli/hotlist_columns.py); raises Unsuitable when the file needs reading row by row."""
    with progress(total, "importing", quiet) as bar:
        yield from hotlist_columns.messages(path, hotlist_id, bar, checked)


def check_file(path: Path, hotlist_id: str) -> Checked:
    """Read the whole file row by row, for the report of every bad row of a refused import (the
    row reader's, which names each by its line); nothing is kept of the good ones."""
    checked = Checked()
    for _ in encoded(path, hotlist_id, 0, True, checked):
        pass
    return checked


def _on_terminal(quiet: bool) -> bool:
    """Whether a progress bar may be shown at all (the rows are counted only then)."""
    return not quiet and sys.stderr.isatty()


def progress(total: int, desc: str, quiet: bool):
    """A progress bar on a terminal for a file large enough to wait for; else none."""
    shown = _on_terminal(quiet) and total >= PROGRESS_FROM_ROWS
    return tqdm(total=total, unit=" rows", desc=desc, disable=not shown)


def _refusal(args, good: int, bad: list[BadRow]) -> str | None:
    """Why nothing is imported, or None."""
    for row in bad[:BAD_ROWS_SHOWN]:
        print(row, file=sys.stderr)
    if len(bad) > BAD_ROWS_SHOWN:
        print(f"... and {len(bad) - BAD_ROWS_SHOWN} more bad rows", file=sys.stderr)
    if bad and (not args.skip_bad_rows or bad[0].line == 1):
        return f"{len(bad)} bad row(s): nothing imported (fix them, or --skip-bad-rows to import the rest)"
    if good == 0 and not args.allow_empty:
        return "no entries to import: that would empty the list (--allow-empty to do so)"
    return None


async def _import(stub, ch, args) -> int:
    if not args.file or not args.list:
        raise CommandError("anpr hotlist import FILE --list NAME")
    if not args.file.is_file():
        raise CommandError(f"{args.file}: no such file")
    hotlist = await _find(stub, args)
    if hotlist is not None:
        _check_settings(args, hotlist)
    # rows, for the progress bar (none without a terminal to show it on: not counted)
    total = max(0, count_lines(args.file) - 1) if _on_terminal(args.quiet) else 0
    if hotlist is None:  # made by the import itself (one transaction): a refused file leaves no list
        new = _new_hotlist(args, str(uuid.uuid4()))
        checked, resp = await _stream(ch, args, matcher_pb2.ImportEntriesRequest(new_hotlist=new), total)
        if resp is None:
            return 1
        hotlist = types_pb2.Hotlist(hotlist_id=resp.hotlist_id, name=new.name)
        print(f"created hotlist {hotlist.name!r} ({hotlist.hotlist_id})")
    else:  # sent as it is read, matcher staging the entries meanwhile; a refusal cancels the call
        checked, resp = await _stream(ch, args, matcher_pb2.ImportEntriesRequest(hotlist_id=hotlist.hotlist_id), total)
        if resp is None:
            return 1
    print(
        f"imported {_entries(resp.imported)} into {hotlist.name!r} (list version {resp.hotlist_version}):"
        f" {resp.added} added, {resp.changed} changed, {resp.removed} removed"
        + (f"; skipped {len(checked.bad)} bad row(s)" if checked.bad else "")
    )
    return 0


def _refused(args, checked: Checked) -> bool:
    """Whether nothing may be imported (said on stderr, with the bad rows)."""
    refusal = _refusal(args, checked.good, checked.bad)
    if refusal:
        print(refusal, file=sys.stderr)
    return refusal is not None


def _stopping(args, checked: Checked) -> bool:
    """A bad row seen that refuses the whole import (without --skip-bad-rows, or a bad header)."""
    return bool(checked.bad) and (not args.skip_bad_rows or checked.bad[0].line == 1)


def _call(ch):
    """ImportEntries taking its messages already encoded."""
    return ch.stream_unary(
        "/anpr.v1.MatcherService/ImportEntries",
        request_serializer=bytes,
        response_deserializer=matcher_pb2.ImportEntriesResponse.FromString,
    )


async def _ahead(messages: Iterable[bytes], depth: int = 4) -> AsyncIterator[bytes]:
    """The messages made on a thread of their own, up to `depth` ahead of the call's sending (the
    file is read and checked while the call waits for matcher; Arrow's work lets go of the GIL)."""
    made: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                made.put(item, timeout=0.1)
                return True
        return False

    def make() -> None:
        try:
            for message in messages:
                if not put(message):
                    return
            put(_END)
        except BaseException as exc:  # raised where the messages are sent
            put(exc)

    threading.Thread(target=make, name="import-reader", daemon=True).start()
    try:
        while (item := await asyncio.to_thread(made.get)) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


_END = object()


COMPLETE = matcher_pb2.ImportEntriesRequest(complete=True).SerializeToString()


async def _with_head(head: matcher_pb2.ImportEntriesRequest, messages):
    """The messages with `head` (the list's id, or the new list) on the first (one message of the
    head alone when there is none)."""
    head = head.SerializeToString()
    sent = 0
    async for message in _ahead(messages):
        yield head + message if sent == 0 else message
        sent += 1
    if sent == 0:
        yield head


async def _stream(ch, args, head: matcher_pb2.ImportEntriesRequest, total: int, columns: bool = True):
    """Read, check and send at once: (the rows' tally, matcher's answer, or None when refused). A
    refusing row stops the sending and cancels the call (so matcher imports nothing), and the file
    is read again for the report of every bad row. Read as columns first; a file that needs it is
    then sent again, row by row, on a new call."""
    checked, refused = Checked(), asyncio.Event()
    hotlist_id = head.hotlist_id or head.new_hotlist.hotlist_id  # (made entry ids include it)

    def until_refused():
        try:
            for message in (as_columns if columns else encoded)(args.file, hotlist_id, total, args.quiet, checked):
                if _stopping(args, checked):
                    return
                yield message
        except hotlist_columns.Unsuitable:
            checked.unsuitable = True

    async def requests():
        async for message in _with_head(head, until_refused()):
            if not _stopping(args, checked):
                yield message
        if checked.unsuitable or _stopping(args, checked) or (checked.good == 0 and not args.allow_empty):
            refused.set()
            await asyncio.Event().wait()  # never complete the import: the call is cancelled
        yield COMPLETE
        if not args.quiet:
            print("all entries sent; matcher swaps the list in at once ...", flush=True)

    call = _call(ch)(requests())
    answered, stopped = asyncio.ensure_future(call), asyncio.ensure_future(refused.wait())
    await asyncio.wait({answered, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if not refused.is_set():
        stopped.cancel()
        return checked, await answered
    call.cancel()
    await asyncio.gather(answered, return_exceptions=True)
    if checked.unsuitable:
        return await _stream(ch, args, head, total, columns=False)
    checked = check_file(args.file, hotlist_id)
    _refused(args, checked)
    return checked, None


def _check_settings(args, hotlist: types_pb2.Hotlist) -> None:
    """A new list's settings given for a list that exists, and unlike its own, refuse the import: the
    import would not change them, and a list believed covert but not (its alerts on patrol
    terminals) must not be left so without a word."""
    given = {
        "--source": args.source is not None and SOURCES[args.source] != hotlist.source,
        "--priority": args.priority is not None and args.priority != hotlist.priority,
        "--covert" if args.covert else "--no-covert": args.covert is not None and args.covert != hotlist.covert,
        "--exact-only" if args.exact_only else "--no-exact-only": args.exact_only is not None
        and args.exact_only != (hotlist.match_policy == types_pb2.MATCH_POLICY_EXACT),
    }
    unlike = [flag for flag, differs in given.items() if differs]
    if unlike:
        raise CommandError(
            f"{' and '.join(unlike)}: the list {hotlist.name!r} exists ({_settings(hotlist)}); these set up a new"
            " list and an import does not change a list's settings: nothing imported (import without them, or"
            " change the list first: anpr hotlist set --list NAME ...)"
        )


def _settings(h: types_pb2.Hotlist) -> str:
    return f"source {source_name(h)}, priority {h.priority}, {'covert' if h.covert else 'not covert'}, " + (
        "exact-only" if h.match_policy == types_pb2.MATCH_POLICY_EXACT else "look-alikes matched"
    )


async def hotlist_named(stub, name: str) -> types_pb2.Hotlist | None:
    """The hotlist of that name (else of that id) the caller may see, or None."""
    lists = (await stub.ListHotlists(matcher_pb2.ListHotlistsRequest(), timeout=30)).hotlists
    return next((h for h in lists if h.name == name), None) or next((h for h in lists if h.hotlist_id == name), None)


def source_name(h: types_pb2.Hotlist) -> str:
    return types_pb2.HotlistSource.Name(h.source).removeprefix("HOTLIST_SOURCE_").lower()


async def _find(stub, args) -> types_pb2.Hotlist | None:
    found = await hotlist_named(stub, args.list)
    if found is None and not args.source:
        raise CommandError(f"no hotlist named {args.list!r}: give --source (pnc, local, other) to create it")
    return found


def _new_hotlist(args, hotlist_id: str) -> types_pb2.Hotlist:
    """The list an import into a name that no list has makes (ImportEntriesRequest.new_hotlist)."""
    policy = types_pb2.MATCH_POLICY_EXACT if args.exact_only else types_pb2.MATCH_POLICY_LOOKALIKE
    return types_pb2.Hotlist(
        hotlist_id=hotlist_id,
        name=args.list,
        source=SOURCES[args.source],
        priority=args.priority or 0,
        covert=bool(args.covert),
        match_policy=policy,
    )
