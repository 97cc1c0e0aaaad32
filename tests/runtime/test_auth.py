"""Bearer tokens (anpr.runtime.auth): only their hashes are stored."""

from __future__ import annotations

from anpr.runtime.auth import Caller, Role, TokenRegistry, hash_token


def test_token_registry_round_trip_stores_hashes_only(tmp_path):
    path = tmp_path / "tokens.json"
    TokenRegistry.write_file(path, [("s3cret-token", Role.CAMERA, "cam-vendor-1")])
    assert "s3cret-token" not in path.read_text() and hash_token("s3cret-token") in path.read_text()
    reg = TokenRegistry.from_file(path)
    assert reg.authenticate([("authorization", "Bearer s3cret-token")]) == Caller(Role.CAMERA, "cam-vendor-1")
    assert reg.authenticate([("authorization", "Bearer wrong")]) is None
    assert reg.authenticate([]) is None
