"""What a service process does for its calls and its pauses (anpr/runtime/server.py): a relay's call
to another service carries the service's token and the delivery's trace context without client
interceptors, sends a batch's records as one request and refuses an answer for fewer of them, and a
started service has its start-up objects frozen out of the collector's sight."""

from __future__ import annotations

import gc

import grpc
import pytest
from grpc import aio
from opentelemetry.sdk.trace import TracerProvider

from anpr.runtime.failures import Refused
from anpr.runtime.relay import OutboxRecord
from anpr.runtime.server import RelayCall
from tests.support import InProcessSuite


class Peer:
    """A real grpc.aio server whose one method records each call's request and metadata and answers
    with the request reversed."""

    METHOD = "/t.Peer/Take"

    def __init__(self):
        self.requests: list[bytes] = []
        self.metadata: list[dict[str, str]] = []
        self.server = aio.server()
        handler = grpc.unary_unary_rpc_method_handler(self._take, None, None)
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.Peer", {"Take": handler}),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    async def _take(self, request: bytes, context) -> bytes:
        self.requests.append(request)
        self.metadata.append(dict(context.invocation_metadata()))
        return request[::-1]


@pytest.fixture
async def peer():
    p = Peer()
    await p.server.start()
    yield p
    await p.server.stop(None)


async def test_a_relay_call_carries_the_token_and_the_delivery_spans_trace_context(peer):
    tokens = iter(["first", "renewed"])

    async def token() -> str:
        return next(tokens)

    async with aio.insecure_channel(f"127.0.0.1:{peer.port}") as channel:
        call = RelayCall(channel.unary_unary(Peer.METHOD, None, None), token, len, Peer.METHOD)
        tracer = TracerProvider().get_tracer(__name__)
        with tracer.start_as_current_span("anpr.outbox.deliver") as span:
            assert await call.send(b"abc") == b"cba"
            context = span.get_span_context()
        assert await call.send(b"x") == b"x"  # outside any span: no trace context
    first, second = peer.metadata
    assert first["authorization"] == "Bearer first"
    trace_id, span_id = first["traceparent"].split("-")[1:3]
    assert (int(trace_id, 16), int(span_id, 16)) == (context.trace_id, context.span_id)
    assert second["authorization"] == "Bearer renewed"  # the current token at each call
    assert "traceparent" not in second


async def test_a_delivery_is_the_records_in_one_request_and_an_answer_for_fewer_is_refused(peer):
    async def token() -> str:
        return "t"

    def records(*payloads_and_counts):
        return [OutboxRecord(i, b, n, "", 0) for i, (b, n) in enumerate(payloads_and_counts)]

    async with aio.insecure_channel(f"127.0.0.1:{peer.port}") as channel:
        # the answer accounts for as many items as its bytes (the peer echoes the request back)
        deliver = RelayCall(channel.unary_unary(Peer.METHOD, None, None), token, len, Peer.METHOD)
        await deliver(records((b"ab", 2), (b"c", 1)))  # three items, three answered
        with pytest.raises(Refused, match=r"/t.Peer/Take answered for 3 of 4 records"):
            await deliver(records((b"ab", 2), (b"c", 2)))
    assert peer.requests == [b"abc", b"abc"]


async def test_a_started_service_has_frozen_its_start_up_objects(database_url, tokens):
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    suite = InProcessSuite(database_url, tokens)
    try:
        await suite.start("notify")
        assert gc.get_freeze_count() > 10_000  # modules, classes, settings: out of every full collection
    finally:
        await suite.stop()
        gc.unfreeze()
