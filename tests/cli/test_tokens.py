"""The local issuer's keys and address outlive a restart of `anpr up` with the same data directory,
and `anpr token issue` mints tokens the services verify (anpr.runtime.identity)."""

from __future__ import annotations

from anpr.runtime.auth import Caller, Role
from anpr.runtime.claims import ClaimMap
from anpr.runtime.identity import Endpoints, IssuerSettings, KeySet, Verifier
from cli.main import main
from cli.suite.launcher import Tokens, free_port


def verifier(url: str) -> Verifier:
    s = IssuerSettings(issuer=url)
    return Verifier(s, KeySet(s, Endpoints(s)), ClaimMap())


DEMO = {Role.TERMINAL: {"force": "Demo Police", "unit": "ALPHA-1"}}


async def test_the_issuer_keeps_its_key_and_address_across_restarts(tmp_path):
    path = tmp_path / "issuer.json"
    first = Tokens.create(path, port=free_port(), claims=DEMO)
    url, kid, token = first.issuer.url, first.issuer.kid, first[Role.TERMINAL]
    first.close()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    second = Tokens.create(path, claims=DEMO)  # the port of the last run, the same key
    try:
        assert (second.issuer.url, second.issuer.kid) == (url, kid)
        assert await verifier(url).caller(token) == Caller(
            Role.TERMINAL, "anpr-terminal", force="Demo Police", unit="ALPHA-1"
        )
    finally:
        second.close()


async def test_anpr_token_issue_mints_what_the_services_accept(tmp_path, capsys, monkeypatch):
    tokens = Tokens.create(tmp_path / "issuer.json")
    try:
        argv = [
            "token",
            "issue",
            "--role",
            "terminal",
            "--force",
            "Force B",
            "--unit",
            "B-7",
            "--data-dir",
            str(tmp_path),
        ]
        assert main([*argv, "--subject", "pc-77", "--covert"]) == 0
        token = capsys.readouterr().out.strip()
        caller = await verifier(tokens.issuer.url).caller(token)
        assert caller == Caller(Role.TERMINAL, "pc-77", force="Force B", unit="B-7", covert=True)
        assert main(["token", "issue", "--role", "control_room", "--data-dir", str(tmp_path)]) == 2
        assert "force or the national scope" in capsys.readouterr().err
        assert main(["token", "issue", "--role", "tfc", "--data-dir", str(tmp_path / "nowhere")]) == 2
        assert "no local issuer" in capsys.readouterr().err
        monkeypatch.setenv("ANPR_DATA_DIR", str(tmp_path))  # as every command: the data dir from the environment
        assert main(["token", "issue", "--role", "tfc", "--force", "Force B"]) == 0
        caller = await verifier(tokens.issuer.url).caller(capsys.readouterr().out.strip())
        assert (caller.role, caller.force) == (Role.TFC, "Force B")
    finally:
        tokens.close()
