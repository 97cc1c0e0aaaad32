"""An unacknowledged activation walks the duty chain with two firearms processes, while one and then
the other is killed (SIGKILL) mid-walk: every step happens exactly once, in order, with gap-free
sequences, and the log verifies afterwards."""

from __future__ import annotations

import itertools

import pytest

from anpr.v1 import firearms_pb2 as F
from anpr.v1 import types_pb2 as T
from tests.e2e.processes import ProcessSuite
from tests.firearms_support import firearms_hit, raise_hits, set_rota, stub
from tests.support import channel, free_port, next_message

K = T.ActivationEventKind
DEADLINE_S = 1.5


@pytest.fixture
async def replicas(database_url, people, tmp_path):
    suite = ProcessSuite(
        database_url,
        people.tokens,
        collector_port=None,
        log_dir=tmp_path,
        extra_env={"ANPR_ACK_DEADLINE_S": str(DEADLINE_S), "ANPR_ESCALATION_POLL_S": "0.2"},
    )
    suite.ports["firearms-2"] = free_port()
    try:
        suite.start("firearms")
        suite.start_replica("firearms", "firearms-2")
        await suite.wait_serving("firearms")
        await suite.wait_serving("firearms-2")
        yield suite
    finally:
        await suite.stop_all()


async def test_the_chain_is_walked_once_through_replica_crashes(replicas, people):
    await set_rota(replicas.addr("firearms-2"), people, chain=("tfc-a", "tfc-b", "tfc-c"), supervisor="sup-1")
    events: list[T.ActivationEvent] = []
    async with channel(replicas.addr("firearms-2"), people["sup-2"]) as ch:
        view = stub(ch).StreamActivations(F.StreamActivationsRequest(from_start=True))
        await raise_hits(replicas.addr("firearms"), people, [firearms_hit()])
        events += [(await next_message(view, 10)).event for _ in range(2)]  # raised, escalated to tfc-b
        replicas.kill("firearms")
        events.append((await next_message(view, 10)).event)  # escalated to tfc-c, by the survivor
        view.cancel()
    replicas.kill("firearms-2")
    await replicas.restart("firearms")  # nobody running for a while: the deadline waits in the database
    async with channel(replicas.addr("firearms"), people["sup-2"]) as ch:
        view = stub(ch).StreamActivations(F.StreamActivationsRequest(after_sequence=events[-1].sequence))
        events += [(await next_message(view, 20)).event for _ in range(2)]  # to sup-1, then exhausted
        with pytest.raises(TimeoutError):  # and nothing more: no step made twice
            await next_message(view, 3 * DEADLINE_S)
        view.cancel()
        verdict = await stub(ch).VerifyLog(F.VerifyLogRequest())

    assert [(e.kind, e.from_subject, e.to_subject, e.level) for e in events] == [
        (K.ACTIVATION_EVENT_KIND_RAISED, "", "tfc-a", 0),
        (K.ACTIVATION_EVENT_KIND_ESCALATED, "tfc-a", "tfc-b", 1),
        (K.ACTIVATION_EVENT_KIND_ESCALATED, "tfc-b", "tfc-c", 2),
        (K.ACTIVATION_EVENT_KIND_ESCALATED, "tfc-c", "sup-1", 3),
        (K.ACTIVATION_EVENT_KIND_ESCALATION_EXHAUSTED, "sup-1", "", 3),
    ]
    assert [e.sequence for e in events] == [1, 2, 3, 4, 5]
    for before, step in itertools.pairwise(events):
        assert step.deadline_missed == before.due_at  # each step is due at the deadline the one before set
        assert step.at.ToDatetime() >= step.deadline_missed.ToDatetime()
    print(
        "escalation lateness (s):",
        [round((e.at.ToNanoseconds() - e.deadline_missed.ToNanoseconds()) / 1e9, 3) for e in events[1:]],
    )
    assert verdict.ok and verdict.entries_verified == 5
