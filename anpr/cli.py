"""The `anpr` command.

    anpr up                 the whole suite with a demo feed (embedded PostgreSQL unless ANPR_DATABASE_URL)
    anpr serve SERVICE      run one service (ingest, matcher, notify, firearms)
    anpr migrate            apply every service's migrations and exit
    anpr camera add|list|disable   the camera registry (ANPR_TOKEN of a camera_admin)
    anpr hotlist import FILE --list NAME   replace a hotlist from a CSV extract (hotlist_admin token)
    anpr hotlist list       hotlists with their entry counts
    anpr retention          create upcoming day partitions of reads and drop expired ones
    anpr deadletters list|redrive SERVICE [--topic T]   records a service set aside (ANPR_DATABASE_URL)
    anpr terminal           follow alerts as an in-car terminal or control room (ANPR_TOKEN)
    anpr stats              how alerts were acted on, per hotlist and reason code (ANPR_TOKEN)
    anpr tfc                the TFC console: activations live, acknowledge, NDM decisions, close (ANPR_TOKEN)
    anpr rota commander|add|import|list|on-duty   the firearms duty rota (tfc_supervisor token to change it)
    anpr ndm verify         check the hash-chained NDM log (tfc_supervisor token)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from anpr.services import DEFAULT_PORTS, NAMES


def _cmd_serve(args) -> int:
    from anpr.runtime.server import main
    from anpr.services import spec

    return main(spec(args.service))


def _cmd_migrate(args) -> int:
    from anpr.runtime import pg
    from anpr.services import spec

    async def run() -> None:
        url, server = pg.resolve_database_url(os.environ.get("ANPR_DATABASE_URL"), args.data_dir)
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            for name in args.services or NAMES:
                s = spec(name)
                applied = await pg.migrate(conn, s.schema, s.migrations)
                print(f"{name}: {'applied ' + ', '.join(applied) if applied else 'up to date'}")
        finally:
            await conn.close()
            if server is not None:
                server.cleanup()

    asyncio.run(run())
    return 0


def _cmd_up(args) -> int:
    from anpr.demo import up

    return up(args.data_dir, args.base_port, args.duration, args.interval)


def _token() -> str:
    token = os.environ.get("ANPR_TOKEN")
    if not token:
        raise SystemExit("ANPR_TOKEN is not set: export the bearer token of this terminal or console")
    return token


def _cmd_terminal(args) -> int:
    from anpr.terminal import Terminal, stdin_lines
    from anpr.v1 import notify_pb2, types_pb2
    from anpr.runtime.tls import ClientTls

    sub = notify_pb2.Subscription(unit_id=args.unit or "", force=args.force or "")
    if args.lat is not None and args.lon is not None:
        sub.circle.center.CopyFrom(types_pb2.GeoPoint(latitude=args.lat, longitude=args.lon))
        sub.circle.radius_km = args.radius_km
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    screen = Terminal(args.addr, _token(), sub, sys.stdout, colour=colour, tls=ClientTls.from_env())
    try:
        asyncio.run(screen.run(stdin_lines()))
    except KeyboardInterrupt:
        pass
    return 0


def _cmd_stats(args) -> int:
    from anpr.client import channel
    from anpr.v1 import notify_pb2, notify_pb2_grpc

    async def run() -> None:
        async with channel(args.addr, _token()) as ch:
            resp = await notify_pb2_grpc.NotifyServiceStub(ch).GetAlertStats(
                notify_pb2.GetAlertStatsRequest(window_seconds=int(args.days * 86400)), timeout=30)
        header = f"{'':<28}{'alerts':>8}{'acked':>8}{'accepted':>10}{'rejected':>10}{'accept':>8}{'misread':>9}"
        print(f"Alert outcomes over the last {args.days:g} days")
        for title, rows in (("by hotlist", resp.by_hotlist), ("by reason code", resp.by_reason_code),
                            ("total", [resp.total])):
            print(f"\n{title}\n{header}")
            for r in rows:
                label = (r.name or r.key or "-")[:27]
                print(f"{label:<28}{r.alerts:>8}{r.acknowledged:>8}{r.accepted:>10}{r.rejected:>10}"
                      f"{r.accept_rate:>8.0%}{r.misread_rate:>9.0%}")

    asyncio.run(run())
    return 0


def _cmd_tfc(args) -> int:
    from anpr.console import tfc_console
    from anpr.runtime.tls import ClientTls

    try:
        asyncio.run(tfc_console(args.addr, _token(), sys.stdout, tls=ClientTls.from_env()))
    except KeyboardInterrupt:
        pass
    return 0


def _cmd_firearms(args) -> int:
    """`anpr rota ...` and `anpr ndm verify`: one call to the firearms service each."""
    import grpc

    from anpr import rota
    from anpr.client import channel
    from anpr.runtime.tls import ClientTls
    from anpr.v1 import firearms_pb2_grpc

    async def run() -> int:
        async with channel(args.addr, _token(), ClientTls.from_env()) as ch:
            stub = firearms_pb2_grpc.FirearmsServiceStub(ch)
            return await (rota.verify(stub) if args.command == "ndm" else rota.run(stub, args))

    try:
        return asyncio.run(run())
    except ValueError as err:
        raise SystemExit(f"invalid value: {err}") from None
    except grpc.aio.AioRpcError as err:
        from anpr.runtime.errors import field_violations_of

        fields = field_violations_of(err)
        raise SystemExit(f"{err.code().name}: " + ("; ".join(f"{f}: {d}" for f, d in fields) if fields
                                                    else err.details())) from None


def _cmd_camera(args) -> int:
    import grpc

    from anpr.client import channel
    from anpr.runtime.tls import ClientTls
    from anpr.v1 import ingest_pb2, ingest_pb2_grpc, types_pb2

    async def run() -> None:
        async with channel(args.addr, _token(), ClientTls.from_env()) as ch:
            stub = ingest_pb2_grpc.IngestServiceStub(ch)
            if args.action == "list":
                for c in (await stub.ListCameras(ingest_pb2.ListCamerasRequest())).cameras:
                    state = "enabled" if c.enabled else "DISABLED"
                    print(f"{c.camera_id}\t{state}\t{c.force}\t{c.location.latitude:.5f},{c.location.longitude:.5f}"
                          f"\t{c.name}")
                return
            if not args.camera_id:
                raise SystemExit(f"anpr camera {args.action}: give the camera id")
            cam = types_pb2.Camera(camera_id=args.camera_id, name=args.name or "", force=args.force or "",
                                   enabled=args.action == "add",
                                   direction=types_pb2.Direction.Value(f"DIRECTION_{args.direction.upper()}"))
            if args.lat is not None and args.lon is not None:
                cam.location.latitude, cam.location.longitude = args.lat, args.lon
            if args.action == "disable":
                current = {c.camera_id: c for c in (await stub.ListCameras(ingest_pb2.ListCamerasRequest())).cameras}
                if args.camera_id not in current:
                    raise SystemExit(f"no such camera: {args.camera_id}")
                cam = current[args.camera_id]
                cam.enabled = False
            saved = (await stub.UpsertCamera(ingest_pb2.UpsertCameraRequest(camera=cam))).camera
            print(f"{saved.camera_id}: {'enabled' if saved.enabled else 'disabled'}")

    try:
        asyncio.run(run())
    except grpc.aio.AioRpcError as err:
        raise SystemExit(f"{err.code().name}: {err.details()}") from None
    return 0


def _count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            n += chunk.count(b"\n")
    return n


def _cmd_hotlist(args) -> int:
    import grpc
    from tqdm import tqdm

    from anpr.client import channel
    from anpr.hotlist_csv import BadRow, read_file
    from anpr.runtime.tls import ClientTls
    from anpr.v1 import matcher_pb2, matcher_pb2_grpc, types_pb2

    sources = {"pnc": types_pb2.HOTLIST_SOURCE_PNC_NATIONAL, "local": types_pb2.HOTLIST_SOURCE_LOCAL_FORCE,
               "other": types_pb2.HOTLIST_SOURCE_OTHER_AGENCY}

    async def find_or_create(stub) -> types_pb2.Hotlist:
        lists = (await stub.ListHotlists(matcher_pb2.ListHotlistsRequest())).hotlists
        found = next((h for h in lists if h.name == args.list), None)
        if found:
            return found
        if not args.source:
            raise SystemExit(f"no hotlist named {args.list!r}: give --source (pnc, local, other) to create it")
        policy = types_pb2.MATCH_POLICY_EXACT if args.exact_only else types_pb2.MATCH_POLICY_LOOKALIKE
        created = (await stub.UpsertHotlist(matcher_pb2.UpsertHotlistRequest(hotlist=types_pb2.Hotlist(
            name=args.list, source=sources[args.source], priority=args.priority, covert=args.covert,
            match_policy=policy)))).hotlist
        print(f"created hotlist {created.name!r} ({created.hotlist_id})")
        return created

    async def run() -> int:
        async with channel(args.addr, _token(), ClientTls.from_env()) as ch:
            stub = matcher_pb2_grpc.MatcherServiceStub(ch)
            if args.action == "list":
                for h in (await stub.ListHotlists(matcher_pb2.ListHotlistsRequest())).hotlists:
                    kind = types_pb2.HotlistSource.Name(h.source).removeprefix("HOTLIST_SOURCE_").lower()
                    print(f"{h.name}\t{h.entry_count} entries\t{kind}\tpriority {h.priority}"
                          + ("\tcovert" if h.covert else "")
                          + ("\texact-only" if h.match_policy == types_pb2.MATCH_POLICY_EXACT else ""))
                return 0
            if not args.file or not args.list:
                raise SystemExit("anpr hotlist import FILE --list NAME")
            if not args.file.is_file():
                raise SystemExit(f"{args.file}: no such file")
            total = max(0, _count_lines(args.file) - 1)
            bad: list[BadRow] = []
            good = 0
            with tqdm(total=total, unit=" rows", desc="checking", disable=args.quiet) as bar:
                for _, item in read_file(args.file, "check"):
                    bar.update(1)
                    if isinstance(item, BadRow):
                        bad.append(item)
                    else:
                        good += 1
            for row in bad[:50]:
                print(row, file=sys.stderr)
            if len(bad) > 50:
                print(f"... and {len(bad) - 50} more bad rows", file=sys.stderr)
            if bad and (not args.skip_bad_rows or bad[0].line == 1):
                print(f"{len(bad)} bad row(s): nothing imported (fix them, or --skip-bad-rows to import the rest)",
                      file=sys.stderr)
                return 1
            if good == 0 and not args.allow_empty:
                print("no entries to import: that would empty the list (--allow-empty to do so)", file=sys.stderr)
                return 1
            hotlist = await find_or_create(stub)

            async def requests():
                first, chunk = True, []
                with tqdm(total=total, unit=" rows", desc="importing", disable=args.quiet) as bar:
                    for _, item in read_file(args.file, hotlist.hotlist_id):
                        bar.update(1)
                        if isinstance(item, BadRow):
                            continue
                        chunk.append(item)
                        if len(chunk) == 2000:
                            yield matcher_pb2.ImportEntriesRequest(
                                hotlist_id=hotlist.hotlist_id if first else "", entries=chunk)
                            first, chunk = False, []
                    if chunk or first:
                        yield matcher_pb2.ImportEntriesRequest(
                            hotlist_id=hotlist.hotlist_id if first else "", entries=chunk)

            resp = await stub.ImportEntries(requests())
            print(f"imported {resp.imported} entries into {hotlist.name!r} (list version {resp.hotlist_version})"
                  + (f"; skipped {len(bad)} bad row(s)" if bad else ""))
            return 0

    try:
        return asyncio.run(run())
    except grpc.aio.AioRpcError as err:
        raise SystemExit(f"{err.code().name}: {err.details()}") from None


def _cmd_retention(args) -> int:
    from anpr.runtime import pg
    from anpr.runtime.config import load
    from services.ingest.config import IngestSettings
    from anpr.services import spec
    from services.ingest.server import run_retention

    settings = load(IngestSettings, matcher_addr="unused", service_token="unused", tokens_file="unused")

    async def run() -> None:
        url, server = pg.resolve_database_url(settings.database_url, settings.data_dir)
        conn = await pg.connect(url, "ingest")
        try:
            await pg.migrate(conn, "ingest", spec("ingest").migrations)
            dropped = await run_retention(conn, settings)
        finally:
            await conn.close()
            if server is not None:
                server.cleanup()
        print(f"retention {settings.read_retention_days} days: dropped {len(dropped)} partition(s)"
              + (": " + ", ".join(dropped) if dropped else ""))

    asyncio.run(run())
    return 0


def _cmd_deadletters(args) -> int:
    from anpr import deadletters
    from anpr.runtime import pg
    from anpr.services import spec

    schema = spec(args.service).schema

    async def run() -> None:
        url = os.environ.get("ANPR_DATABASE_URL")
        if not url:
            raise SystemExit("ANPR_DATABASE_URL is not set: the database whose outbox to read")
        conn = await pg.connect(url, schema)
        try:
            if args.action == "redrive":
                counts = await deadletters.redrive(conn, schema, args.topic)
                print(f"{args.service}: re-driven " + (", ".join(f"{n} to {t}" for t, n in sorted(counts.items()))
                                                       if counts else "nothing (no dead letters)"))
                return
            found = await deadletters.list_dead_letters(conn, schema, args.topic)
            print(f"{args.service}: {len(found)} dead letter(s)" + (":" if found else ""))
            for d in found:
                print(f"{d.id}\t{d.topic}\t{d.created_at.isoformat(timespec='seconds')}\ttrace {d.trace_id or '-'}")
        finally:
            await conn.close()

    asyncio.run(run())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anpr", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole suite with a demo feed")
    up.add_argument("--data-dir", type=Path, default=Path(".anpr"),
                    help="embedded PostgreSQL data, tokens and service logs (default .anpr)")
    up.add_argument("--base-port", type=int, default=None,
                    help="first of four consecutive ports (default 50051-50054)")
    up.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    up.add_argument("--interval", type=float, default=2.0, help="seconds between demo camera batches")
    up.set_defaults(func=_cmd_up)

    serve = sub.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=NAMES)
    serve.set_defaults(func=_cmd_serve)

    migrate = sub.add_parser("migrate", help="apply migrations and exit")
    migrate.add_argument("services", nargs="*", choices=[[], *NAMES], metavar="SERVICE")
    migrate.add_argument("--data-dir", type=Path, default=Path(".anpr"))
    migrate.set_defaults(func=_cmd_migrate)

    cam = sub.add_parser("camera", help="manage the camera registry (token in ANPR_TOKEN)")
    cam.add_argument("action", choices=["add", "list", "disable"])
    cam.add_argument("camera_id", nargs="?")
    cam.add_argument("--name")
    cam.add_argument("--lat", type=float)
    cam.add_argument("--lon", type=float)
    cam.add_argument("--direction", choices=["towards", "away", "unspecified"], default="unspecified")
    cam.add_argument("--force", help="owning force")
    cam.add_argument("--addr", default=f"127.0.0.1:{DEFAULT_PORTS['ingest']}")
    cam.set_defaults(func=_cmd_camera)

    hl = sub.add_parser("hotlist", help="hotlist administration (token in ANPR_TOKEN)",
                        description=__import__("anpr.hotlist_csv", fromlist=["x"]).__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    hl.add_argument("action", choices=["import", "list"])
    hl.add_argument("file", nargs="?", type=Path, help="CSV extract (import)")
    hl.add_argument("--list", help="hotlist name (created when missing, with --source)")
    hl.add_argument("--source", choices=["pnc", "local", "other"], help="source of a new hotlist")
    hl.add_argument("--priority", type=int, default=0)
    hl.add_argument("--covert", action="store_true", help="new hotlist is covert (no terminal alerts)")
    hl.add_argument("--exact-only", action="store_true", help="new hotlist matches exact VRMs only")
    hl.add_argument("--skip-bad-rows", action="store_true", help="import the good rows when some are bad")
    hl.add_argument("--allow-empty", action="store_true",
                    help="let a file without entries (a header only) empty the list")
    hl.add_argument("--quiet", action="store_true", help="no progress bar")
    hl.add_argument("--addr", default=f"127.0.0.1:{DEFAULT_PORTS['matcher']}")
    hl.set_defaults(func=_cmd_hotlist)

    ret = sub.add_parser("retention", help="drop read partitions older than ANPR_READ_RETENTION_DAYS")
    ret.set_defaults(func=_cmd_retention)

    dl = sub.add_parser("deadletters", help="list or re-drive a service's dead letters (ANPR_DATABASE_URL)",
                        description=__import__("anpr.deadletters", fromlist=["x"]).__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    dl.add_argument("action", choices=["list", "redrive"])
    dl.add_argument("service", choices=NAMES)
    dl.add_argument("--topic", help="only this topic (e.g. match, alert); default: every topic")
    dl.set_defaults(func=_cmd_deadletters)

    term = sub.add_parser("terminal", help="follow alerts as a unit or control room (token in ANPR_TOKEN)",
                          description=__import__("anpr.terminal", fromlist=["x"]).__doc__,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    term.add_argument("--addr", default=f"127.0.0.1:{DEFAULT_PORTS['notify']}")
    term.add_argument("--unit", help="the unit's call sign (required for a terminal token)")
    term.add_argument("--force", help="the unit's force (a control room: only this force's alerts)")
    term.add_argument("--lat", type=float, help="the unit's position")
    term.add_argument("--lon", type=float)
    term.add_argument("--radius-km", type=float, default=10.0, help="alerts for reads within this distance")
    term.set_defaults(func=_cmd_terminal)

    stats = sub.add_parser("stats", help="how alerts were acted on, per hotlist and reason (control room, admins)")
    stats.add_argument("--addr", default=f"127.0.0.1:{DEFAULT_PORTS['notify']}")
    stats.add_argument("--days", type=float, default=7.0)
    stats.set_defaults(func=_cmd_stats)

    tfc = sub.add_parser("tfc", help="the TFC console (token in ANPR_TOKEN)")
    tfc.add_argument("--addr", default=f"127.0.0.1:{DEFAULT_PORTS['firearms']}")
    tfc.set_defaults(func=_cmd_tfc)
    _add_firearms_parsers(sub)
    return p


def _add_firearms_parsers(sub) -> None:
    firearms_addr = f"127.0.0.1:{DEFAULT_PORTS['firearms']}"
    rota = sub.add_parser("rota", help="the firearms duty rota (token in ANPR_TOKEN)",
                          description=__import__("anpr.rota", fromlist=["x"]).__doc__,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    rota.add_argument("action", choices=["commander", "add", "import", "list", "on-duty"],
                      help="commander: register a person; add: one shift; import: shifts from a CSV;"
                           " list: the coming week's shifts; on-duty: who is on duty now (exit 1 if a force has nobody)")
    rota.add_argument("subject", nargs="?", help="commander: the subject of their token")
    rota.add_argument("file", nargs="?", type=Path, help="import: the CSV file")
    rota.add_argument("--name", help="commander: name and rank")
    rota.add_argument("--force")
    rota.add_argument("--contact", help="commander: phone or call sign")
    rota.add_argument("--area", help="add: the area (default: the whole force)")
    rota.add_argument("--from", dest="starts", help="add: shift start, ISO 8601 with offset")
    rota.add_argument("--to", dest="ends", help="add: shift end, ISO 8601 with offset")
    rota.add_argument("--primary", help="add: the duty commander")
    rota.add_argument("--backups", help="add: backups in order, separated by ;")
    rota.add_argument("--supervisor", help="add: the force supervisor at the end of the chain")
    rota.add_argument("--addr", default=firearms_addr)
    rota.set_defaults(func=_cmd_firearms)

    ndm = sub.add_parser("ndm", help="the NDM decision log (token in ANPR_TOKEN)")
    ndm.add_argument("action", choices=["verify"], help="verify: check the hash chain; exit 1 naming the first bad entry")
    ndm.add_argument("--addr", default=firearms_addr)
    ndm.set_defaults(func=_cmd_firearms)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
