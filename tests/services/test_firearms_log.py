"""The firearms event log is append-only, gap-free and hash-chained: SQL edits, deletions and
reorderings (made by someone able to bypass the guard) are each caught by VerifyLog, naming the
first entry that does not verify. (tests/services/test_insider.py: the insider's tampers, with the
service's credentials and the owner's.)"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from anpr.runtime import pg
from anpr.v1 import firearms_pb2 as F
from anpr.v1 import types_pb2 as T
from services.firearms import eventlog
from tests.firearms_support import REST_OF_THE_NDM, decision, firearms_hit, raise_hits, set_rota, stub
from tests.support import channel


@pytest.fixture
async def sql(database_url):
    """A connection as the firearms service works (its own login role)."""
    conn = await pg.connect(database_url.service_url("firearms"), "firearms")
    yield conn
    await conn.close()


def seals(suite):
    """The running firearms service's seals (its log key): what the service appends with."""
    return suite.running["firearms"]._component.seals


@pytest.fixture
async def dba(database_url):
    """A connection as a database administrator (superuser) who sets out to tamper with the log."""
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "firearms"})
    yield conn
    await conn.close()


async def verify(suite, people) -> F.VerifyLogResponse:
    async with channel(suite.addr("firearms"), people["sup-2"]) as ch:
        return await stub(ch).VerifyLog(F.VerifyLogRequest())


async def six_entries(suite, people) -> None:
    """raised, acknowledged, two decisions, close requested; a second activation raised."""
    addr = suite.addr("firearms")
    await set_rota(addr, people, chain=("tfc-a",))
    [raised] = (await raise_hits(addr, people, [firearms_hit()])).activations
    aid = raised.activation_id
    async with channel(addr, people["tfc-a"]) as ch:
        s = stub(ch)
        await s.AcknowledgeActivation(F.AcknowledgeActivationRequest(activation_id=aid))
        await s.RecordDecision(F.RecordDecisionRequest(decision=decision(aid, information="Two occupants")))
        await s.RecordDecision(
            F.RecordDecisionRequest(
                decision=decision(
                    aid,
                    code_of_ethics="Proportionate",
                    threat_assessment="Threat to life",
                    outcome=T.NDM_OUTCOME_ARMED_DEPLOYMENT,
                    **REST_OF_THE_NDM,
                )
            )
        )
        await s.CloseActivation(
            F.CloseActivationRequest(
                activation_id=aid, outcome=T.NDM_OUTCOME_ARMED_DEPLOYMENT, summary="Detained without injury"
            )
        )
    await raise_hits(addr, people, [firearms_hit()])


async def test_the_database_refuses_to_change_or_remove_log_entries(firearms, people, sql):
    await six_entries(firearms, people)
    for statement in (
        "UPDATE event_log SET actor = 'someone else' WHERE sequence = 2",
        "DELETE FROM event_log WHERE sequence = 3",
        "TRUNCATE event_log CASCADE",
        "UPDATE event_log_head SET last_sequence = 1",
        "DELETE FROM event_log_head",
    ):
        # the service's role has no UPDATE, DELETE or TRUNCATE on the log or its head (and triggers guard them)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match=r"permission denied"):
            await sql.execute(statement)
    assert (await verify(firearms, people)).ok


async def test_edited_deleted_reordered_and_truncated_entries_are_each_caught(firearms, people, dba):
    await six_entries(firearms, people)
    good = await verify(firearms, people)
    assert good.ok and good.entries_verified == 6 and good.head_hash != eventlog.GENESIS
    await dba.execute("SET session_replication_role = replica")  # as a superuser bypassing the guard

    original = await dba.fetchval("SELECT payload FROM event_log WHERE sequence = 4")
    await dba.execute(
        "UPDATE event_log SET payload = replace(payload, 'Threat to life', 'No threat') WHERE sequence = 4"
    )
    edited = await verify(firearms, people)
    assert (edited.ok, edited.first_bad_sequence, edited.entries_verified) == (False, 4, 3)
    assert "edited" in edited.problem
    await dba.execute("UPDATE event_log SET payload = $1 WHERE sequence = 4", original)
    await dba.execute("UPDATE event_log SET actor = 'sup-1' WHERE sequence = 2")
    assert (await verify(firearms, people)).first_bad_sequence == 2
    await dba.execute("UPDATE event_log SET actor = 'tfc-a' WHERE sequence = 2")
    assert (await verify(firearms, people)).ok

    row = await dba.fetchrow("SELECT * FROM event_log WHERE sequence = 3")
    await dba.execute("DELETE FROM event_log WHERE sequence = 3")
    deleted = await verify(firearms, people)
    assert (deleted.ok, deleted.first_bad_sequence) == (False, 3) and "missing" in deleted.problem
    await dba.execute("INSERT INTO event_log VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", *row.values())
    assert (await verify(firearms, people)).ok

    await swap(dba, 2, 5)
    reordered = await verify(firearms, people)
    assert (reordered.ok, reordered.first_bad_sequence) == (False, 2) and "chain" in reordered.problem
    await swap(dba, 2, 5)
    assert (await verify(firearms, people)).ok

    await dba.execute("DELETE FROM event_log WHERE sequence = 6")
    truncated = await verify(firearms, people)
    assert (truncated.ok, truncated.first_bad_sequence) == (False, 6) and "end" in truncated.problem


async def swap(dba, a: int, b: int) -> None:
    async with dba.transaction():
        await dba.execute("UPDATE event_log SET sequence = -1 WHERE sequence = $1", a)
        await dba.execute("UPDATE event_log SET sequence = $1 WHERE sequence = $2", a, b)
        await dba.execute("UPDATE event_log SET sequence = $1 WHERE sequence = -1", b)


async def test_sequences_have_no_hole_after_a_rolled_back_append(firearms, people, sql):
    addr = firearms.addr("firearms")
    await set_rota(addr, people, chain=("tfc-a",))
    [first] = (await raise_hits(addr, people, [firearms_hit()])).activations

    class Abandon(Exception):
        pass

    with pytest.raises(Abandon):  # as a crash or a failed statement would end a transaction
        async with sql.transaction():
            entry = eventlog.Entry(uuid.UUID(first.activation_id), 5, "x", ("x",), {})
            await eventlog.append(sql, [entry], await eventlog.now(sql), seals(firearms).keyring)
            raise Abandon
    await raise_hits(addr, people, [firearms_hit()])
    assert [r["sequence"] for r in await sql.fetch("SELECT sequence FROM event_log ORDER BY sequence")] == [1, 2]
    assert (await verify(firearms, people)).ok


async def test_concurrent_escalators_never_act_on_one_activation_twice(firearms, people, database_url):
    """Four escalators (and the service's own) sweep the same due deadlines at once: each activation
    escalates exactly once."""
    from datetime import timedelta

    from services.firearms import store

    addr = firearms.addr("firearms")
    await set_rota(addr, people, chain=("tfc-a", "tfc-b"))
    await raise_hits(addr, people, [firearms_hit() for _ in range(60)])
    timing = store.Timing(timedelta(seconds=60), timedelta(seconds=5), timedelta(hours=2))
    conns = [await pg.connect(database_url.service_url("firearms"), "firearms") for _ in range(4)]
    try:
        await conns[0].execute("UPDATE activations SET deadline_at = now() - interval '1 second'")

        async def sweep(conn):
            async with conn.transaction():
                return await store.sweep(conn, timing, seals(firearms), limit=25)

        rounds = [await asyncio.gather(*(sweep(c) for c in conns)) for _ in range(3)]
        kinds = await conns[0].fetch(
            "SELECT activation_id, count(*) AS n FROM event_log WHERE kind = $1 GROUP BY activation_id",
            T.ACTIVATION_EVENT_KIND_ESCALATED,
        )
    finally:
        for c in conns:
            await c.close()
    steps = [s for r in rounds for per_conn in r for s in per_conn]
    assert len(steps) == len({s.activation_id for s in steps}) > 0
    assert len(kinds) == 60 and all(r["n"] == 1 for r in kinds)
    assert (await verify(firearms, people)).ok
