"""The `anpr` command.

    anpr up                 the whole suite with a demo feed (embedded PostgreSQL unless ANPR_DATABASE_URL)
    anpr serve SERVICE      run one service (ingest, matcher, notify, firearms)
    anpr migrate            apply every service's migrations and exit
    anpr terminal           follow alerts as an in-car terminal or control room (ANPR_TOKEN)
    anpr tfc                follow firearms activations as the TFC console (ANPR_TOKEN)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from anpr.services import DEFAULT_PORTS, NAMES


def _cmd_serve(args) -> int:
    from anpr.runtime.server import serve
    from anpr.services import spec

    asyncio.run(serve(spec(args.service)))
    return 0


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
    from anpr.demo import terminal

    try:
        asyncio.run(terminal(args.addr, _token(), sys.stdout))
    except KeyboardInterrupt:
        pass
    return 0


def _cmd_tfc(args) -> int:
    from anpr.demo import tfc_console

    try:
        asyncio.run(tfc_console(args.addr, _token(), sys.stdout))
    except KeyboardInterrupt:
        pass
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

    term = sub.add_parser("terminal", help="follow alerts (token in ANPR_TOKEN)")
    term.add_argument("--addr", default=f"127.0.0.1:{DEFAULT_PORTS['notify']}")
    term.set_defaults(func=_cmd_terminal)

    tfc = sub.add_parser("tfc", help="follow firearms activations (token in ANPR_TOKEN)")
    tfc.add_argument("--addr", default=f"127.0.0.1:{DEFAULT_PORTS['firearms']}")
    tfc.set_defaults(func=_cmd_tfc)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
