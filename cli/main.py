"""The `anpr` command.

    anpr up                 the whole suite with a demo feed (embedded PostgreSQL unless ANPR_DATABASE_URL)
    anpr serve SERVICE      run one service (ingest, matcher, notify, firearms)
    anpr migrate            apply every service's migrations (as the owner) and exit
    anpr db-logins          the DSNs of the embedded database's administrator, owner and service logins
    anpr camera add|list|disable   the camera registry (ANPR_TOKEN of a camera_admin)
    anpr hotlist import FILE --list NAME   replace a hotlist from a CSV extract (hotlist_admin token)
    anpr hotlist list       hotlists with their entry counts
    anpr retention          create upcoming day partitions of reads and drop expired ones
    anpr deadletters list|redrive SERVICE [--topic T]   records a service set aside (ANPR_DATABASE_URL)
    anpr terminal           follow alerts as an in-car terminal or control room (ANPR_TOKEN)
    anpr stats              how alerts were acted on, per hotlist and reason code (ANPR_TOKEN)
    anpr tfc                the TFC console: activations live, acknowledge, NDM decisions, close (ANPR_TOKEN)
    anpr rota commander|add|import|list|on-duty   the firearms duty rota (tfc_supervisor token to change it)
    anpr ndm verify         check the NDM log against its signed checkpoints, and every activation's record
    anpr token issue --role R [--force F | --national] [--unit U] [--covert]   a token of `anpr up`'s issuer

This module only parses: each command's code is imported when it runs ("module:function" below), so
that the service image, which carries the services' commands alone, can still say what it lacks.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from services import DEFAULT_PORTS, NAMES

# The modules the service image carries (Dockerfile, .dockerignore): the rest are a workstation's.
IN_IMAGE = ("cli.ops",)


def _addr(service: str) -> str:
    return f"127.0.0.1:{DEFAULT_PORTS[service]}"


def _add_up(sub) -> None:
    up = sub.add_parser("up", help="run the whole suite with a demo feed")
    up.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".anpr"),
        help="embedded PostgreSQL data, tokens and service logs (default .anpr)",
    )
    up.add_argument("--base-port", type=int, default=None, help="first of four consecutive ports (default 50051-50054)")
    up.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    up.add_argument("--interval", type=float, default=2.0, help="seconds between demo camera batches")
    up.set_defaults(run="cli.suite.demo:command")


def _add_operations(sub) -> None:
    serve = sub.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=NAMES)
    serve.set_defaults(run="cli.ops:serve")

    logins = sub.add_parser(
        "db-logins", help="the embedded database's logins (anpr up's): administrator, owner, services"
    )
    logins.add_argument("--data-dir", type=Path, default=Path(".anpr"))
    logins.set_defaults(run="cli.suite.database:logins_command")

    migrate = sub.add_parser("migrate", help="apply migrations and exit")
    migrate.add_argument("services", nargs="*", choices=[[], *NAMES], metavar="SERVICE")
    migrate.add_argument("--data-dir", type=Path, default=Path(".anpr"))
    migrate.set_defaults(run="cli.ops:migrate")

    ret = sub.add_parser("retention", help="drop read partitions older than ANPR_READ_RETENTION_DAYS")
    ret.set_defaults(run="cli.ops:retention")

    dl = sub.add_parser(
        "deadletters",
        help="list or re-drive a service's dead letters (ANPR_DATABASE_URL)",
        description=importlib.import_module("anpr.runtime.deadletters").__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dl.add_argument("action", choices=["list", "redrive"])
    dl.add_argument("service", choices=NAMES)
    dl.add_argument("--topic", help="only this topic (e.g. match, alert); default: every topic")
    dl.set_defaults(run="cli.ops:deadletters")


def _add_administration(sub) -> None:
    cam = sub.add_parser("camera", help="manage the camera registry (token in ANPR_TOKEN)")
    cam.add_argument("action", choices=["add", "list", "disable"])
    cam.add_argument("camera_id", nargs="?")
    cam.add_argument("--name")
    cam.add_argument("--lat", type=float)
    cam.add_argument("--lon", type=float)
    cam.add_argument("--direction", choices=["towards", "away", "unspecified"], default="unspecified")
    cam.add_argument("--force", help="owning force")
    cam.add_argument("--addr", default=_addr("ingest"))
    cam.set_defaults(run="cli.admin:camera")

    hl = sub.add_parser(
        "hotlist",
        help="hotlist administration (token in ANPR_TOKEN)",
        description=_doc("cli.hotlist_csv"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hl.add_argument("action", choices=["import", "list"])
    hl.add_argument("file", nargs="?", type=Path, help="CSV extract (import)")
    hl.add_argument("--list", help="hotlist name (created when missing, with --source)")
    hl.add_argument("--source", choices=["pnc", "local", "other"], help="source of a new hotlist")
    hl.add_argument("--priority", type=int, default=0)
    hl.add_argument("--covert", action="store_true", help="new hotlist is covert (no terminal alerts)")
    hl.add_argument("--exact-only", action="store_true", help="new hotlist matches exact VRMs only")
    hl.add_argument("--skip-bad-rows", action="store_true", help="import the good rows when some are bad")
    hl.add_argument(
        "--allow-empty", action="store_true", help="let a file without entries (a header only) empty the list"
    )
    hl.add_argument("--quiet", action="store_true", help="no progress bar")
    hl.add_argument("--addr", default=_addr("matcher"))
    hl.set_defaults(run="cli.hotlists:command")

    stats = sub.add_parser("stats", help="how alerts were acted on, per hotlist and reason (control room, admins)")
    stats.add_argument("--addr", default=_addr("notify"))
    stats.add_argument("--days", type=float, default=7.0)
    stats.set_defaults(run="cli.admin:stats")


def _add_screens(sub) -> None:
    term = sub.add_parser(
        "terminal",
        help="follow alerts as a unit or control room (token in ANPR_TOKEN)",
        description=_doc("cli.screens.patrol_terminal"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    term.add_argument("--addr", default=_addr("notify"))
    term.add_argument("--unit", help="the unit's call sign (required for a terminal token)")
    term.add_argument("--force", help="the unit's force (a control room: only this force's alerts)")
    term.add_argument("--lat", type=float, help="the unit's position")
    term.add_argument("--lon", type=float)
    term.add_argument("--radius-km", type=float, default=10.0, help="alerts for reads within this distance")
    term.set_defaults(run="cli.screens.patrol_terminal:command")

    tfc = sub.add_parser("tfc", help="the TFC console (token in ANPR_TOKEN)")
    tfc.add_argument("--addr", default=_addr("firearms"))
    tfc.set_defaults(run="cli.screens.tfc_console:command")


def _add_firearms(sub) -> None:
    rota = sub.add_parser(
        "rota",
        help="the firearms duty rota (token in ANPR_TOKEN)",
        description=_doc("cli.rota"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rota.add_argument(
        "action",
        choices=["commander", "add", "import", "list", "on-duty"],
        help="commander: register a person; add: one shift; import: shifts from a CSV;"
        " list: the coming week's shifts; on-duty: who is on duty now (exit 1 if a force has nobody)",
    )
    rota.add_argument("subject", nargs="?", help="commander: the subject of their token")
    rota.add_argument("file", nargs="?", type=Path, help="import: the CSV file")
    rota.add_argument("--name", help="commander: name and rank")
    rota.add_argument("--force")
    rota.add_argument("--contact", help="commander: phone or call sign")
    rota.add_argument(
        "--as-supervisor",
        action="store_true",
        help="commander: may be a shift's supervisor (holds the tfc_supervisor role)",
    )
    rota.add_argument("--area", help="add: the area (default: the whole force)")
    rota.add_argument("--from", dest="starts", help="add: shift start, ISO 8601 with offset")
    rota.add_argument("--to", dest="ends", help="add: shift end, ISO 8601 with offset")
    rota.add_argument("--primary", help="add: the duty commander")
    rota.add_argument("--backups", help="add: backups in order, separated by ;")
    rota.add_argument("--supervisor", help="add: the force supervisor at the end of the chain")
    rota.add_argument("--addr", default=_addr("firearms"))
    rota.set_defaults(run="cli.rota:command")

    ndm = sub.add_parser("ndm", help="the NDM decision log (token in ANPR_TOKEN)")
    ndm.add_argument(
        "action",
        choices=["verify"],
        help="verify: check the log, its checkpoints and the activations' records; exit 1 naming the first"
        " entry a problem affects",
    )
    ndm.add_argument("--addr", default=_addr("firearms"))
    ndm.add_argument(
        "--checkpoints",
        type=Path,
        action="append",
        metavar="FILE",
        help="checkpoints kept outside the database (a checkpoint file, a firearms service log, exported"
        " objects: JSON lines); may repeat",
    )
    ndm.add_argument(
        "--public-key",
        type=Path,
        action="append",
        metavar="FILE",
        help="the log's public key (PEM): only checkpoints it signed are sent; may repeat",
    )
    ndm.set_defaults(run="cli.rota:command")


def _add_token(sub) -> None:
    token = sub.add_parser(
        "token",
        help="a bearer token from the local issuer of `anpr up`",
        description=_doc("cli.tokens"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    token.add_argument("action", choices=["issue"], help="issue: print a new token")
    token.add_argument("--role", required=True, choices=[str(r) for r in _roles()])
    token.add_argument("--subject", help="who it is (default: <your user name>-<role>); the rota names people by it")
    scope = token.add_mutually_exclusive_group()
    scope.add_argument("--force", help="the force or agency of the identity")
    scope.add_argument("--national", action="store_true", help="sees every force (a national control room)")
    token.add_argument("--unit", help="a terminal's unit (call sign)")
    token.add_argument("--covert", action="store_true", help="cleared for covert lists")
    token.add_argument("--ttl", type=float, default=3600.0, help="seconds it is valid (default 3600)")
    token.add_argument("--data-dir", type=Path, default=Path(".anpr"), help="the data directory of `anpr up`")
    token.set_defaults(run="cli.tokens:issue")


def _roles():
    from anpr.runtime.auth import Role

    return list(Role)


def _doc(module: str) -> str | None:
    """A command module's docstring for its --help (None where this install lacks the module)."""
    try:
        return importlib.import_module(module).__doc__
    except ModuleNotFoundError:
        return None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anpr", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    _add_up(sub)
    _add_operations(sub)
    _add_administration(sub)
    _add_screens(sub)
    _add_firearms(sub)
    _add_token(sub)
    return p


def _handler(path: str):
    module, _, function = path.partition(":")
    try:
        return getattr(importlib.import_module(module), function)
    except ModuleNotFoundError as exc:
        if module in IN_IMAGE or not (exc.name or "").startswith(("cli", "tqdm")):
            raise
        raise SystemExit(
            f"this install of anpr has no {module} ({exc.name} is missing): the service image carries"
            " the services' commands only; install the package with its client extra on a"
            " workstation: pip install 'anpr-alerting[client]'"
        ) from None


def main(argv: list[str] | None = None) -> int:
    """Parse, run the command, and turn what stops it into an exit status: the one place that exits."""
    from anpr.runtime.config import ConfigError
    from cli.client import CommandError

    args = build_parser().parse_args(argv)
    try:
        return _handler(args.run)(args)
    except CommandError as exc:
        print(f"anpr {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
