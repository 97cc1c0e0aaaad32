"""`anpr calibration show|reset CAMERA`: what officers' and operators' outcomes taught matching about
one camera (or, with --list, one hotlist, by its name or id), and forgetting it.

Each line is one key of the evidence (a confusion such as "T read as 7", a dropped or extra character,
a description field that disagreed), the alerts accepted and rejected (as a misread or the wrong
vehicle) through it, the probability the model gave them before calibration, and the adjustment
now in force for hits through it there (log-odds, bounded by ANPR_CALIBRATION_MAX_LOG_ODDS).
`reset` forgets them all for the camera (or list): matching there goes back to the model alone.
Needs a token of a hotlist_admin or camera_admin (show: a control room too) in ANPR_TOKEN.
"""

from __future__ import annotations

import asyncio

import grpc

from anpr.runtime.auth import Role
from anpr.v1 import matcher_pb2, matcher_pb2_grpc
from cli.client import CommandError, target_of
from cli.hotlists import hotlist_named


def command(args) -> int:
    if not args.scope_id:
        raise CommandError(f"anpr calibration {args.action}: give the camera id (or, with --list, the hotlist's name)")
    asyncio.run(_run(args))
    return 0


async def _run(args) -> None:
    scope = matcher_pb2.CALIBRATION_SCOPE_LIST if args.list else matcher_pb2.CALIBRATION_SCOPE_CAMERA
    # the suite file's token, if no ANPR_TOKEN: a list's is its administrator's
    role = Role.HOTLIST_ADMIN if args.list else Role.CAMERA_ADMIN if args.action == "reset" else Role.CONTROL_ROOM
    async with target_of(args, "matcher", role).channel() as ch:
        stub = matcher_pb2_grpc.MatcherServiceStub(ch)
        if args.list:
            scope_id = await _hotlist_id(stub, args.scope_id)
            what = f"hotlist {args.scope_id}" + (f" ({scope_id})" if scope_id != args.scope_id else "")
        else:
            scope_id, what = args.scope_id, f"camera {args.scope_id}"
        if args.action == "reset":
            resp = await stub.ResetCalibration(
                matcher_pb2.ResetCalibrationRequest(scope=scope, scope_id=scope_id), timeout=30
            )
            print(f"{what}: calibration reset ({resp.removed} {'key' if resp.removed == 1 else 'keys'} forgotten)")
            return
        resp = await stub.GetCalibration(matcher_pb2.GetCalibrationRequest(scope=scope, scope_id=scope_id), timeout=30)
    print(f"{what}: calibration from outcomes (each adjustment within +-{resp.max_log_odds:g})")
    if not resp.entries:
        print("  nothing learnt yet")
        return
    print(f"  {'key':<28}{'accepted':>9}{'rejected':>9}{'predicted':>10}{'adjustment':>11}")
    for e in resp.entries:
        print(f"  {e.label[:27]:<28}{e.accepted:>9}{e.rejected:>9}{e.predicted:>10.0%}{e.log_odds:>+11.2f}")


async def _hotlist_id(stub, named: str) -> str:
    """The id of the hotlist `named` (its name, or its id): calibration is kept by list id."""
    try:
        found = await hotlist_named(stub, named)
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.PERMISSION_DENIED:
            return named  # a token that may not list them: the id as given
        raise
    if found is None:
        raise CommandError(f"no hotlist named {named!r} (nor with that id): anpr hotlist list shows them")
    return found.hotlist_id
