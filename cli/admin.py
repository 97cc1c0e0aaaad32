"""`anpr camera ...` (the camera registry) and `anpr stats` (how alerts were acted on)."""

from __future__ import annotations

import asyncio

import grpc

from anpr.runtime.auth import Role
from anpr.v1 import ingest_pb2, ingest_pb2_grpc, matcher_pb2, matcher_pb2_grpc, notify_pb2, notify_pb2_grpc, types_pb2
from cli.client import CommandError, rpc_error, target_of


def camera(args) -> int:
    asyncio.run(_camera(args))
    return 0


async def _camera(args) -> None:
    async with target_of(args, "ingest", Role.CAMERA_ADMIN).channel() as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        if args.action == "list":
            for c in (await stub.ListCameras(ingest_pb2.ListCamerasRequest())).cameras:
                state = "enabled" if c.enabled else "DISABLED"
                print(
                    f"{c.camera_id}\t{state}\t{c.force}\t{c.location.latitude:.5f},{c.location.longitude:.5f}\t{c.name}"
                )
            return
        if not args.camera_id:
            raise CommandError(f"anpr camera {args.action}: give the camera id")
        if (args.lat is None) != (args.lon is None):
            raise CommandError("give the camera's position as both --lat and --lon")
        current = {c.camera_id: c for c in (await stub.ListCameras(ingest_pb2.ListCamerasRequest())).cameras}
        cam = current.get(args.camera_id)
        if args.action == "disable":
            if cam is None:
                raise CommandError(f"no such camera: {args.camera_id}")
            cam.enabled = False
        else:
            cam = _added(args, cam)
        try:
            saved = (await stub.UpsertCamera(ingest_pb2.UpsertCameraRequest(camera=cam))).camera
        except grpc.aio.AioRpcError as err:
            raise rpc_error(err, CAMERA_FLAGS) from None
        print(f"{saved.camera_id}: {'enabled' if saved.enabled else 'disabled'}")


# The camera's fields as `anpr camera add`'s flags, for the service's refusals.
CAMERA_FLAGS = {
    "camera.camera_id": "the camera id",
    "camera.name": "--name",
    "camera.force": "--force",
    "camera.location": "--lat and --lon",
    "camera.location.latitude": "--lat",
    "camera.location.longitude": "--lon",
    "camera.direction": "--direction",
}


def _added(args, cam: types_pb2.Camera | None) -> types_pb2.Camera:
    """`anpr camera add`: a new camera with what it needs, or a registered one changed where a flag
    says (the rest kept), enabled."""
    if cam is None:
        _check_new_camera(args)
        cam = types_pb2.Camera(camera_id=args.camera_id)
    cam.enabled = True
    if args.name is not None:
        cam.name = args.name
    if args.force:
        cam.force = args.force
    if args.direction is not None:
        cam.direction = types_pb2.Direction.Value(f"DIRECTION_{args.direction.upper()}")
    if args.lat is not None:
        cam.location.latitude, cam.location.longitude = args.lat, args.lon
    return cam


def _check_new_camera(args) -> None:
    """What `anpr camera add` needs before it asks: where the camera stands and whose it is."""
    missing = [
        flag
        for flag, value in (("--lat", args.lat), ("--lon", args.lon), ("--force", args.force))
        if value in (None, "")
    ]
    if missing:
        raise CommandError(
            f"anpr camera add needs {' and '.join(missing)}: where the camera stands (reads without"
            " coordinates count as made there) and the force whose control room and TFC get its alerts"
        )


def stats(args) -> int:
    asyncio.run(_stats(args))
    return 0


async def _stats(args) -> None:
    if not 0 < args.days <= 366:  # (the service's window: 1 s to 366 days)
        raise CommandError("--days: give a number of days above 0 and at most 366")
    window = max(1, int(args.days * 86400))
    async with target_of(args, "notify", Role.CONTROL_ROOM).channel() as ch:
        resp = await notify_pb2_grpc.NotifyServiceStub(ch).GetAlertStats(
            notify_pb2.GetAlertStatsRequest(window_seconds=window), timeout=30
        )
    header = f"{'':<28}{'alerts':>8}{'acked':>8}{'accepted':>10}{'rejected':>10}{'accept':>8}{'misread':>9}"
    print(f"Alert outcomes over the last {args.days:g} days")
    for title, rows in (
        ("by hotlist", resp.by_hotlist),
        ("by reason code", resp.by_reason_code),
        ("total", [resp.total]),
    ):
        print(f"\n{title}\n{header}")
        for r in rows:
            label = "all alerts" if title == "total" else (r.name or r.key or "-")[:27]
            # the rates are of the alerts accepted or rejected: none yet, no rate (not 0%)
            decided = r.accepted + r.rejected
            rates = f"{r.accept_rate:>8.0%}{r.misread_rate:>9.0%}" if decided else f"{'-':>8}{'-':>9}"
            print(f"{label:<28}{r.alerts:>8}{r.acknowledged:>8}{r.accepted:>10}{r.rejected:>10}{rates}")
        if not rows:
            print("  (none)")
    print(f"\nPOSSIBLE alerts by force of the camera\n{'':<28}{'budget/h':>9}{'let through':>12}{'held back':>10}")
    for b in resp.possible_by_force:
        budget = str(b.budget_per_hour) if b.budget_per_hour else "none"
        print(f"{(b.force or '-')[:27]:<28}{budget:>9}{b.admitted:>12}{b.held:>10}")
    if not resp.possible_by_force:
        print("  (none)")
    await _withheld(args, window)


async def _withheld(args, window: int) -> None:
    """The POSSIBLE matches matcher withheld for want of support, per list and camera."""
    matcher = target_of(args, "matcher", Role.CONTROL_ROOM, addr_option="matcher_addr")
    try:
        async with matcher.channel() as ch:
            resp = await matcher_pb2_grpc.MatcherServiceStub(ch).GetMatchStats(
                matcher_pb2.GetMatchStatsRequest(window_seconds=window), timeout=30
            )
    except grpc.aio.AioRpcError as err:
        print(f"\n(matcher at {matcher.address} did not answer: {err.code().name}; withheld matches not shown)")
        return
    print(f"\nPOSSIBLE matches withheld for want of support: {resp.withheld_total}")
    for title, rows in (("by hotlist", resp.withheld_by_hotlist), ("by camera", resp.withheld_by_camera)):
        if not rows:
            continue
        print(f"{title}")
        for r in rows[:20]:
            print(f"  {r.key[:40]:<42}{r.withheld:>8}")
