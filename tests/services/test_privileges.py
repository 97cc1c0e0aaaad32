"""Every object of every service schema is granted on purpose: on a database the owner migrated
(fresh, or upgraded from the layout before issue 17), each table's privileges for the service's
login are exactly those listed here, every sequence may be used, every function that runs as the
owner (SECURITY DEFINER) is listed and closed to PUBLIC, and
every audit trail refuses UPDATE, DELETE and TRUNCATE by trigger (even to the owner).

A migration that adds a table, sequence or owner's function without granting it fails here, naming
the object: grant it in the migration and list it below (docs/decision-log.md, "Granting a new
migration's objects")."""

from __future__ import annotations

import asyncpg

from anpr.runtime import dbroles, pg
from cli.suite.database import migrate_all
from services import NAMES, spec

HOW = "grant it in its migration and list it in tests/services/test_privileges.py (docs/decision-log.md)"

# What each service's login may do to each table of its schema. "UPDATE(a, b)": those columns only;
# "": nothing (listed so that it is on purpose).
# Append-only tables (evidence, logs, audit trails): SELECT and INSERT alone.
TABLES: dict[str, dict[str, str]] = {
    "ingest": {
        "schema_migrations": "SELECT",
        "reads": "SELECT INSERT",
        "read_images": "SELECT INSERT",
        "read_audit": "SELECT INSERT",
        "cameras": "SELECT INSERT UPDATE",
        "outbox": "SELECT INSERT UPDATE DELETE",
        "outbox_leases": "SELECT INSERT UPDATE DELETE",
        "outbox_members": "SELECT INSERT UPDATE DELETE",
    },
    "matcher": {
        "schema_migrations": "SELECT",
        "entry_audit": "SELECT INSERT",
        "hotlists": "SELECT INSERT UPDATE",
        "entries": "SELECT INSERT UPDATE",
        "hits": "SELECT INSERT UPDATE",
        "alert_windows": "SELECT INSERT UPDATE",
        "outbox": "SELECT INSERT UPDATE DELETE",
        "outbox_leases": "SELECT INSERT UPDATE DELETE",
        "outbox_members": "SELECT INSERT UPDATE DELETE",
        "withheld": "SELECT INSERT",
        "calibration": "SELECT INSERT UPDATE DELETE",
        "calibration_outcomes": "SELECT INSERT UPDATE",
        "calibration_cameras": "SELECT INSERT UPDATE",
        "calibration_state": "SELECT UPDATE",
    },
    "notify": {
        "schema_migrations": "SELECT",
        "alerts": "SELECT INSERT UPDATE(camera_force, listing_force)",
        "alert_acknowledgements": "SELECT INSERT",
        "plate_patch_audit": "SELECT INSERT",
        "alert_sequence": "SELECT UPDATE",
        "hotlist_flags": "SELECT INSERT UPDATE",
        "unit_positions": "SELECT INSERT UPDATE",
        "possible_alerts": "SELECT INSERT",
        "outbox": "SELECT INSERT UPDATE DELETE",
        "outbox_leases": "SELECT INSERT UPDATE DELETE",
        "outbox_members": "SELECT INSERT UPDATE DELETE",
    },
    "firearms": {
        "schema_migrations": "SELECT",
        "event_log": "SELECT INSERT",
        "event_log_head": "SELECT",
        "event_log_seals": "SELECT",
        "log_checkpoints": "SELECT INSERT",
        "activations": "SELECT INSERT UPDATE(acknowledged_at, acknowledged_by, assigned_to, chain, close_requested_by,"
        " close_summary, deadline_at, decision_count, level, outcome, sighting_count, signed_off_at, signed_off_by,"
        " state, told)",
        "activation_sightings": "SELECT INSERT",
        "commanders": "SELECT INSERT UPDATE",
        "shifts": "SELECT INSERT",
        "rota_changes": "SELECT INSERT",
        # the record before the log held it all (0002): kept for the record, the service never reads it
        "legacy_activation_events": "",
        "legacy_ndm_decisions": "",
    },
}

# Audit trails and logs: a trigger refuses UPDATE, DELETE and TRUNCATE to everyone (the owner
# too, until a DBA drops it: then `anpr ndm verify` or the trail's gap tells).
APPEND_ONLY: dict[str, set[str]] = {
    "ingest": {"read_audit"},
    "matcher": {"entry_audit", "withheld"},
    "notify": {"alerts", "alert_acknowledgements", "plate_patch_audit", "possible_alerts"},
    "firearms": {"event_log", "activation_sightings", "log_checkpoints", "rota_changes"},
}

# Append-only tables with columns filled in once, where NULL (a trigger refuses any other change).
FILLED_ONCE = {("notify", "alerts")}

# Functions that run as the owner (SECURITY DEFINER), and whether the service may call them.
OWNERS_FUNCTIONS: dict[str, dict[str, bool]] = {
    "ingest": {"create_day_partition": True, "drop_day_partition": True},
    "matcher": {},
    "notify": {},
    "firearms": {"event_log_extend_head": False, "lock_event_log_head": True},
}

PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


async def granted(conn: asyncpg.Connection, role: str, table: str) -> str:
    """What `role` may do to `table`, in TABLES' notation."""
    out = []
    for p in PRIVILEGES:
        if await conn.fetchval("SELECT has_table_privilege($1, $2::regclass, $3)", role, table, p):
            out.append(p)
        elif p in ("SELECT", "INSERT", "UPDATE", "REFERENCES"):
            columns = await conn.fetch(
                "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped"
                " AND has_column_privilege($2, $1::regclass, attnum, $3) ORDER BY attname",
                table,
                role,
                p,
            )
            if columns:
                out.append(f"{p}({', '.join(c['attname'] for c in columns)})")
    return " ".join(out)


async def tables_of(conn: asyncpg.Connection, schema: str) -> list[str]:
    """The schema's tables (partitioned parents, not their partitions: reached through the parent)."""
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1",
        schema,
    )
    return [r["relname"] for r in rows]


def _normal(spec_text: str) -> str:
    return " ".join(spec_text.replace(", ", ",").split()).replace(",", ", ")


async def table_problems(conn: asyncpg.Connection) -> list[str]:
    """Each table of each service schema whose privileges for the service differ from TABLES'."""
    problems = []
    for name in NAMES:
        schema, role = spec(name).schema, dbroles.service_role(spec(name).schema)
        expected = TABLES[name]
        for table in await tables_of(conn, schema):
            have = await granted(conn, role, f"{schema}.{table}")
            if table not in expected:
                problems.append(f"{schema}.{table}: not listed ({role} has {have or 'nothing'}): {HOW}")
            elif have != _normal(expected[table]):
                problems.append(f"{schema}.{table}: {role} has {have or 'nothing'}, listed {expected[table]}")
        missing = set(expected) - set(await tables_of(conn, schema))
        problems += [f"{schema}.{t}: listed but no such table" for t in sorted(missing)]
    return problems


async def test_every_table_is_granted_to_its_service_exactly_as_listed(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        problems = await table_problems(conn)
        assert not problems, "\n".join(problems)
    finally:
        await conn.close()


# The migrations that split owner from writer (issue 17); a database of the earlier layout (each
# service's role owning its schema, every migration before these applied) is upgraded by them.
SPLIT = {"0004_least_privilege", "0004_owner_writer_seals_checkpoints", "0005_least_privilege"}


async def earlier_layout(admin: asyncpg.Connection) -> None:
    """What the suite made before issue 17: each schema owned by the service's role, which applied
    every migration before SPLIT itself."""
    for name in NAMES:
        schema, migrations = spec(name).schema, spec(name).migrations
        role = dbroles.service_role(schema)
        await admin.execute(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{role}"')
        await admin.execute(f'SET ROLE "{role}"')
        await admin.execute(
            f'CREATE TABLE "{schema}".schema_migrations'
            " (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, sql in pg.migration_files(migrations):
            if version in SPLIT:
                break
            await pg.apply_migration(admin, schema, version, sql)
        await admin.execute("RESET ROLE")


async def test_a_database_of_the_earlier_layout_upgrades_to_the_same_grants(empty_database):
    admin = await asyncpg.connect(empty_database)
    try:
        await earlier_layout(admin)
        schemas = [spec(n).schema for n in NAMES]
        await dbroles.prepare_database(admin, dbroles.database_of(empty_database), schemas)  # as anpr up does
        applied = await migrate_all(empty_database.owner_url)
        assert SPLIT <= {v for versions in applied.values() for v in versions}  # and any later ones
        owners = await admin.fetch(
            "SELECT nspname, nspowner::regrole::text AS o FROM pg_namespace WHERE nspname = ANY($1)", schemas
        )
        problems = await table_problems(admin)
    finally:
        await admin.close()
    assert {r["o"] for r in owners} == {dbroles.OWNER}
    assert not problems, "\n".join(problems)


async def test_every_sequence_may_be_used_by_its_service(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        unusable = []
        for name in NAMES:
            schema, role = spec(name).schema, dbroles.service_role(spec(name).schema)
            rows = await conn.fetch(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = $1 AND c.relkind = 'S'"
                " AND CASE WHEN c.relkind = 'S' THEN NOT has_sequence_privilege($2, c.oid, 'USAGE') END ORDER BY 1",
                schema,
                role,
            )
            unusable += [f"{schema}.{r['relname']}: {role} has no USAGE: {HOW}" for r in rows]
        assert not unusable, "\n".join(unusable)
    finally:
        await conn.close()


async def test_the_owners_functions_are_listed_and_closed_to_public(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        problems = []
        for name in NAMES:
            schema, role = spec(name).schema, dbroles.service_role(spec(name).schema)
            rows = await conn.fetch(
                "SELECT p.proname, has_function_privilege($2, p.oid, 'EXECUTE') AS service,"
                " has_function_privilege('public', p.oid, 'EXECUTE') AS public"
                " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname = $1 AND p.prosecdef ORDER BY 1",
                schema,
                role,
            )
            listed = OWNERS_FUNCTIONS[name]
            for r in rows:
                f = f"{schema}.{r['proname']}"
                if r["proname"] not in listed:
                    problems.append(f"{f}: runs as the owner and is not listed: {HOW}")
                elif r["public"]:
                    problems.append(f"{f}: runs as the owner and PUBLIC may call it (REVOKE ALL ... FROM PUBLIC)")
                elif r["service"] != listed[r["proname"]]:
                    problems.append(f"{f}: {role} may call it: {r['service']}, listed {listed[r['proname']]}")
            problems += [
                f"{schema}.{p}: listed but not an owner's function" for p in set(listed) - {r["proname"] for r in rows}
            ]
        assert not problems, "\n".join(problems)
    finally:
        await conn.close()


async def test_every_audit_trail_refuses_change_by_trigger(database_url):
    # tgtype bits: 4 INSERT, 8 DELETE, 16 UPDATE, 32 TRUNCATE
    conn = await asyncpg.connect(database_url)
    try:
        unguarded = []
        for name in NAMES:
            schema = spec(name).schema
            for table in sorted(APPEND_ONLY[name]):
                guarded = await conn.fetchval(
                    "SELECT coalesce(bit_or(tgtype::int) FILTER (WHERE tgenabled <> 'D'), 0) FROM pg_trigger"
                    " WHERE tgrelid = $1::regclass AND NOT tgisinternal",
                    f"{schema}.{table}",
                )
                lacking = [op for bit, op in ((8, "DELETE"), (16, "UPDATE"), (32, "TRUNCATE")) if not guarded & bit]
                if lacking:
                    unguarded.append(f"{schema}.{table}: no trigger refusing {', '.join(lacking)}")
                if TABLES[name][table] != "SELECT INSERT" and (schema, table) not in FILLED_ONCE:
                    unguarded.append(f"{schema}.{table}: append-only, yet listed {TABLES[name][table]}")
        assert not unguarded, "\n".join(unguarded)
    finally:
        await conn.close()
