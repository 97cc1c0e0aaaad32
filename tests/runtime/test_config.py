"""Settings read once at start (anpr.runtime.config): a missing or bad one is named."""

from __future__ import annotations

import pytest

from anpr.runtime.config import ConfigError, load
from services.ingest.config import IngestSettings


def test_missing_setting_fails_at_start_naming_it(monkeypatch, tmp_path):
    monkeypatch.setenv("ANPR_OIDC_ISSUER", "http://127.0.0.1:9")
    monkeypatch.delenv("ANPR_MATCHER_ADDR", raising=False)
    monkeypatch.delenv("ANPR_SERVICE_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("ANPR_GRPC_PORT", "not-a-port")
    with pytest.raises(ConfigError) as err:
        load(IngestSettings)
    text = str(err.value)
    assert "ANPR_MATCHER_ADDR is not set" in text and "ANPR_SERVICE_CLIENT_SECRET is not set" in text
    assert "ANPR_GRPC_PORT" in text
