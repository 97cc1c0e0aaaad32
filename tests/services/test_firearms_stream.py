"""The consoles' activation stream across two firearms replicas on one database: what one replica
commits reaches the consoles of the other; each console sees only what it was told (a supervisor
everything); a console resumes after the last sequence it showed, or starts from now."""

from __future__ import annotations

import asyncio

import pytest

from anpr.runtime.auth import Role
from anpr.v1 import firearms_pb2 as F
from anpr.v1 import types_pb2 as T
from tests.firearms_support import firearms_hit, raise_hits, set_rota, stub
from tests.support import InProcessSuite, channel, eventually, next_message

K = T.ActivationEventKind


@pytest.fixture
async def replicas(database_url, people):
    a, b = InProcessSuite(database_url, people.tokens), InProcessSuite(database_url, people.tokens)
    try:
        await a.start("firearms")
        await b.start("firearms")
        yield a.addr("firearms"), b.addr("firearms")
    finally:
        await b.stop()
        await a.stop()


async def test_a_console_on_one_replica_sees_what_the_other_commits_and_only_its_own(replicas, people):
    a, b = replicas
    await set_rota(a, people, chain=("tfc-a", "tfc-b"), supervisor="sup-1")
    async with (
        channel(b, people["tfc-a"]) as tfc_a,
        channel(b, people["tfc-c"]) as tfc_c,
        channel(a, people["sup-2"]) as sup,
        channel(a, people.tokens[Role.TFC_SUPERVISOR]) as national,
    ):
        a_stream = stub(tfc_a).StreamActivations(F.StreamActivationsRequest(from_start=True))
        c_stream = stub(tfc_c).StreamActivations(F.StreamActivationsRequest(from_start=True))
        sup_stream = stub(sup).StreamActivations(F.StreamActivationsRequest(from_start=True))
        national_stream = stub(national).StreamActivations(F.StreamActivationsRequest(from_start=True))
        [raised] = (await raise_hits(a, people, [firearms_hit()])).activations
        shown = await next_message(a_stream)  # committed on a, streamed from b
        assert (shown.activation.activation_id, shown.event.kind) == (
            raised.activation_id,
            K.ACTIVATION_EVENT_KIND_RAISED,
        )
        assert (await next_message(sup_stream)).event.sequence == shown.event.sequence  # a's own, handed over
        assert (await next_message(national_stream)).event.sequence == shown.event.sequence
        [unassigned] = (await raise_hits(a, people, [firearms_hit(force="Empty Police")])).activations
        seen = await next_message(national_stream)  # a national supervisor sees what nobody was told of
        assert (seen.activation.activation_id, seen.event.kind) == (
            unassigned.activation_id,
            K.ACTIVATION_EVENT_KIND_UNASSIGNED,
        )
        await stub(tfc_a).AcknowledgeActivation(F.AcknowledgeActivationRequest(activation_id=raised.activation_id))
        acked = await next_message(a_stream)
        assert acked.event.kind == K.ACTIVATION_EVENT_KIND_ACKNOWLEDGED  # the unassigned one was skipped
        assert acked.activation.state == T.ACTIVATION_STATE_ACKNOWLEDGED
        # a supervisor of the force sees its own force's activations only
        assert (await next_message(sup_stream)).event.sequence == acked.event.sequence
        with pytest.raises(TimeoutError):
            await next_message(c_stream, 1.0)  # tfc-c was told of nothing
        for s in (a_stream, c_stream, sup_stream, national_stream):
            s.cancel()
        resumed = stub(tfc_a).StreamActivations(F.StreamActivationsRequest(after_sequence=shown.event.sequence))
        assert (await next_message(resumed)).event.sequence == acked.event.sequence
        resumed.cancel()


async def test_a_console_without_a_cursor_starts_from_now(replicas, people):
    a, b = replicas
    await set_rota(a, people, chain=("tfc-a",), supervisor="sup-1")
    await raise_hits(a, people, [firearms_hit()])  # committed before the console connects: never shown
    async with channel(b, people["tfc-a"]) as ch:
        console = stub(ch).StreamActivations(F.StreamActivationsRequest())
        first = asyncio.ensure_future(next_message(console, 30))
        later = []

        async def shown() -> bool:  # raise until the console (started at some point) shows one
            later.extend(a.activation_id for a in (await raise_hits(b, people, [firearms_hit()])).activations)
            return first.done()

        await eventually(shown, seconds=20, interval=0.2)
        console.cancel()
    assert first.result().activation.activation_id in later


async def test_a_console_asking_for_it_is_told_where_the_replay_ends(replicas, people):
    """mark_caught_up: the events committed before the call (on either replica), then one message
    with caught_up and nothing else, then what is committed later; once a call, on a resumed call
    and one from now too. Without it, no such message."""
    a, b = replicas
    await set_rota(a, people, chain=("tfc-a",), supervisor="sup-1")
    before = (await raise_hits(a, people, [firearms_hit(), firearms_hit()])).activations
    await raise_hits(a, people, [firearms_hit(force="Empty Police")])  # not tfc-a's: passed over
    async with channel(b, people["tfc-a"]) as ch:
        marked = stub(ch).StreamActivations(F.StreamActivationsRequest(from_start=True, mark_caught_up=True))
        plain = stub(ch).StreamActivations(F.StreamActivationsRequest(from_start=True))
        replayed = [await next_message(marked) for _ in before]
        assert [m.activation.activation_id for m in replayed] == [x.activation_id for x in before]
        assert not any(m.caught_up for m in replayed)
        marker = await next_message(marked)
        assert marker.caught_up and not marker.HasField("activation") and not marker.HasField("event")
        [after] = (await raise_hits(a, people, [firearms_hit()])).activations
        live = await next_message(marked)
        assert (live.activation.activation_id, live.caught_up) == (after.activation_id, False)
        unmarked = [await next_message(plain) for _ in range(3)]
        assert [m.activation.activation_id for m in unmarked] == [x.activation_id for x in [*before, after]]
        assert not any(m.caught_up for m in unmarked)
        resumed = stub(ch).StreamActivations(
            F.StreamActivationsRequest(after_sequence=replayed[0].event.sequence, mark_caught_up=True)
        )
        assert (await next_message(resumed)).activation.activation_id == before[1].activation_id
        assert (await next_message(resumed)).activation.activation_id == after.activation_id
        assert (await next_message(resumed)).caught_up
        from_now = stub(ch).StreamActivations(F.StreamActivationsRequest(mark_caught_up=True))
        assert (await next_message(from_now)).caught_up
        for s in (marked, plain, resumed, from_now):
            s.cancel()
