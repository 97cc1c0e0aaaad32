"""The services' own commands, the ones the service image runs: `anpr serve`, `anpr migrate`,
`anpr retention` and `anpr deadletters`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg

import services
from anpr.runtime import dbroles, pg
from anpr.runtime import deadletters as dead_letters
from cli.client import CommandError, data_dir

# What connecting to a database raises when it cannot be reached or refuses the login: the socket's
# errors, and PostgreSQL's refusals of a connection (not the errors of what is then run on it).
UNREACHABLE = (
    ConnectionError,
    socket.gaierror,
    TimeoutError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


@contextlib.contextmanager
def reaching_database(url: str):
    """Within it, a database that cannot be reached or refuses the login (connecting to `url`) is
    the command's error: where it is, never the password, and why, instead of a traceback."""
    try:
        yield
    except UNREACHABLE as exc:
        parts = urlsplit(url)
        host = parts.hostname or parse_qs(parts.query).get("host", ["localhost"])[0]
        where = f"{host}{':' + str(parts.port) if parts.port else ''}{parts.path or ''}"
        origin = "ANPR_DATABASE_URL" if os.environ.get("ANPR_DATABASE_URL") else "the embedded database"
        if isinstance(exc, ConnectionError) and exc.errno:
            reason = os.strerror(exc.errno)  # (asyncio's text is "Connect call failed (address)")
        else:
            reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__
        raise CommandError(f"cannot connect to the database ({origin}: {where}): {reason}") from None


def serve(args) -> int:
    return services.serve(args.service)


def migrate(args) -> int:
    """Apply the migrations as the owner: the login of ANPR_DATABASE_URL (the owner's: on Kubernetes
    the migration Job's Secret), else the embedded database of --data-dir, where the owner and the
    services' login roles are made first (passwords kept in <data dir>/secrets)."""

    async def run() -> None:
        url, server = await _owner_url(os.environ.get("ANPR_DATABASE_URL"), data_dir(args.data_dir))
        conn = await _connect(url)
        try:
            for name in args.services or services.NAMES:
                s = services.spec(name)
                applied = await pg.migrate(conn, s.schema, s.migrations)
                print(f"{name}: {'applied ' + ', '.join(applied) if applied else 'up to date'}")
        except pg.MigrationError as exc:
            raise CommandError(f"anpr migrate: {exc}") from None
        finally:
            await conn.close()
            if server is not None:
                server.cleanup()

    asyncio.run(run())
    return 0


async def _connect(url: str, schema: str | None = None) -> asyncpg.Connection:
    """A connection for a command (as a service's login when `schema` is given)."""
    with reaching_database(url):
        return await (pg.connect(url, schema) if schema else asyncpg.connect(url))


async def _owner_url(url: str | None, data_dir: Path) -> tuple[str, pg.Embedded | None]:
    if url:
        return url, None
    server = await asyncio.to_thread(pg.start_embedded, data_dir)
    schemas = [services.spec(n).schema for n in services.NAMES]
    logins = await dbroles.bootstrap(server.get_uri(), data_dir / "secrets", schemas)
    return logins.owner_url, server


def retention(args) -> int:
    from anpr.runtime.config import load
    from services.ingest.config import IngestSettings
    from services.ingest.server import run_retention

    settings = load(
        IngestSettings, matcher_addr="unused", oidc_issuer="http://127.0.0.1/unused", service_client_secret="unused"
    )
    spec = services.spec("ingest")

    async def run() -> None:
        url, server = await asyncio.to_thread(
            pg.service_database_url, settings.database_url, settings.data_dir, spec.schema
        )
        conn = await _connect(url, spec.schema)
        try:
            if pending := await pg.pending_migrations(conn, spec.schema, spec.migrations):
                raise CommandError(
                    f"the ingest schema is behind ({', '.join(pending)} not applied): run `anpr migrate`"
                )
            dropped = await run_retention(conn, settings)
        finally:
            await conn.close()
            if server is not None:
                server.cleanup()
        print(
            f"retention {settings.read_retention_days} days: dropped {len(dropped)} partition(s)"
            + (": " + ", ".join(dropped) if dropped else "")
        )

    asyncio.run(run())
    return 0


def deadletters(args) -> int:
    schema = services.spec(args.service).schema

    async def run() -> None:
        url, directory = os.environ.get("ANPR_DATABASE_URL"), data_dir(args.data_dir)
        if not url and not (directory / "pgdata" / "PG_VERSION").exists():
            raise CommandError(
                f"ANPR_DATABASE_URL is not set and {directory} holds no embedded database (`anpr up` makes one):"
                " the database whose outbox to read"
            )
        url, server = pg.service_database_url(url, directory, schema)
        conn = await _connect(url, schema)
        try:
            known = await dead_letters.topics(conn, schema) if args.topic else set()
            if known and args.topic not in known:
                raise CommandError(
                    f"--topic: {args.service} has no topic {args.topic!r} (its topics: {', '.join(sorted(known))})"
                )
            if args.action == "redrive":
                counts = await dead_letters.redrive(conn, schema, args.topic)
                print(
                    f"{args.service}: re-driven "
                    + (
                        ", ".join(f"{n} to {t}" for t, n in sorted(counts.items()))
                        if counts
                        else "nothing (no dead letters)"
                    )
                )
                return
            found = await dead_letters.list_dead_letters(conn, schema, args.topic)
            print(f"{args.service}: {len(found)} dead letter(s)" + (":" if found else ""))
            for d in found:
                print(f"{d.id}\t{d.topic}\t{d.created_at.isoformat(timespec='seconds')}\ttrace {d.trace_id or '-'}")
        finally:
            await conn.close()
            if server is not None:
                server.cleanup()

    asyncio.run(run())
    return 0
