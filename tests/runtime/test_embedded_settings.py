"""The embedded PostgreSQL's settings for bulk writes (anpr.runtime.pg.EMBEDDED_SETTINGS): applied
when its data directory is made, and to a data directory made before them at its next start."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import asyncpg

from anpr.runtime import pg
from tests.support import eventually


async def _shown(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url)
    try:
        return {name: await conn.fetchval(f"SHOW {name}") for name in pg.EMBEDDED_SETTINGS}
    finally:
        await conn.close()


async def test_the_embedded_server_runs_with_its_settings_and_an_older_data_directory_gets_them():
    with tempfile.TemporaryDirectory(prefix="anpr-test-settings-") as d:
        server = await asyncio.to_thread(pg.start_embedded, Path(d), cleanup="delete")
        try:
            url = server.get_uri()
            assert await _shown(url) == {"max_wal_size": "2GB", "wal_init_zero": "off"}

            # a data directory as one made before the settings were: PostgreSQL's defaults
            conn = await asyncpg.connect(url)
            try:
                for name in pg.EMBEDDED_SETTINGS:
                    await conn.execute(f"ALTER SYSTEM RESET {name}")
                await conn.execute("SELECT pg_reload_conf()")
            finally:
                await conn.close()
            await eventually(lambda: _defaults(url))

            await asyncio.to_thread(pg.start_embedded, Path(d), cleanup="delete")  # its next start
            assert await eventually(lambda: _applied(url))
        finally:
            server.cleanup()


async def _defaults(url: str) -> bool:
    return await _shown(url) == {"max_wal_size": "1GB", "wal_init_zero": "on"}


async def _applied(url: str) -> bool:
    return await _shown(url) == {"max_wal_size": "2GB", "wal_init_zero": "off"}
