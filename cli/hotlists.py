"""`anpr hotlist import FILE --list NAME` and `anpr hotlist list`: hotlist administration.

An import checks the whole file first (every bad row reported by line number; nothing is imported
while one is bad, unless --skip-bad-rows), then streams the entries to matcher's ImportEntries,
which replaces the list atomically.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import grpc
from tqdm import tqdm

from anpr.v1 import matcher_pb2, matcher_pb2_grpc, types_pb2
from cli.client import CommandError, command_channel, rpc_error
from cli.hotlist_csv import BadRow, read_file

SOURCES = {
    "pnc": types_pb2.HOTLIST_SOURCE_PNC_NATIONAL,
    "local": types_pb2.HOTLIST_SOURCE_LOCAL_FORCE,
    "other": types_pb2.HOTLIST_SOURCE_OTHER_AGENCY,
}
CHUNK = 2000  # entries per ImportEntries message
BAD_ROWS_SHOWN = 50


def command(args) -> int:
    try:
        return asyncio.run(_run(args))
    except grpc.aio.AioRpcError as err:
        raise rpc_error(err) from None


async def _run(args) -> int:
    async with command_channel(args.addr) as ch:
        stub = matcher_pb2_grpc.MatcherServiceStub(ch)
        if args.action == "list":
            await _list(stub)
            return 0
        return await _import(stub, args)


async def _list(stub) -> None:
    for h in (await stub.ListHotlists(matcher_pb2.ListHotlistsRequest())).hotlists:
        kind = types_pb2.HotlistSource.Name(h.source).removeprefix("HOTLIST_SOURCE_").lower()
        print(
            f"{h.name}\t{h.entry_count} entries\t{kind}\tpriority {h.priority}"
            + ("\tcovert" if h.covert else "")
            + ("\texact-only" if h.match_policy == types_pb2.MATCH_POLICY_EXACT else "")
        )


def count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            n += chunk.count(b"\n")
    return n


def check_file(path: Path, total: int, quiet: bool) -> tuple[int, list[BadRow]]:
    """Read the whole file once: (good rows, bad rows)."""
    bad: list[BadRow] = []
    good = 0
    with tqdm(total=total, unit=" rows", desc="checking", disable=quiet) as bar:
        for _, item in read_file(path, "check"):
            bar.update(1)
            if isinstance(item, BadRow):
                bad.append(item)
            else:
                good += 1
    return good, bad


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


async def _import(stub, args) -> int:
    if not args.file or not args.list:
        raise CommandError("anpr hotlist import FILE --list NAME")
    if not args.file.is_file():
        raise CommandError(f"{args.file}: no such file")
    total = max(0, count_lines(args.file) - 1)
    good, bad = check_file(args.file, total, args.quiet)
    refusal = _refusal(args, good, bad)
    if refusal:
        print(refusal, file=sys.stderr)
        return 1
    hotlist = await _find_or_create(stub, args)
    resp = await stub.ImportEntries(_requests(args.file, hotlist.hotlist_id, total, args.quiet))
    print(
        f"imported {resp.imported} entries into {hotlist.name!r} (list version {resp.hotlist_version})"
        + (f"; skipped {len(bad)} bad row(s)" if bad else "")
    )
    return 0


async def _find_or_create(stub, args) -> types_pb2.Hotlist:
    lists = (await stub.ListHotlists(matcher_pb2.ListHotlistsRequest())).hotlists
    found = next((h for h in lists if h.name == args.list), None)
    if found:
        return found
    if not args.source:
        raise CommandError(f"no hotlist named {args.list!r}: give --source (pnc, local, other) to create it")
    policy = types_pb2.MATCH_POLICY_EXACT if args.exact_only else types_pb2.MATCH_POLICY_LOOKALIKE
    created = (
        await stub.UpsertHotlist(
            matcher_pb2.UpsertHotlistRequest(
                hotlist=types_pb2.Hotlist(
                    name=args.list,
                    source=SOURCES[args.source],
                    priority=args.priority,
                    covert=args.covert,
                    match_policy=policy,
                )
            )
        )
    ).hotlist
    print(f"created hotlist {created.name!r} ({created.hotlist_id})")
    return created


async def _requests(path: Path, hotlist_id: str, total: int, quiet: bool):
    """The import's messages: the list's id on the first, CHUNK entries each (bad rows left out)."""
    first, chunk = True, []
    with tqdm(total=total, unit=" rows", desc="importing", disable=quiet) as bar:
        for _, item in read_file(path, hotlist_id):
            bar.update(1)
            if isinstance(item, BadRow):
                continue
            chunk.append(item)
            if len(chunk) == CHUNK:
                yield matcher_pb2.ImportEntriesRequest(hotlist_id=hotlist_id if first else "", entries=chunk)
                first, chunk = False, []
        if chunk or first:
            yield matcher_pb2.ImportEntriesRequest(hotlist_id=hotlist_id if first else "", entries=chunk)
