"""TLS on every port, mutual TLS between services, certificate reload, and the unknown-setting check.

The four services run in this process with certificates from a CA made for the test: a read goes in
over TLS and its alert comes out over TLS, the hops between services using mutual TLS."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from anpr.runtime.auth import Role
from anpr.runtime.config import ConfigError, reject_unknown_variables
from anpr.runtime.tls import ClientTls, make_local_ca
from anpr.v1 import ingest_pb2, ingest_pb2_grpc, matcher_pb2, matcher_pb2_grpc
from anpr.v1 import types_pb2 as T
from services.ingest.config import IngestSettings
from tests.e2e.processes import ROOT
from tests.support import InProcessSuite, channel, free_ports, make_entry, make_read, next_alert, service_url, subscribe

NAMES = ("ingest", "matcher", "notify", "firearms")


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return make_local_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def foreign(tmp_path_factory):
    """A certificate for the same host names, issued by another CA."""
    return make_local_ca(tmp_path_factory.mktemp("foreign"), name="someone else's CA")


@pytest.fixture
async def suite(database_url, tokens, ca):
    s = InProcessSuite(database_url, tokens)
    ports = dict(zip(NAMES, free_ports(8)[:4], strict=True))
    service_ports = dict(zip(NAMES, free_ports(8)[4:], strict=True))
    tls = dict(
        tls_cert_file=ca.cert_file, tls_key_file=ca.key_file, tls_client_ca_file=ca.ca_file, tls_ca_file=ca.ca_file
    )

    def peer(name):
        return f"127.0.0.1:{service_ports[name]}"

    def opts(name):
        return dict(grpc_port=ports[name], service_port=service_ports[name], **tls)

    try:
        await s.start("notify", **opts("notify"))
        await s.start("firearms", **opts("firearms"))
        await s.start(
            "matcher",
            notify_addr=peer("notify"),
            firearms_addr=peer("firearms"),
            ingest_addr=peer("ingest"),
            **opts("matcher"),
        )
        # InProcessSuite.start registers the cameras in plaintext: ingest is started here instead.
        await _start_ingest(s, peer("matcher"), opts("ingest"), ca)
        yield s
    finally:
        await s.stop()


async def _start_ingest(s, matcher_addr, opts, ca) -> None:
    from anpr.runtime.server import RunningService
    from services import spec

    settings = spec("ingest").settings_cls(
        database_url=service_url(s.database_url, "ingest"),
        grpc_host="127.0.0.1",
        shutdown_grace_s=1.0,
        matcher_addr=matcher_addr,
        **s.tokens.service_settings(),
        **opts,
    )
    s.running["ingest"] = RunningService(spec("ingest"), settings)
    await s.running["ingest"].start()
    async with channel(s.addr("ingest"), s.tokens[Role.CAMERA_ADMIN], ClientTls(ca.ca_file)) as ch:
        await ingest_pb2_grpc.IngestServiceStub(ch).UpsertCamera(
            ingest_pb2.UpsertCameraRequest(
                camera=T.Camera(
                    camera_id="CAM-TEST-1",
                    name="Test camera",
                    location=T.GeoPoint(latitude=51.5, longitude=-0.12),
                    direction=T.DIRECTION_TOWARDS,
                    force="Test Police",
                    enabled=True,
                )
            )
        )


def service_addr(suite, name):
    return f"127.0.0.1:{suite.running[name].service_port}"


async def test_a_read_in_over_tls_is_an_alert_out_over_tls(suite, ca):
    client = ClientTls(ca.ca_file)
    async with channel(suite.addr("matcher"), suite.tokens[Role.HOTLIST_ADMIN], client) as ch:
        admin = matcher_pb2_grpc.MatcherServiceStub(ch)
        await admin.UpsertHotlist(
            matcher_pb2.UpsertHotlistRequest(
                hotlist=T.Hotlist(
                    hotlist_id="pnc",
                    name="PNC",
                    source=T.HOTLIST_SOURCE_PNC_NATIONAL,
                    match_policy=T.MATCH_POLICY_EXACT,
                )
            )
        )
        await admin.UpsertEntry(matcher_pb2.UpsertEntryRequest(entry=make_entry("TL51 ABC", "pnc")))
    async with channel(suite.addr("notify"), suite.tokens[Role.CONTROL_ROOM], client) as room:
        stream = subscribe(room, Role.CONTROL_ROOM, from_start=True)
        read = make_read("TL51ABC")
        async with channel(suite.addr("ingest"), suite.tokens[Role.CAMERA], client) as cam:
            resp = await ingest_pb2_grpc.IngestServiceStub(cam).SubmitRead(ingest_pb2.SubmitReadRequest(read=read))
        assert resp.result.status == ingest_pb2.READ_STATUS_STORED
        alert = await next_alert(stream, 20)
        assert alert.hit.read.read_id == read.read_id and alert.hit.entry.vrm == "TL51 ABC"
        stream.cancel()


@pytest.mark.parametrize("name", NAMES)
async def test_plaintext_is_refused_on_every_port(suite, name):
    for addr in (suite.addr(name), service_addr(suite, name)):
        async with aio.insecure_channel(addr) as ch:
            with pytest.raises(aio.AioRpcError) as err:
                await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE, addr


async def test_a_client_certificate_from_another_ca_is_refused(suite, ca, foreign):
    impostor = ClientTls(ca.ca_file, foreign.cert_file, foreign.key_file)
    async with channel(service_addr(suite, "matcher"), suite.tokens[Role.SERVICE], impostor) as ch:
        with pytest.raises(aio.AioRpcError) as err:
            await matcher_pb2_grpc.MatcherServiceStub(ch).MatchReads(matcher_pb2.MatchReadsRequest(), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_no_client_certificate_is_refused_on_the_service_port(suite, ca):
    async with channel(service_addr(suite, "matcher"), suite.tokens[Role.SERVICE], ClientTls(ca.ca_file)) as ch:
        with pytest.raises(aio.AioRpcError) as err:
            await matcher_pb2_grpc.MatcherServiceStub(ch).MatchReads(matcher_pb2.MatchReadsRequest(), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("role", [Role.CAMERA, Role.SERVICE])
async def test_without_a_client_certificate_no_token_can_call_match_reads(suite, ca, role):
    """A camera token (wrong role) and even a leaked service token, over TLS from inside the cluster
    but without the cluster CA's client certificate: both refused."""
    async with channel(suite.addr("matcher"), suite.tokens[role], ClientTls(ca.ca_file)) as ch:
        with pytest.raises(aio.AioRpcError) as err:
            await matcher_pb2_grpc.MatcherServiceStub(ch).MatchReads(matcher_pb2.MatchReadsRequest(), timeout=5)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "127.0.0.1" not in (err.value.details() or "")


async def test_a_camera_token_with_a_cluster_certificate_still_cannot_call_match_reads(suite, ca):
    client = ClientTls(ca.ca_file, ca.cert_file, ca.key_file)
    async with channel(service_addr(suite, "matcher"), suite.tokens[Role.CAMERA], client) as ch:
        with pytest.raises(aio.AioRpcError) as err:
            await matcher_pb2_grpc.MatcherServiceStub(ch).MatchReads(matcher_pb2.MatchReadsRequest(), timeout=5)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_renewed_certificates_are_served_without_a_restart(database_url, tokens, tmp_path):
    old, new = make_local_ca(tmp_path / "old"), make_local_ca(tmp_path / "new", name="renewed CA")
    live = tmp_path / "live"
    live.mkdir()
    for f in ("tls.crt", "tls.key", "ca.crt"):
        shutil.copy(old.ca_file.parent / f, live / f)
    s = InProcessSuite(database_url, tokens)
    try:
        await s.start(
            "notify",
            grpc_port=free_ports(1)[0],
            service_port=0,
            tls_cert_file=live / "tls.crt",
            tls_key_file=live / "tls.key",
            tls_client_ca_file=live / "ca.crt",
        )

        async def check(ca_file) -> int:
            async with channel(s.addr("notify"), tls=ClientTls(ca_file)) as ch:
                resp = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
            return resp.status

        assert await check(old.ca_file) == health_pb2.HealthCheckResponse.SERVING
        for f in ("tls.crt", "tls.key", "ca.crt"):  # what cert-manager does to the mounted Secret
            shutil.copy(new.ca_file.parent / f, live / f)
        assert await check(new.ca_file) == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(aio.AioRpcError):
            await check(old.ca_file)
    finally:
        await s.stop()


async def test_the_health_port_answers_probes_in_plaintext_and_serves_nothing_else(database_url, tokens, ca):
    s = InProcessSuite(database_url, tokens)
    try:
        await s.start(
            "notify",
            grpc_port=free_ports(1)[0],
            service_port=0,
            health_port=0,
            tls_cert_file=ca.cert_file,
            tls_key_file=ca.key_file,
            tls_client_ca_file=ca.ca_file,
        )
        async with aio.insecure_channel(f"127.0.0.1:{s.running['notify'].health_port}") as ch:
            resp = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(aio.AioRpcError) as err:
                await subscribe(ch, Role.CONTROL_ROOM).read()
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await s.stop()


def test_tls_settings_come_together():
    with pytest.raises(ConfigError, match="ANPR_TLS_KEY_FILE, ANPR_TLS_CLIENT_CA_FILE"):
        from anpr.runtime.config import load

        load(
            IngestSettings,
            matcher_addr="x",
            oidc_issuer="http://127.0.0.1/unused",
            service_client_secret="x",
            tls_cert_file="/c.pem",
        )


def test_an_unknown_setting_is_named():
    env = {"ANPR_MATCHER_ADDR": "x", "ANPR_MATCHR_ADDR": "x", "ANPR_TOKEN": "x", "HOME": "/"}
    with pytest.raises(ConfigError, match="ANPR_MATCHR_ADDR, ANPR_TOKEN"):
        reject_unknown_variables(IngestSettings, env)
    reject_unknown_variables(IngestSettings, {"ANPR_MATCHER_ADDR": "x", "ANPR_TLS_CERT_FILE": "x"})


async def test_a_service_refuses_a_misspelt_setting_and_takes_a_siblings():
    """One env file (a ConfigMap) may hold the whole suite's settings; a name no service reads stops
    the service at start, naming it, with exit status 2."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANPR_")}
    env.update(
        ANPR_MATCHER_ADDR="127.0.0.1:9",
        ANPR_SERVICE_CLIENT_SECRET="x",
        ANPR_OIDC_ISSUER="http://idp.example/realms/anpr",
        ANPR_FIREARMS_ADDR="127.0.0.1:9",  # matcher's: accepted
        ANPR_DEDUP_WINDOW_S="5",  # matcher's: accepted
        ANPR_CAMERA_RATE_PER_SEC="5",  # nobody's
    )

    async def serve() -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli", "serve", "ingest", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        return proc.returncode, out.decode()

    code, out = await serve()
    assert code == 2 and "unknown setting(s) ANPR_CAMERA_RATE_PER_SEC" in out
    assert "FIREARMS_ADDR" not in out.split("this service reads")[0] and "Traceback" not in out
    del env["ANPR_CAMERA_RATE_PER_SEC"]
    code, out = await serve()  # now it gets as far as the issuer, which must be https (but on this machine)
    assert code == 2 and "ANPR_OIDC_ISSUER: " in out and "must be an https URL" in out and "Traceback" not in out
