"""Every RPC of every service refuses a token that does not verify with UNAUTHENTICATED, and a
verified identity the suite cannot serve with PERMISSION_DENIED, before any handler runs: the
four services in this process, verifying against a real local issuer, called over the whole
contract (benchmarks.fuzzing.every_rpc)."""

from __future__ import annotations

import time
from collections import Counter

import grpc
import pytest
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc

from anpr.runtime.auth import Caller, Role
from anpr.v1 import ingest_pb2, ingest_pb2_grpc, matcher_pb2, matcher_pb2_grpc, notify_pb2, notify_pb2_grpc
from anpr.v1 import types_pb2 as T
from benchmarks.fuzzing import CLIENT_WRITE_AFTER_END, call, every_rpc
from cli.suite.issuer import LocalIssuer
from cli.suite.launcher import Tokens, free_port
from tests.runtime.test_identity import hs256
from tests.support import (
    InProcessSuite,
    channel,
    eventually,
    make_entry,
    make_read,
    next_alert,
    subscribe,
)

ROOM = Caller(Role.CONTROL_ROOM, "room-1", national=True, covert=True)


@pytest.fixture(scope="module")
def issuer_file(tmp_path_factory):
    """An issuer whose first key is retired before the services start (a token of it is refused
    as a retired key's is); the module's tokens are signed by its second."""
    path = tmp_path_factory.mktemp("refusals") / "issuer.json"
    issuer = LocalIssuer(path)
    issuer.start()
    retired = issuer.mint(ROOM)
    issuer.retire(issuer.kid)
    issuer.stop()
    return path, retired


@pytest.fixture(scope="module")
def module_tokens(issuer_file):
    made = Tokens.create(issuer_file[0], prefix="refusals")
    yield made
    made.close()


@pytest.fixture
async def suite(database_url, module_tokens):
    s = InProcessSuite(database_url, module_tokens)
    await s.start_all()
    yield s
    await s.stop()


def bad_tokens(tokens: Tokens, retired: str, tmp_path) -> dict[str, str]:
    issuer = tokens.issuer
    stranger = LocalIssuer(tmp_path / "stranger.json")
    good = tokens[Role.CONTROL_ROOM]
    head, body, signature = good.split(".")
    return {
        "expired": issuer.mint(ROOM, ttl_s=-120),
        "not yet valid": issuer.mint(ROOM, not_before=time.time() + 600),
        "another audience": issuer.mint(ROOM, audience="another-api"),
        "another issuer": issuer.mint(ROOM, issuer="https://idp.example/realms/anpr"),
        "unknown key": stranger.mint(ROOM, issuer=issuer.url),
        "retired key": retired,
        "tampered": f"{head}.{body[:-4]}{'AAAA' if body[-4:] != 'AAAA' else 'BBBB'}.{signature}",
        "bad signature": f"{head}.{body}.{signature[::-1]}",
        "HS256 keyed with the public key": hs256({"sub": "x", "roles": ["service"]}, issuer.kid, b"x"),
        "garbage": "eyJhbGciOiJSUzI1NiJ9.e30.",
        "none": "",
    }


def empty_requests(rpc) -> list:
    return [message_factory.GetMessageClass(rpc.method.input_type)()]


async def statuses(suite: InProcessSuite, token: str) -> Counter:
    """(service, rpc, status) of calling every RPC of the contract with `token`."""
    seen: Counter = Counter()
    for name in ("ingest", "matcher", "notify", "firearms"):
        async with channel(suite.addr(name), token or None) as ch:
            for rpc in (r for r in every_rpc() if r.service == name):
                code, details, _ = await call(ch, rpc, empty_requests(rpc))
                if details == CLIENT_WRITE_AFTER_END and rpc.method.client_streaming:
                    # grpc-python's own INTERNAL (grpc/grpc#36066): the server refused while the
                    # request was still being written; asked again without writing, the refusal arrives
                    code, _, _ = await call(ch, rpc, [])
                seen[code] += 1
    return seen


async def test_tokens_that_do_not_verify_are_unauthenticated_on_every_rpc(suite, module_tokens, issuer_file, tmp_path):
    rpcs = len(every_rpc())
    assert rpcs >= 38
    for kind, token in bad_tokens(module_tokens, issuer_file[1], tmp_path).items():
        assert await statuses(suite, token) == Counter({grpc.StatusCode.UNAUTHENTICATED: rpcs}), kind


async def test_verified_identities_the_suite_cannot_serve_are_denied_on_every_rpc(suite, module_tokens):
    issuer = module_tokens.issuer
    unusable = {
        "no role of the suite": issuer.mint(Caller(Role.CAMERA, "x"), extra={"roles": ["offline_access"]}),
        "two roles": issuer.mint(Caller(Role.CAMERA, "x"), extra={"roles": ["camera", "hotlist_admin"]}),
        "a terminal without a unit": issuer.mint(Caller(Role.TERMINAL, "pc-1", force="F")),
        "a control room without a force": issuer.mint(Caller(Role.CONTROL_ROOM, "room-x", covert=True)),
    }
    rpcs = len(every_rpc())
    for kind, token in unusable.items():
        assert await statuses(suite, token) == Counter({grpc.StatusCode.PERMISSION_DENIED: rpcs}), kind


async def test_the_services_call_each_other_with_tokens_they_fetched_and_verified(suite, module_tokens):
    """A read travels ingest -> matcher -> notify on the services' own client-credentials tokens:
    no service is trusted for being one, even in plaintext."""

    async with channel(suite.addr("matcher"), module_tokens[Role.HOTLIST_ADMIN]) as ch:
        admin = matcher_pb2_grpc.MatcherServiceStub(ch)
        hotlist = T.Hotlist(
            hotlist_id="l", name="L", source=T.HOTLIST_SOURCE_PNC_NATIONAL, match_policy=T.MATCH_POLICY_EXACT
        )
        await admin.UpsertHotlist(matcher_pb2.UpsertHotlistRequest(hotlist=hotlist))
        await admin.UpsertEntry(matcher_pb2.UpsertEntryRequest(entry=make_entry("ID16 AAA", "l")))
    async with channel(suite.addr("notify"), module_tokens[Role.CONTROL_ROOM]) as room:
        stream = subscribe(room, Role.CONTROL_ROOM, from_start=True)
        async with channel(suite.addr("ingest"), module_tokens[Role.CAMERA]) as cam:
            read = make_read("ID16AAA")
            await ingest_pb2_grpc.IngestServiceStub(cam).SubmitRead(ingest_pb2.SubmitReadRequest(read=read))
        assert (await next_alert(stream, 20)).hit.read.read_id == read.read_id
        stream.cancel()


async def stats_status(addr: str, token: str) -> grpc.StatusCode:
    async with channel(addr, token) as ch:
        try:
            await notify_pb2_grpc.NotifyServiceStub(ch).GetAlertStats(notify_pb2.GetAlertStatsRequest(), timeout=10)
        except grpc.aio.AioRpcError as err:
            return err.code()
    return grpc.StatusCode.OK


async def identity_health(addr: str) -> int:
    async with channel(addr) as ch:
        request = health_pb2.HealthCheckRequest(service="anpr.identity")
        return (await health_pb2_grpc.HealthStub(ch).Check(request, timeout=5)).status


async def test_a_new_key_is_taken_and_a_retired_key_refused_without_a_restart(database_url, tmp_path):
    tokens = Tokens.create(tmp_path / "issuer.json", prefix="rotation")
    suite = InProcessSuite(database_url, tokens)
    try:
        await suite.start("notify", oidc_jwks_refresh_s=0.5, oidc_jwks_min_interval_s=0.1)
        addr, old_kid, old = suite.addr("notify"), tokens.issuer.kid, tokens[Role.CONTROL_ROOM]
        assert await stats_status(addr, old) == grpc.StatusCode.OK
        tokens.issuer.rotate()
        new = tokens.mint(ROOM)
        # the unknown key id: fetched at once, or, within 0.1 s of the last fetch, as soon as allowed
        await eventually(lambda: _is(stats_status(addr, new), grpc.StatusCode.OK), seconds=10)
        tokens.issuer.retire(old_kid)
        await eventually(lambda: _is(stats_status(addr, old), grpc.StatusCode.UNAUTHENTICATED), seconds=10)
        assert await stats_status(addr, new) == grpc.StatusCode.OK
    finally:
        await suite.stop()
        tokens.close()


async def _is(status, expected) -> bool:
    return await status == expected


async def test_a_service_starts_without_its_issuer_and_verifies_once_it_answers(database_url, tokens, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    issuer = LocalIssuer(tmp_path / "late.json", port=port)
    token = issuer.mint(ROOM, issuer=url)
    suite = InProcessSuite(database_url, tokens)
    try:
        await suite.start("notify", oidc_issuer=url)  # SERVING: the database is there
        addr = suite.addr("notify")
        assert await identity_health(addr) == health_pb2.HealthCheckResponse.NOT_SERVING
        assert await stats_status(addr, token) == grpc.StatusCode.UNAVAILABLE  # retry: not a refusal
        issuer.start()
        await eventually(lambda: _is(stats_status(addr, token), grpc.StatusCode.OK), seconds=20)
        assert await identity_health(addr) == health_pb2.HealthCheckResponse.SERVING
    finally:
        await suite.stop()
        issuer.stop()
