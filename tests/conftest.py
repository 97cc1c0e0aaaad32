"""Shared fixtures: one real PostgreSQL for the session (embedded unless ANPR_DATABASE_URL is set),
a fresh database per test, tokens for every role, and the services on real ports."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from anpr.runtime import pg
from tests.firearms_support import People
from tests.support import IDENTITIES, InProcessSuite, Tokens


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


@pytest.fixture
async def database_url(pg_url):
    """A database of its own for this test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(pg_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield _with_database(pg_url, name)
    admin = await asyncpg.connect(pg_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


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
