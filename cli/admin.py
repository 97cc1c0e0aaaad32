"""`anpr camera ...` (the camera registry) and `anpr stats` (how alerts were acted on)."""

from __future__ import annotations

import asyncio

import grpc

from anpr.v1 import ingest_pb2, ingest_pb2_grpc, notify_pb2, notify_pb2_grpc, types_pb2
from cli.client import CommandError, command_channel, rpc_error


def camera(args) -> int:
    try:
        asyncio.run(_camera(args))
    except grpc.aio.AioRpcError as err:
        raise rpc_error(err) from None
    return 0


async def _camera(args) -> None:
    async with command_channel(args.addr) as ch:
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
        cam = types_pb2.Camera(
            camera_id=args.camera_id,
            name=args.name or "",
            force=args.force or "",
            enabled=args.action == "add",
            direction=types_pb2.Direction.Value(f"DIRECTION_{args.direction.upper()}"),
        )
        if args.lat is not None and args.lon is not None:
            cam.location.latitude, cam.location.longitude = args.lat, args.lon
        if args.action == "disable":
            current = {c.camera_id: c for c in (await stub.ListCameras(ingest_pb2.ListCamerasRequest())).cameras}
            if args.camera_id not in current:
                raise CommandError(f"no such camera: {args.camera_id}")
            cam = current[args.camera_id]
            cam.enabled = False
        saved = (await stub.UpsertCamera(ingest_pb2.UpsertCameraRequest(camera=cam))).camera
        print(f"{saved.camera_id}: {'enabled' if saved.enabled else 'disabled'}")


def stats(args) -> int:
    try:
        asyncio.run(_stats(args))
    except grpc.aio.AioRpcError as err:
        raise rpc_error(err) from None
    return 0


async def _stats(args) -> None:
    async with command_channel(args.addr) as ch:
        resp = await notify_pb2_grpc.NotifyServiceStub(ch).GetAlertStats(
            notify_pb2.GetAlertStatsRequest(window_seconds=int(args.days * 86400)), timeout=30
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
            label = (r.name or r.key or "-")[:27]
            print(
                f"{label:<28}{r.alerts:>8}{r.acknowledged:>8}{r.accepted:>10}{r.rejected:>10}"
                f"{r.accept_rate:>8.0%}{r.misread_rate:>9.0%}"
            )
