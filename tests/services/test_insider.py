"""Issue 17's insider, tamper by tamper: with the firearms service's own database credentials (its
login role, as the service runs), and with the owner's (who runs the migrations and may disable
every guard). Each tamper is refused by PostgreSQL, or named by `anpr ndm verify` (exit status 1,
the first entry it affects); GetActivation never shows a forgery as the record."""

from __future__ import annotations

import json

import asyncpg
import grpc
import pytest

from anpr.runtime.auth import Role
from anpr.v1 import firearms_pb2 as F
from anpr.v1 import ingest_pb2, ingest_pb2_grpc
from anpr.v1 import types_pb2 as T
from services.firearms import eventlog
from tests.cli import anpr
from tests.firearms_support import decision, firearms_hit, raise_hits, set_rota, stub
from tests.support import InProcessSuite, channel, eventually, make_read

K = T.ActivationEventKind
FORGED = "No threat: the vehicle was sold last year"


@pytest.fixture
async def suite(database_url, people):
    """ingest (for plate patches) and firearms, checkpointing every 0.2 s."""
    s = InProcessSuite(database_url, people.tokens)
    await s.start("ingest", matcher_addr="127.0.0.1:9")
    await s.start(
        "firearms",
        ingest_addr=s.addr("ingest"),
        checkpoint_interval_s=0.2,
    )
    yield s
    await s.stop()


class Record:
    """The activation the tests tamper with, and where its entries are in the log."""

    def __init__(self, activation_id: str, decision_seq: int, viewed_seq: int, last: int):
        self.activation_id, self.decision_seq, self.viewed_seq, self.last = (
            activation_id,
            decision_seq,
            viewed_seq,
            last,
        )


async def build(suite, people) -> Record:
    """Raised, acknowledged, two decisions (the second MONITOR with a rationale), the plate patch
    viewed, a second activation raised, the first closed; every entry covered by a checkpoint."""
    addr = suite.addr("firearms")
    read = make_read("LR68HGW", plate_image=b"\xff\xd8 a plate patch \xff\xd9")
    async with channel(suite.addr("ingest"), people.tokens[Role.CAMERA]) as ch:
        await ingest_pb2_grpc.IngestServiceStub(ch).SubmitReads(iter([ingest_pb2.SubmitReadsRequest(reads=[read])]))
    await set_rota(addr, people, chain=("tfc-a",))
    hit = firearms_hit()
    hit.read.CopyFrom(read)
    hit.read.ClearField("plate_image")
    [raised] = (await raise_hits(addr, people, [hit])).activations
    aid = raised.activation_id
    async with channel(addr, people["tfc-a"]) as ch:
        s = stub(ch)
        await s.AcknowledgeActivation(F.AcknowledgeActivationRequest(activation_id=aid))
        await s.RecordDecision(F.RecordDecisionRequest(decision=decision(aid, information="Two occupants")))
        d = decision(aid, threat_assessment="Threat to life", rationale="Keep watching", outcome=T.NDM_OUTCOME_MONITOR)
        second = (await s.RecordDecision(F.RecordDecisionRequest(decision=d))).decision
        await s.GetActivationPlatePatch(
            F.GetActivationPlatePatchRequest(activation_id=aid, reason="Confirm the plate before a stop")
        )
        await raise_hits(addr, people, [firearms_hit()])
        await s.CloseActivation(
            F.CloseActivationRequest(activation_id=aid, outcome=T.NDM_OUTCOME_MONITOR, summary="Observed, no stop")
        )
        events = (await s.ListActivationEvents(F.ListActivationEventsRequest(activation_id=aid))).events
    decided = next(e.sequence for e in events if e.decision.decision_id == second.decision_id)
    viewed = next(e.sequence for e in events if e.kind == K.ACTIVATION_EVENT_KIND_PLATE_PATCH_VIEWED)
    last = events[-1].sequence
    await eventually(lambda: checkpointed(suite, last))
    return Record(aid, decided, viewed, last)


async def checkpointed(suite, sequence: int) -> bool:
    pool = suite.running["firearms"]._runtime.pool
    return await pool.fetchval("SELECT coalesce(max(sequence), 0) FROM log_checkpoints") >= sequence


@pytest.fixture
async def record(suite, people) -> Record:
    return await build(suite, people)


async def verify(suite, people, *options: str) -> tuple[int, str]:
    """`anpr ndm verify` against the suite, as a supervisor: its exit code and what it printed."""
    return await anpr("ndm", "verify", "--addr", suite.addr("firearms"), *options, token=people["sup-2"])


async def get_activation(suite, people, aid: str) -> T.Activation:
    async with channel(suite.addr("firearms"), people["sup-2"]) as ch:
        return (await stub(ch).GetActivation(F.GetActivationRequest(activation_id=aid))).activation


async def connect(url: str, schema: str = "firearms") -> asyncpg.Connection:
    return await asyncpg.connect(url, server_settings={"search_path": schema})


@pytest.fixture
async def service(database_url):
    """The firearms service's own database credentials (its login role)."""
    conn = await connect(database_url.service_url("firearms"))
    yield conn
    await conn.close()


@pytest.fixture
async def owner(database_url):
    """The owner's credentials: every object is theirs; they may lift any guard first."""
    conn = await connect(database_url.owner_url)
    await conn.execute("GRANT UPDATE, DELETE, TRUNCATE ON event_log, event_log_head, activations TO CURRENT_USER")
    yield conn
    await conn.close()


async def unguarded(owner: asyncpg.Connection, *statements: str, args=()) -> None:
    """As the owner, with every trigger of the log, its head and the activations disabled."""
    tables = ("event_log", "event_log_head", "activations", "event_log_seals", "log_checkpoints")
    async with owner.transaction():
        for t in tables:
            await owner.execute(f"ALTER TABLE {t} DISABLE TRIGGER USER")
        for statement in statements:
            await owner.execute(statement, *args)
        for t in tables:
            await owner.execute(f"ALTER TABLE {t} ENABLE TRIGGER USER")


async def rehash_from(owner: asyncpg.Connection, start: int, rows: list[dict]) -> None:
    """As the owner: entries from `start` on replaced by `rows` renumbered from `start`, each chained
    and hashed again as the log's rules say (the seals copied: the key is not the owner's), and the
    head moved to the new last entry."""
    previous = await owner.fetchval("SELECT hash FROM event_log WHERE sequence = $1", start - 1) or eventlog.GENESIS
    fixed = []
    for i, r in enumerate(rows):
        r = dict(r, sequence=start + i, previous_hash=previous)
        r["hash"] = previous = eventlog.chain_hash(previous, eventlog.canonical_of(r))
        fixed.append(r)
    async with owner.transaction():
        for t in ("event_log", "event_log_head"):
            await owner.execute(f"ALTER TABLE {t} DISABLE TRIGGER USER")
        await owner.execute("DELETE FROM event_log WHERE sequence >= $1", start)
        await owner.executemany(
            f"INSERT INTO event_log ({eventlog.COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            [[r[c.strip()] for c in eventlog.COLUMNS.split(",")] for r in fixed],
        )
        await owner.execute(
            "UPDATE event_log_head SET last_sequence = $1, last_hash = $2", fixed[-1]["sequence"], previous
        )
        for t in ("event_log", "event_log_head"):
            await owner.execute(f"ALTER TABLE {t} ENABLE TRIGGER USER")


async def entries(conn: asyncpg.Connection, start: int = 1) -> list[dict]:
    return [
        dict(r)
        for r in await conn.fetch(
            f"SELECT {eventlog.COLUMNS} FROM event_log WHERE sequence >= $1 ORDER BY sequence", start
        )
    ]


# ---- with the service's credentials ----


async def test_the_service_role_can_neither_grant_itself_back_nor_lift_a_guard(suite, people, record, service):
    refused = [
        "ALTER TABLE event_log DISABLE TRIGGER event_log_no_update_or_delete",
        "DROP TRIGGER event_log_no_update_or_delete ON event_log",
        "DROP TRIGGER event_log_chain ON event_log",
        "SET session_replication_role = replica",
        "SET ROLE anpr_owner",
        "UPDATE event_log SET actor = 'someone else' WHERE sequence = 2",
        "DELETE FROM event_log WHERE sequence = 3",
        "TRUNCATE event_log CASCADE",
        "UPDATE event_log_head SET last_sequence = last_sequence + 1",
        "UPDATE event_log_seals SET sealed_from = 1000",
        "UPDATE activations SET hit = '\\x00'::bytea",
        "DELETE FROM activation_sightings",
        "DELETE FROM log_checkpoints",
        "CREATE TABLE event_log_copy (x int)",
        "ALTER TABLE activations OWNER TO anpr_firearms",
    ]
    for statement in refused:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await service.execute(statement)
    # GRANT by a role that holds no grant option grants nothing (PostgreSQL only warns)
    await service.execute("GRANT UPDATE, DELETE, TRUNCATE ON event_log TO anpr_firearms")
    assert not await service.fetchval(
        "SELECT has_table_privilege('anpr_firearms', 'firearms.event_log', 'UPDATE')"
        " OR has_table_privilege('anpr_firearms', 'firearms.event_log', 'DELETE')"
        " OR has_table_privilege('anpr_firearms', 'firearms.event_log', 'TRUNCATE')"
    )
    await service.execute("RESET ROLE")  # nothing to reset: the login is the service's own role
    assert await service.fetchval("SELECT current_user") == "anpr_firearms"
    code, out = await verify(suite, people)
    assert code == 0 and f"NDM log verifies: {record.last} entries" in out and "2 activation(s) match" in out


async def test_an_append_that_does_not_continue_the_chain_is_refused(suite, people, record, service):
    head = await service.fetchrow("SELECT last_sequence, last_hash FROM event_log_head")
    row = (await entries(service, head["last_sequence"]))[0]
    for sequence, previous, seal in (
        (head["last_sequence"] + 2, head["last_hash"], row["seal"]),  # skips a sequence: the head "moved"
        (head["last_sequence"] + 1, "f" * 64, row["seal"]),  # does not chain to the head
        (head["last_sequence"] + 1, head["last_hash"], None),  # no seal
    ):
        forged = dict(row, sequence=sequence, previous_hash=previous, seal=seal, hash="e" * 64)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="does not continue"):
            await service.execute(
                f"INSERT INTO event_log ({eventlog.COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                *forged.values(),
            )
    assert (await verify(suite, people))[0] == 0


async def test_an_entry_forged_with_the_service_credentials_is_named_and_not_shown(suite, people, record, service):
    """The role may append (the service must): a decision forged to look like the commander's,
    chained and hashed right, has no seal the key made."""
    head = await service.fetchrow("SELECT last_sequence, last_hash FROM event_log_head")
    template = (await entries(service, record.decision_seq))[0]
    payload = json.loads(template["payload"]) | {"rationale": FORGED, "outcome": T.NDM_OUTCOME_NO_FURTHER_ACTION}
    forged = dict(template, sequence=head["last_sequence"] + 1, payload=eventlog.dumps(payload))
    forged["previous_hash"] = head["last_hash"]
    forged["hash"] = eventlog.chain_hash(head["last_hash"], eventlog.canonical_of(forged))
    await service.execute(
        f"INSERT INTO event_log ({eventlog.COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        *forged.values(),
    )
    code, out = await verify(suite, people)
    assert code == 1, out
    assert f"entry {forged['sequence']}: its seal does not verify" in out
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await get_activation(suite, people, record.activation_id)
    assert err.value.code() == grpc.StatusCode.DATA_LOSS and f"log entry {forged['sequence']}" in err.value.details()


async def test_activation_row_edits_are_named_and_get_activation_shows_the_log(suite, people, record, service):
    genuine = await get_activation(suite, people, record.activation_id)
    await service.execute(
        "UPDATE activations SET outcome = $2, close_summary = $3, signed_off_by = 'sup-1', acknowledged_by = 'tfc-c',"
        " state = $4 WHERE activation_id = $1::uuid",
        record.activation_id,
        T.NDM_OUTCOME_NO_FURTHER_ACTION,
        FORGED,
        T.ACTIVATION_STATE_CLOSED,
    )
    shown = await get_activation(suite, people, record.activation_id)
    assert shown == genuine  # folded from the log, not read from the edited row
    code, out = await verify(suite, people)
    assert code == 1, out
    assert f"activation {record.activation_id}: state, acknowledged_by, outcome, close_summary, signed_off_by" in out
    assert f"NDM log does NOT verify: entry {record.last}:" in out


async def test_audit_trails_refuse_changes_to_every_service_role(suite, people, database_url, record):
    trails = {  # schema: (table, its column to change, a row the service may add)
        "ingest": (
            "read_audit",
            "subject",
            "INSERT INTO read_audit (read_id, subject, role, viewer, reason, shown) VALUES ('r', 's', 'r', 'v', 'x', true)",
        ),
        "matcher": (
            "entry_audit",
            "subject",
            "INSERT INTO entry_audit (entry_id, subject, role, reason) VALUES ('e', 's', 'r', 'x')",
        ),
        "notify": (
            "plate_patch_audit",
            "subject",
            "INSERT INTO alerts (sequence, alert_id, hit_id, covert, hit) VALUES (1, gen_random_uuid(), 'h', false, '')",
        ),
        "firearms": ("rota_changes", "actor", None),  # set_rota wrote some
    }
    for schema, (table, column, add) in trails.items():
        conn = await connect(database_url.service_url(schema), schema)
        try:
            if add:
                await conn.execute(add)
            if schema == "notify":
                alert = await conn.fetchval("SELECT alert_id FROM alerts")
                await conn.execute(
                    "INSERT INTO plate_patch_audit (alert_id, subject, role, bytes) VALUES ($1, 's', 'r', 1)", alert
                )
                await conn.execute(
                    "INSERT INTO alert_acknowledgements (alert_id, subject, role, outcome) VALUES ($1, 's', 'r', 1)",
                    alert,
                )
            for statement in (f"DELETE FROM {table}", f"UPDATE {table} SET {column} = 'x'", f"TRUNCATE {table}"):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(statement)
            if schema == "notify":
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute("UPDATE alert_acknowledgements SET outcome = 2")
                await conn.execute("UPDATE alerts SET camera_force = 'Test Police' WHERE camera_force IS NULL")
                for statement in (
                    "UPDATE alerts SET covert = true",
                    "UPDATE alerts SET camera_force = 'Another Police'",  # filled in once only
                    "DELETE FROM alerts",
                    "TRUNCATE alerts CASCADE",
                ):
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # the alert log itself
                        await conn.execute(statement)
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") > 0
        finally:
            await conn.close()
    owner = await connect(database_url.owner_url, "notify")
    try:  # the owner may grant itself DELETE; the trigger still refuses until it is dropped (a DBA's deed)
        await owner.execute("GRANT DELETE ON plate_patch_audit TO CURRENT_USER")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await owner.execute("DELETE FROM plate_patch_audit")
    finally:
        await owner.close()
    changes = await suite.running["firearms"]._runtime.pool.fetch("SELECT actor, kind FROM rota_changes ORDER BY id")
    assert {("test-tfc_supervisor", "commander"), ("test-tfc_supervisor", "shift")} <= {
        (r["actor"], r["kind"]) for r in changes
    }


# ---- with the owner's credentials (every guard can be lifted first) ----


async def test_a_rewritten_decision_rehashed_to_the_head_is_named_at_the_decision(suite, people, record, owner):
    """The issue's forgery: the rationale and the outcome (MONITOR to NO_FURTHER_ACTION) changed, the
    following hashes and the head recomputed."""
    rows = await entries(owner, record.decision_seq)
    payload = json.loads(rows[0]["payload"]) | {"rationale": FORGED, "outcome": T.NDM_OUTCOME_NO_FURTHER_ACTION}
    rows[0]["payload"] = eventlog.dumps(payload)
    await rehash_from(owner, record.decision_seq, rows)
    code, out = await verify(suite, people)
    assert code == 1, out
    assert f"entry {record.decision_seq}: its seal does not verify" in out
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await get_activation(suite, people, record.activation_id)
    assert err.value.code() == grpc.StatusCode.DATA_LOSS


async def test_a_deleted_plate_patch_view_renumbered_and_rehashed_is_named_where_it_was(suite, people, record, owner):
    rows = await entries(owner, record.viewed_seq)
    assert rows[0]["kind"] == K.ACTIVATION_EVENT_KIND_PLATE_PATCH_VIEWED
    await rehash_from(owner, record.viewed_seq, rows[1:])
    code, out = await verify(suite, people)
    assert code == 1, out
    assert f"NDM log does NOT verify: entry {record.viewed_seq}: its seal does not verify" in out


async def test_a_truncation_back_to_an_earlier_checkpoint_is_named(suite, people, record, owner):
    keep = record.viewed_seq - 1
    await unguarded(
        owner,
        "DELETE FROM event_log WHERE sequence > $1",
        "UPDATE event_log_head SET (last_sequence, last_hash) = (SELECT sequence, hash FROM event_log WHERE sequence = $1)",
        "DELETE FROM log_checkpoints WHERE sequence > $1",  # the database's copy, too
        args=(keep,),
    )
    code, out = await verify(suite, people)
    assert code == 1, out
    assert f"NDM log does NOT verify: entry {keep + 1}: entries {keep + 1} to {record.last} are gone" in out


async def test_a_head_moved_without_entries_is_named(suite, people, record, owner):
    await unguarded(owner, "UPDATE event_log_head SET last_sequence = last_sequence + 5, last_hash = repeat('f', 64)")
    code, out = await verify(suite, people)
    assert code == 1 and f"entry {record.last + 1}: the log head records entries after the last one" in out, out


async def test_a_changed_hit_camera_and_place_is_named_and_not_shown(suite, people, record, owner):
    hit = T.Hit.FromString(
        await owner.fetchval("SELECT hit FROM activations WHERE activation_id = $1::uuid", record.activation_id)
    )
    hit.read.camera_id = "CAM-ELSEWHERE"
    hit.read.location.latitude = 53.0
    await owner.execute(
        "UPDATE activations SET hit = $2 WHERE activation_id = $1::uuid", record.activation_id, hit.SerializeToString()
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await get_activation(suite, people, record.activation_id)
    assert err.value.code() == grpc.StatusCode.DATA_LOSS and "stored hit" in err.value.details()
    code, out = await verify(suite, people)
    assert code == 1 and f"activation {record.activation_id}: hit in the activations table differ" in out, out


async def test_moving_where_seals_start_is_named(suite, people, record, owner):
    await unguarded(owner, "UPDATE event_log_seals SET sealed_from = 1000")
    code, out = await verify(suite, people)
    assert code == 1 and "where the seals start is told differently" in out, out


async def test_checkpoints_from_outside_name_a_truncation_the_database_hides(
    suite, people, record, owner, database_url
):
    """The owner removes the last entries and every checkpoint row; the checkpoint file, or the
    service's log stream handed to `anpr ndm verify --checkpoints`, still covers them."""
    keep = record.viewed_seq - 1
    await unguarded(
        owner,
        "DELETE FROM event_log WHERE sequence > $1",
        "UPDATE event_log_head SET (last_sequence, last_hash) = (SELECT sequence, hash FROM event_log WHERE sequence = $1)",
        "DELETE FROM log_checkpoints WHERE sequence > $1 - 1000000",
        args=(keep,),
    )
    published = database_url.data_dir / "firearms-checkpoints.jsonl"
    outside = database_url.data_dir / "outside.jsonl"
    outside.write_text(published.read_text())
    published.write_text("")  # the service's own file gone too: only the copy handed over is left
    code, out = await verify(
        suite, people, "--checkpoints", str(outside), "--public-key", f"{database_url.data_dir}/log-signing-key.pem.pub"
    )
    assert code == 1, out
    assert f"entry {keep + 1}: entries {keep + 1} to {record.last} are gone" in out
