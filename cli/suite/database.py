"""The database of a suite started on one machine (`anpr up`, the tests, the benchmarks): as its
administrator, make the owner and one login role per service (anpr.runtime.dbroles.bootstrap,
passwords kept in a directory), then apply every service's migrations as the owner. The services
are then started with their own logins (Launcher(logins, ...)): none of them ever holds the owner or
the administrator."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from anpr.runtime import dbroles, pg
from anpr.runtime.dbroles import Logins
from services import NAMES, spec


async def provision(admin_url: str, secrets: Path, names: tuple[str, ...] = NAMES) -> Logins:
    """Roles made (or their kept passwords set again) and migrations applied; the logins."""
    logins = await dbroles.bootstrap(admin_url, secrets, [spec(n).schema for n in NAMES])
    await migrate_all(logins.owner_url, names)
    return logins


async def migrate_all(owner_url: str, names: tuple[str, ...] = NAMES) -> dict[str, list[str]]:
    """Every service's migrations, as the owner of `owner_url`: the versions applied, by service."""
    conn = await asyncpg.connect(owner_url)
    try:
        return {n: await pg.migrate(conn, spec(n).schema, spec(n).migrations) for n in names}
    finally:
        await conn.close()
