"""Who connects to PostgreSQL as whom.

- The **owner** runs the migrations (`anpr migrate`) and owns every schema and object. No service
  process ever holds it. `anpr up` and the tests create it as `anpr_owner`; on Kubernetes it is the
  database's owner that CloudNativePG creates (the migration Job's Secret).
- Each service logs in as **its own role**, `anpr_<schema>` (LOGIN, no superuser, no CREATEROLE, no
  CREATEDB, owning nothing): it holds only what its migrations grant it (USAGE on its schema; SELECT
  and INSERT alone on the append-only tables). A service refuses to start with a login that is a
  superuser or that owns (or may act as the owner of) its schema.
- An **administrator** (a superuser, or the DBA) creates these roles once. `bootstrap` does it for
  the embedded database and the tests, with generated passwords kept in a directory (0700, files
  0600): `<data dir>/secrets` for `anpr up`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

OWNER = "anpr_owner"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class LoginRefused(Exception):
    """The process's PostgreSQL login may not run a service (a superuser, or the owner); or a role
    the migrations need is missing. The text says what to change."""


def service_role(schema: str) -> str:
    """The role a service logs in as (or a member of which it logs in as): anpr_<schema>."""
    return f"anpr_{schema}"


def with_login(url: str, user: str, password: str | None, database: str | None = None) -> str:
    """`url` with its user and password (and, if given, database) replaced."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    login = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    path = f"/{database}" if database is not None else parts.path
    return urlunsplit(parts._replace(netloc=f"{login}@{host}", path=path))


def with_database(url: str, database: str) -> str:
    """`url` naming another database of the same server (the same login)."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


@dataclass(frozen=True)
class Logins:
    """The owner's and the services' logins to one database (the URL of any login to it, whose
    user and password are replaced)."""

    url: str
    passwords: Mapping[str, str] = field(default_factory=dict)

    def as_role(self, role: str) -> str:
        if role not in self.passwords:
            raise LoginRefused(f"no login for role {role}: run `anpr migrate` (or `anpr up`) first")
        return with_login(self.url, role, self.passwords[role])

    @property
    def owner_url(self) -> str:
        return self.as_role(OWNER)

    def service_url(self, schema: str) -> str:
        return self.as_role(service_role(schema))

    def database(self, name: str) -> Logins:
        """The same logins to another database of the same server."""
        return Logins(with_database(self.url, name), self.passwords)

    @classmethod
    def load(cls, directory: Path, url: str) -> Logins:
        """The logins whose passwords `bootstrap` kept in `directory` (`<role>.password`)."""
        files = sorted(directory.glob("*.password")) if directory.is_dir() else []
        return cls(url, {p.stem: p.read_text().strip() for p in files})


def ensure_password(directory: Path, role: str) -> str:
    """The role's password kept in `directory`, made (and kept) on first use."""
    path = directory / f"{role}.password"
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(24)
    path.touch(mode=0o600)
    path.write_text(password + "\n")
    return password


def secrets_dir(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    return directory


async def bootstrap(admin_url: str, directory: Path, schemas: Iterable[str]) -> Logins:
    """As an administrator (a superuser): create the owner and a login role per service (or give
    them back their kept passwords), let the owner create schemas in the admin URL's database, and
    take over what the earlier layout (each service owning its schema) left. Idempotent."""
    directory = secrets_dir(directory)
    roles = [OWNER, *(service_role(s) for s in schemas)]
    passwords = {role: ensure_password(directory, role) for role in roles}
    conn = await asyncpg.connect(admin_url)
    try:
        for role in roles:
            await _ensure_login(conn, role, passwords[role])
        await prepare_database(conn, database_of(admin_url), schemas)
    finally:
        await conn.close()
    return Logins(admin_url, passwords)


async def _ensure_login(conn: asyncpg.Connection, role: str, password: str) -> None:
    if not _NAME.match(role):
        raise ValueError(f"not a plain role name: {role!r}")
    attributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
    exists = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role)
    verb = "ALTER" if exists else "CREATE"
    # A password cannot be a bind parameter of CREATE/ALTER ROLE: quote it as a literal.
    literal = await conn.fetchval("SELECT quote_literal($1)", password)
    await conn.execute(f'{verb} ROLE "{role}" {attributes} PASSWORD {literal}')


async def prepare_database(conn: asyncpg.Connection, database: str, schemas: Iterable[str]) -> None:
    """As an administrator, in `database`: the owner may create schemas there, and the schemas a
    service role owned before (the earlier layout) and their objects become the owner's."""
    await conn.execute(f'GRANT CREATE ON DATABASE "{database}" TO "{OWNER}"')
    if await conn.fetchval("SELECT current_database()") != database:
        return
    for schema in schemas:
        role = service_role(schema)
        owned = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1 AND nspowner = $2::regrole)", schema, role
        )
        if owned:
            await conn.execute(f'REASSIGN OWNED BY "{role}" TO "{OWNER}"')


# --- what a service checks of its own login at start ---------------------------------------------


async def check_service_login(conn: asyncpg.Connection, schema: str) -> None:
    """Refuse (LoginRefused) a login that is a superuser, or that owns the schema or may act as
    its owner: a service works with only the privileges its migrations grant it."""
    row = await conn.fetchrow(
        "SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolbypassrls,"
        " (SELECT pg_has_role(r.rolname, n.nspowner, 'MEMBER') FROM pg_namespace n WHERE n.nspname = $1) AS owns"
        " FROM pg_roles r WHERE r.rolname = current_user",
        schema,
    )
    problem = (
        "is a superuser"
        if row["rolsuper"]
        else "may create roles"
        if row["rolcreaterole"]
        else "bypasses row security"
        if row["rolbypassrls"]
        else f"owns schema {schema} (or may act as its owner)"
        if row["owns"]
        else ""
    )
    if problem:
        raise LoginRefused(
            f"the database login {row['rolname']} {problem}: a service logs in as its own role"
            f" ({service_role(schema)}), never as a superuser or the owner (docs/decision-log.md)"
        )
