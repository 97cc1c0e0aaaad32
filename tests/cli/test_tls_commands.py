"""Every `anpr` client command speaks TLS when ANPR_TLS_CA_FILE is set (`anpr stats` did not: it
failed against TLS, and sent its token in clear to a plaintext port)."""

from __future__ import annotations

import pytest

from anpr.runtime.auth import Role
from anpr.runtime.tls import make_local_ca
from tests.cli import anpr
from tests.support import InProcessSuite, free_ports

COMMANDS = {  # command -> (service, role)
    ("stats",): ("notify", Role.CONTROL_ROOM),
    ("camera", "list"): ("ingest", Role.CAMERA_ADMIN),
    ("hotlist", "list"): ("matcher", Role.HOTLIST_ADMIN),
    ("rota", "list"): ("firearms", Role.TFC_SUPERVISOR),
    ("ndm", "verify"): ("firearms", Role.TFC_SUPERVISOR),
}


@pytest.fixture
async def tls_suite(database_url, tokens, tmp_path):
    ca = make_local_ca(tmp_path / "ca")
    ports = free_ports(8)
    tls = dict(tls_cert_file=ca.cert_file, tls_key_file=ca.key_file, tls_client_ca_file=ca.ca_file)
    nowhere = "127.0.0.1:9"  # the services this test's commands never reach through
    suite = InProcessSuite(database_url, tokens)
    for i, name in enumerate(("notify", "firearms", "ingest", "matcher")):
        extra = {"matcher_addr": nowhere} if name == "ingest" else {}
        if name == "matcher":
            extra = {"notify_addr": nowhere, "firearms_addr": nowhere, "ingest_addr": nowhere}
        await suite.start(name, cameras=False, grpc_port=ports[i], service_port=ports[4 + i], **tls, **extra)
    yield suite, ca
    await suite.stop()


async def test_every_client_command_speaks_tls_with_the_ca_it_is_given(tls_suite):
    suite, ca = tls_suite
    for command, (service, role) in COMMANDS.items():
        where = ("--addr", suite.addr(service))
        code, out = await anpr(*command, *where, token=suite.tokens[role], tls_ca_file=str(ca.ca_file))
        assert code == 0, (command, out)
        code, out = await anpr(*command, *where, token=suite.tokens[role])  # plaintext to a TLS port
        assert code != 0 and "UNAVAILABLE" in out, (command, out)
