"""How a client command finds the suite `anpr up` runs (its data dir's suite.json), and the local CA
kept across restarts of one data dir (clients that trust it go on working)."""

from __future__ import annotations

import json
from argparse import Namespace

import pytest

from anpr.runtime.auth import Role
from anpr.runtime.tls import kept_local_ca
from cli.client import CommandError, SuiteFile, target_of


@pytest.fixture
def no_settings(monkeypatch):
    for name in ("ANPR_TOKEN", "ANPR_TLS_CA_FILE", "ANPR_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_a_command_takes_address_ca_and_token_from_the_suite_file(tmp_path, no_settings):
    SuiteFile(
        addresses={"ingest": "127.0.0.1:6001"}, ca_file=str(tmp_path / "ca.crt"), tokens={"camera_admin": "t-admin"}
    ).write(tmp_path)
    found = target_of(Namespace(addr=None, data_dir=tmp_path), "ingest", Role.CAMERA_ADMIN)
    assert (found.address, found.token, str(found.tls.ca_file)) == (
        "127.0.0.1:6001",
        "t-admin",
        str(tmp_path / "ca.crt"),
    )
    assert (tmp_path / "suite.json").stat().st_mode & 0o777 == 0o600  # it holds tokens
    # what a suite does not have is absent, as docs/commands.md says (no embedded database: no
    # database_url), not null
    assert set(json.loads((tmp_path / "suite.json").read_text())) == {"addresses", "ca_file", "tokens"}


def test_the_command_line_and_the_environment_come_before_the_suite_file(tmp_path, no_settings):
    SuiteFile(addresses={"ingest": "127.0.0.1:6001"}, ca_file="/x/ca.crt", tokens={"camera_admin": "t"}).write(tmp_path)
    no_settings.setenv("ANPR_TOKEN", "mine")
    no_settings.setenv("ANPR_TLS_CA_FILE", "/y/ca.crt")
    no_settings.setenv("ANPR_DATA_DIR", str(tmp_path))
    found = target_of(Namespace(addr="10.0.0.1:443", data_dir=None), "ingest", Role.CAMERA_ADMIN)
    assert (found.address, found.token, str(found.tls.ca_file)) == ("10.0.0.1:443", "mine", "/y/ca.crt")


def test_without_a_suite_the_defaults_and_a_missing_token_is_named(tmp_path, no_settings):
    with pytest.raises(CommandError, match="ANPR_TOKEN is not set"):
        target_of(Namespace(addr=None, data_dir=tmp_path), "notify", Role.TERMINAL)
    no_settings.setenv("ANPR_TOKEN", "mine")
    found = target_of(Namespace(addr=None, data_dir=tmp_path), "notify", Role.TERMINAL)
    assert (found.address, found.tls) == ("127.0.0.1:50053", None)


def test_the_local_ca_is_kept_across_restarts_and_remade_when_unusable(tmp_path):
    first = kept_local_ca(tmp_path).ca_file.read_bytes()
    assert kept_local_ca(tmp_path).ca_file.read_bytes() == first
    assert kept_local_ca(tmp_path, min_days_left=400).ca_file.read_bytes() != first  # expiring: a new one
    second = (tmp_path / "ca.crt").read_bytes()
    (tmp_path / "tls.crt").write_text("damaged")
    assert kept_local_ca(tmp_path).ca_file.read_bytes() not in (first, second)
