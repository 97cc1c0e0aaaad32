"""What a service process does for its calls and its pauses (anpr/runtime/server.py): a relay's call
to another service carries the service's token and the delivery's trace context without client
interceptors, and a started service has its start-up objects frozen out of the collector's sight."""

from __future__ import annotations

import gc

import grpc
from grpc import aio
from opentelemetry.sdk.trace import TracerProvider

from anpr.runtime.server import RelayCall
from tests.support import InProcessSuite


async def test_a_relay_call_carries_the_token_and_the_delivery_spans_trace_context():
    seen: list[dict[str, str]] = []

    async def handler(request: bytes, context) -> bytes:
        seen.append(dict(context.invocation_metadata()))
        return request[::-1]

    server = aio.server()
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "t.Peer", {"Take": grpc.unary_unary_rpc_method_handler(handler, None, None)}
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    tokens = iter(["first", "renewed"])

    async def token() -> str:
        return next(tokens)

    try:
        async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = RelayCall(channel.unary_unary("/t.Peer/Take", None, None), token)
            tracer = TracerProvider().get_tracer(__name__)
            with tracer.start_as_current_span("anpr.outbox.deliver") as span:
                assert await call(b"abc", deadline_s=5) == b"cba"
                context = span.get_span_context()
            assert await call(b"x", deadline_s=5) == b"x"  # outside any span: no trace context
    finally:
        await server.stop(None)
    assert seen[0]["authorization"] == "Bearer first"
    trace_id, span_id = seen[0]["traceparent"].split("-")[1:3]
    assert (int(trace_id, 16), int(span_id, 16)) == (context.trace_id, context.span_id)
    assert seen[1]["authorization"] == "Bearer renewed"  # the current token at each call
    assert "traceparent" not in seen[1]


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
