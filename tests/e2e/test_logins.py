"""No process of a launched suite holds a superuser's or the owner's connection: PostgreSQL's own
view of who is connected (pg_stat_activity with pg_roles) shows each service as its own login role."""

from __future__ import annotations

import asyncpg

from anpr.runtime.dbroles import OWNER

SERVICES = ("ingest", "matcher", "notify", "firearms")
CONNECTED = """
    SELECT a.application_name, a.usename, r.rolsuper, pg_has_role(a.usename, 'anpr_owner', 'MEMBER') AS as_owner
    FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid
    WHERE a.backend_type = 'client backend' AND a.datname = current_database() AND a.pid <> pg_backend_pid()"""


async def test_every_service_connection_is_its_own_login_role(processes, database_url):
    admin = await asyncpg.connect(database_url)
    try:
        rows = await admin.fetch(CONNECTED)
    finally:
        await admin.close()
    assert {r["application_name"] for r in rows} == {f"anpr-{s}" for s in SERVICES}
    for r in rows:
        assert r["usename"] == "anpr_" + r["application_name"].removeprefix("anpr-"), dict(r)
        assert not r["rolsuper"] and not r["as_owner"] and r["usename"] != OWNER, dict(r)
