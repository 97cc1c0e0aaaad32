"""The `anpr` command.

    anpr up                 the whole suite with a demo feed (embedded PostgreSQL unless ANPR_DATABASE_URL)
    anpr serve SERVICE      run one service (ingest, matcher, notify, firearms)
    anpr migrate            apply every service's migrations (as the owner) and exit
    anpr db-logins          the DSNs of the embedded database's administrator, owner and service logins
    anpr camera add|list|disable   the camera registry (a camera_admin's token)
    anpr hotlist import FILE --list NAME   replace a hotlist from a CSV extract (a hotlist_admin's token)
    anpr hotlist list       hotlists with their entry counts
    anpr hotlist set --list NAME [--covert|--no-covert] [--priority P] [--exact-only|--no-exact-only]
    anpr retention          create upcoming day partitions of reads and drop expired ones
    anpr deadletters list|redrive SERVICE [--topic T]   records a service set aside
    anpr terminal           follow alerts as an in-car terminal or control room
    anpr stats              how alerts were acted on, per hotlist and reason code
    anpr calibration show|reset CAMERA   what outcomes taught matching about a camera
    anpr tfc                the TFC console: activations live, acknowledge, NDM decisions, close
    anpr rota commander|add|import|list|on-duty   the firearms duty rota (a tfc_supervisor's token to change it)
    anpr ndm verify         check the NDM log against its signed checkpoints, and every activation's record
    anpr token issue --role R [--force F | --national] [--unit U] [--covert]   a token of `anpr up`'s issuer

While `anpr up` runs, the other commands find it (addresses, CA, a demo token for their role) in its
data dir (.anpr, or --data-dir, or ANPR_DATA_DIR); ANPR_TOKEN, ANPR_TLS_CA_FILE and --addr override
each (docs/commands.md). The database commands take ANPR_DATABASE_URL, else the data dir's database.
"""

# This module only parses: each command's code is imported when it runs ("module:function" below),
# so that the service image, which carries the services' commands alone, can still say what it lacks.

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from services import DEFAULT_PORTS, NAMES

# The modules the service image carries (Dockerfile, .dockerignore): the rest are a workstation's.
IN_IMAGE = ("cli.ops",)


def _client_options(parser: argparse.ArgumentParser, service: str) -> None:
    """--addr and --data-dir of a client command (cli.client.target_of: how they combine)."""
    parser.add_argument(
        "--addr",
        metavar="HOST:PORT",
        help=f"{service}'s address (default: from the suite `anpr up` runs in the data dir, else"
        f" 127.0.0.1:{DEFAULT_PORTS[service]})",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="where `anpr up` runs: its suite.json gives addresses, CA and demo tokens (default ANPR_DATA_DIR, else .anpr)",
    )


def _add_up(sub) -> None:
    up = sub.add_parser("up", help="run the whole suite with a demo feed")
    up.add_argument(
        "--data-dir",
        type=Path,
        help="embedded PostgreSQL data, CA, tokens, suite.json and service logs (default ANPR_DATA_DIR, else .anpr)",
    )
    up.add_argument(
        "--base-port",
        type=int,
        default=None,
        help="the services' ports are base to base+3, the issuer's base+9, those between the services base+10"
        " to base+13 (default 50051)",
    )
    up.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    up.add_argument("--interval", type=float, default=2.0, help="seconds between demo camera batches")
    up.set_defaults(run="cli.suite.demo:command")


def _add_operations(sub, doc) -> None:
    serve = sub.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=NAMES, help="the service to run (its settings: ANPR_* variables)")
    serve.set_defaults(run="cli.ops:serve")

    logins = sub.add_parser(
        "db-logins", help="the embedded database's logins (anpr up's): administrator, owner, services"
    )
    logins.add_argument("--data-dir", type=Path, help="where `anpr up` runs (default ANPR_DATA_DIR, else .anpr)")
    logins.set_defaults(run="cli.suite.database:logins_command")

    migrate = sub.add_parser("migrate", help="apply migrations and exit")
    migrate.add_argument(
        "services", nargs="*", choices=[[], *NAMES], metavar="SERVICE", help="these services only (default: all)"
    )
    migrate.add_argument(
        "--data-dir",
        type=Path,
        help="without ANPR_DATABASE_URL: the embedded PostgreSQL of this data dir (default ANPR_DATA_DIR, else .anpr)",
    )
    migrate.set_defaults(run="cli.ops:migrate")

    ret = sub.add_parser("retention", help="drop read partitions older than ANPR_READ_RETENTION_DAYS")
    ret.set_defaults(run="cli.ops:retention")

    dl = sub.add_parser(
        "deadletters",
        help="list or re-drive a service's dead letters (ANPR_DATABASE_URL, else the embedded database)",
        description=doc("anpr.runtime.deadletters"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dl.add_argument("action", choices=["list", "redrive"], help="list them, or re-drive them to their topic")
    dl.add_argument("service", choices=NAMES, help="whose outbox")
    dl.add_argument("--topic", help="only this topic (e.g. match, alert); default: every topic")
    dl.add_argument(
        "--data-dir",
        type=Path,
        help="without ANPR_DATABASE_URL: the embedded PostgreSQL of this data dir, the one `anpr up` runs"
        " (default ANPR_DATA_DIR, else .anpr)",
    )
    dl.set_defaults(run="cli.ops:deadletters")


def _add_administration(sub, doc) -> None:
    cam = sub.add_parser("camera", help="manage the camera registry (token in ANPR_TOKEN)")
    cam.add_argument(
        "action",
        choices=["add", "list", "disable"],
        help="register, or change and enable, a camera (a registered one keeps what no flag changes); list; disable",
    )
    cam.add_argument("camera_id", nargs="?", help="add, disable: the camera's id, as its reads carry it")
    cam.add_argument("--name", help="add: a name people recognise (the site)")
    cam.add_argument("--lat", type=float, help="add: where it stands (required for a new camera), latitude")
    cam.add_argument("--lon", type=float, help="add: where it stands (required for a new camera), longitude")
    cam.add_argument(
        "--direction",
        choices=["towards", "away", "unspecified"],
        help="add: the traffic it faces (a new camera's default: unspecified)",
    )
    cam.add_argument(
        "--force", help="add: the owning force (required for a new camera): its control room and TFC get the alerts"
    )
    _client_options(cam, "ingest")
    cam.set_defaults(run="cli.admin:camera")

    hl = sub.add_parser(
        "hotlist",
        help="hotlist administration (token in ANPR_TOKEN)",
        description=doc("cli.hotlist_csv"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hl.add_argument(
        "action",
        choices=["import", "list", "set"],
        help="replace a list from a file; list the lists; set a list's covert flag, priority or matching",
    )
    hl.add_argument("file", nargs="?", type=Path, help="CSV extract (import)")
    hl.add_argument("--list", help="hotlist name (import: created when missing, with --source)")
    hl.add_argument("--source", choices=["pnc", "local", "other"], help="source of a new hotlist")
    hl.add_argument("--priority", type=int, help="priority of a new hotlist (default 0); set: the list's")
    hl.add_argument(
        "--covert",
        action=argparse.BooleanOptionalAction,
        help="new hotlist is covert (no terminal alerts); set: make the list covert, or not (--no-covert)",
    )
    hl.add_argument(
        "--exact-only",
        action=argparse.BooleanOptionalAction,
        help="new hotlist matches exact VRMs only; set: so, or look-alikes too (--no-exact-only)",
    )
    hl.add_argument("--skip-bad-rows", action="store_true", help="import the good rows when some are bad")
    hl.add_argument(
        "--allow-empty", action="store_true", help="let a file without entries (a header only) empty the list"
    )
    hl.add_argument("--quiet", action="store_true", help="no progress bar")
    _client_options(hl, "matcher")
    hl.set_defaults(run="cli.hotlists:command")

    stats = sub.add_parser("stats", help="how alerts were acted on, per hotlist and reason (control room, admins)")
    _client_options(stats, "notify")
    stats.add_argument(
        "--matcher-addr",
        metavar="HOST:PORT",
        help="matcher, for the POSSIBLE matches withheld for want of support (default: as --addr finds notify)",
    )
    stats.add_argument("--days", type=float, default=7.0, help="the window, in days back from now")
    stats.set_defaults(run="cli.admin:stats")

    cal = sub.add_parser(
        "calibration",
        help="what outcomes taught matching about a camera or list, and resetting it (token in ANPR_TOKEN)",
        description=doc("cli.calibration"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cal.add_argument("action", choices=["show", "reset"], help="show what was learnt, or reset (forget) it")
    cal.add_argument(
        "scope_id", nargs="?", metavar="CAMERA", help="the camera id (with --list: the hotlist's name or id)"
    )
    cal.add_argument("--list", action="store_true", help="a hotlist's calibration instead of a camera's")
    _client_options(cal, "matcher")
    cal.set_defaults(run="cli.calibration:command")


def _add_screens(sub, doc) -> None:
    term = sub.add_parser(
        "terminal",
        help="follow alerts as a unit or control room (token in ANPR_TOKEN)",
        description=doc("cli.screens.patrol_terminal"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _client_options(term, "notify")
    term.add_argument("--unit", help="the unit's call sign (required for a terminal token)")
    term.add_argument("--force", help="the unit's force (a control room: only this force's alerts)")
    term.add_argument("--lat", type=float, help="the unit's position")
    term.add_argument("--lon", type=float, help="the unit's position (with --lat)")
    term.add_argument("--radius-km", type=float, default=10.0, help="alerts for reads within this distance")
    term.set_defaults(run="cli.screens.patrol_terminal:command")

    tfc = sub.add_parser(
        "tfc",
        help="the TFC console (token in ANPR_TOKEN)",
        description=doc("cli.screens.tfc_console", "HELP"),
    )
    _client_options(tfc, "firearms")
    tfc.set_defaults(run="cli.screens.tfc_console:command")


def _add_firearms(sub, doc) -> None:
    rota = sub.add_parser(
        "rota",
        help="the firearms duty rota (token in ANPR_TOKEN)",
        description=doc("cli.rota"),
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
    rota.add_argument("--force", help="commander: home force; add, list: the shift's force")
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
    _client_options(rota, "firearms")
    rota.set_defaults(run="cli.rota:command")

    ndm = sub.add_parser("ndm", help="the NDM decision log (token in ANPR_TOKEN)")
    ndm.add_argument(
        "action",
        choices=["verify"],
        help="verify: check the log, its checkpoints and the activations' records; exit 1 naming the first"
        " entry a problem affects",
    )
    _client_options(ndm, "firearms")
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


def _add_token(sub, doc) -> None:
    token = sub.add_parser(
        "token",
        help="a bearer token from the local issuer of `anpr up`",
        description=doc("cli.tokens"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    token.add_argument("action", choices=["issue"], help="issue: print a new token")
    token.add_argument("--role", required=True, choices=[str(r) for r in _roles()], help="the caller's role")
    token.add_argument("--subject", help="who it is (default: <your user name>-<role>); the rota names people by it")
    scope = token.add_mutually_exclusive_group()
    scope.add_argument("--force", help="the force or agency of the identity")
    scope.add_argument("--national", action="store_true", help="sees every force (a national control room)")
    token.add_argument("--unit", help="a terminal's unit (call sign)")
    token.add_argument("--covert", action="store_true", help="cleared for covert lists")
    token.add_argument("--ttl", type=float, default=3600.0, help="seconds it is valid")
    token.add_argument(
        "--data-dir", type=Path, help="the data directory of `anpr up` (default ANPR_DATA_DIR, else .anpr)"
    )
    token.set_defaults(run="cli.tokens:issue")


def _roles():
    from anpr.runtime.auth import Role

    return list(Role)


def _doc(module: str, *more: str) -> str | None:
    """A command module's docstring (and the texts of `more` of its names) for its --help; None
    where this install lacks the module."""
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError:
        return None
    return "\n\n".join([found.__doc__ or "", *(getattr(found, name) for name in more)])


class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions as written; each option's default shown when it has one."""

    def _get_help_string(self, action):
        if action.default in (None, False, [], argparse.SUPPRESS) or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _no_doc(module: str, *more: str) -> None:
    return None


def _describe(sub) -> None:
    """Every command's --help: its one-line help as the description when it has no longer one, and
    the defaults shown."""
    helps = {a.dest: a.help for a in sub._choices_actions}
    for name, parser in sub.choices.items():
        parser.formatter_class = Formatter
        parser.description = parser.description or (helps.get(name, "") + ".")


def build_parser(docs: bool = True) -> argparse.ArgumentParser:
    """The command line; `docs`: with the commands' long descriptions, read from their modules, which
    imports them (0.15 s a command; only --help shows them)."""
    doc = _doc if docs else _no_doc
    p = argparse.ArgumentParser(prog="anpr", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    _add_up(sub)
    _add_operations(sub, doc)
    _add_administration(sub, doc)
    _add_screens(sub, doc)
    _add_firearms(sub, doc)
    _add_token(sub, doc)
    _describe(sub)
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
            " workstation: pip install 'anpr-alerting[client]' (in a checkout: pip install -e '.[client]')"
        ) from None


def main(argv: list[str] | None = None) -> int:
    """Parse, run the command, and turn what stops it into an exit status: the one place that exits."""
    # gRPC's core logs below ERROR in its own plain-text format on stderr, which is a service's JSON
    # log: a plaintext client knocking on a TLS port wrote "Handshake failed ... WRONG_VERSION_NUMBER"
    # there at INFO. Set before gRPC is first imported (it reads this once); GRPC_VERBOSITY overrides.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    import grpc

    from anpr.runtime.errors import ConfigError
    from cli.client import CommandError, rpc_error

    args = build_parser(docs=bool({"-h", "--help"} & set(sys.argv[1:] if argv is None else argv))).parse_args(argv)
    try:
        return _handler(args.run)(args)
    except (CommandError, grpc.aio.AioRpcError) as exc:  # a refused call: its code and the fields named
        failure = rpc_error(exc) if isinstance(exc, grpc.aio.AioRpcError) else exc
        print(f"anpr {args.command}: {failure}", file=sys.stderr)
        return failure.code
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
