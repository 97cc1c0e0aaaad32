"""Shared fixtures: one real PostgreSQL for the session (embedded unless ANPR_DATABASE_URL is set:
an administrator's DSN), the owner's and the services' login roles on it, a fresh database per test
(migrated by the owner), tokens for every role, and the services on real ports."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from anpr.runtime import dbroles, pg
from anpr.runtime.dbroles import Logins
from cli.suite.database import provision
from tests.firearms_support import People
from tests.support import IDENTITIES, Database, InProcessSuite, Tokens


@pytest.fixture(scope="session")
def pg_url():
    url = os.environ.get("ANPR_DATABASE_URL")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="anpr-test-pg-") as d:
        server = pg.start_embedded(Path(d), cleanup="delete")
        yield server.get_uri()
        server.cleanup()


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def as_admin(pg_url: str, *statements: str) -> None:
    admin = await asyncpg.connect(pg_url)
    try:
        for statement in statements:
            await admin.execute(statement)
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def logins(pg_url, tmp_path_factory) -> Logins:
    """The owner's and every service's login roles, made once on the session's server (as anpr up
    makes them), and a template database where the owner has applied every migration."""
    template = f"t_template_{uuid.uuid4().hex[:12]}"
    await as_admin(pg_url, f'CREATE DATABASE "{template}"')
    yield await provision(_with_database(pg_url, template), tmp_path_factory.mktemp("secrets"))
    await as_admin(pg_url, f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def new_database(pg_url: str, logins: Logins, data_dir: Path, template: str | None, prefix: str = "t_"):
    """A database of its own (a copy of `template`, or empty), where the owner may create schemas,
    dropped afterwards."""
    name = f"{prefix}{uuid.uuid4().hex[:16]}"
    await as_admin(
        pg_url,
        f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""),
        f'GRANT CREATE ON DATABASE "{name}" TO "{dbroles.OWNER}"',
    )
    try:
        yield Database(_with_database(pg_url, name), logins.database(name), data_dir)
    finally:
        await as_admin(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def database_url(pg_url, logins, tmp_path) -> Database:
    """A database of its own for this test (a copy of the migrated template): its URL as its
    administrator (a DBA) sees it, with the owner's and the services' logins, so that the services
    started on it work with their own roles' privileges."""
    async with new_database(pg_url, logins, tmp_path / "anpr-data", dbroles.database_of(logins.url)) as db:
        yield db


@pytest.fixture
async def empty_database(pg_url, logins, tmp_path) -> Database:
    """A database with nothing migrated yet."""
    async with new_database(pg_url, logins, tmp_path / "anpr-data", None, prefix="t_empty_") as db:
        yield db


@pytest.fixture(scope="session")
def tokens(tmp_path_factory) -> Tokens:
    """A local issuer (cli.suite.issuer) serving for the session, a token of it for every role (the
    default claims) and one per named identity of tests.support.IDENTITIES."""
    made = Tokens.create(tmp_path_factory.mktemp("issuer") / "issuer.json", prefix="test", identities=IDENTITIES)
    yield made
    made.close()


@pytest.fixture
def people(tmp_path) -> People:
    """Tokens for every role plus one per named commander and supervisor (tests.firearms_support)."""
    made = People.create(tmp_path / "issuer.json")
    yield made
    made.tokens.close()


@pytest.fixture
async def firearms(database_url, people):
    """The firearms service in this process, with the `people` tokens (default settings)."""
    s = InProcessSuite(database_url, people.tokens)
    await s.start("firearms")
    yield s
    await s.stop()
