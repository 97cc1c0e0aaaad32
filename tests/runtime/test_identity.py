"""Verified identities (anpr.runtime.identity, anpr.runtime.claims) against a real local issuer
(cli.suite.issuer) serving its discovery document, JWKS and token endpoint over HTTP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from anpr.runtime.auth import Caller, Role
from anpr.runtime.claims import ClaimMap
from anpr.runtime.config import ConfigError, load
from anpr.runtime.errors import PermissionDenied, Unauthenticated, Unavailable
from anpr.runtime.identity import (
    Endpoints,
    IssuerSettings,
    IssuerUnavailable,
    KeySet,
    ServiceCredentials,
    Verifier,
)
from cli.suite.issuer import LocalIssuer
from cli.suite.launcher import free_port
from services.notify.config import NotifySettings
from tests.support import eventually

ROOM = Caller(Role.CONTROL_ROOM, "room-1", force="Force A", covert=True)


@pytest.fixture
def issuer(tmp_path):
    made = LocalIssuer(tmp_path / "issuer.json")
    made.start()
    yield made
    made.stop()


def verifier_for(url: str, **settings) -> tuple[Verifier, KeySet]:
    s = IssuerSettings(issuer=url, **settings)
    keys = KeySet(s, Endpoints(s))
    return Verifier(s, keys, ClaimMap()), keys


async def refused(verifier: Verifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as err:
        await verifier.caller(token)
    return str(err.value)


async def test_a_token_of_the_issuer_is_the_caller_it_names(issuer):
    verifier, _ = verifier_for(issuer.url)
    assert await verifier.caller(issuer.mint(ROOM)) == ROOM
    terminal = Caller(Role.TERMINAL, "pc-4411", force="Force A", unit="ALPHA-1")
    assert await verifier.caller(issuer.mint(terminal)) == terminal


async def test_tokens_that_do_not_verify_are_refused_each_saying_why(issuer, tmp_path):
    verifier, _ = verifier_for(issuer.url, min_refetch_s=0)
    stranger = LocalIssuer(tmp_path / "stranger.json")  # a key this issuer never published
    good = issuer.mint(ROOM)
    head, body, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "national": True}).encode()).rstrip(b"=").decode()
    public_pem = jwt.PyJWK(issuer.jwks()["keys"][0]).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    cases = {
        "expired": (issuer.mint(ROOM, ttl_s=-60), "expired"),
        "not yet valid": (issuer.mint(ROOM, not_before=time.time() + 600), "not valid yet"),
        "another audience": (issuer.mint(ROOM, audience="someone-else"), "another audience"),
        "another issuer": (issuer.mint(ROOM, issuer="http://127.0.0.1:1"), "another issuer"),
        "unknown key": (stranger.mint(ROOM, issuer=issuer.url), "key the issuer does not publish"),
        "tampered": (f"{head}.{forged}.{signature}", "signature does not verify"),
        "unsigned": (jwt.encode(claims, None, algorithm="none", headers={"kid": issuer.kid}), "not allowed"),
        "HS256 keyed with the public key": (hs256(claims, issuer.kid, public_pem), "not allowed"),
        "no key id": (jwt.encode(claims, stranger._signer(stranger.kid), algorithm="RS256"), "names no key"),
        "garbage": ("not-a-jwt", "malformed"),
        "none at all": ("", "missing bearer token"),
    }
    for name, (token, reason) in cases.items():
        assert reason in await refused(verifier, token), name


def hs256(claims: dict, kid: str, secret: bytes) -> str:
    """A token MACed with `secret` (the algorithm-confusion attack: the issuer's public key as the secret)."""

    def part(doc: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{part(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


async def test_the_clock_allowance_is_a_setting(issuer):
    late = issuer.mint(ROOM, ttl_s=-10)
    lenient, _ = verifier_for(issuer.url, leeway_s=30)
    strict, _ = verifier_for(issuer.url, leeway_s=0)
    assert await lenient.caller(late) == ROOM
    assert "expired" in await refused(strict, late)


async def test_a_new_key_is_taken_at_once_and_a_retired_one_refused_without_restart(issuer):
    verifier, keys = verifier_for(issuer.url, min_refetch_s=0)
    old_kid = issuer.kid
    old = issuer.mint(ROOM)
    assert await verifier.caller(old) == ROOM
    issuer.rotate()
    new = issuer.mint(ROOM)
    assert jwt.get_unverified_header(new)["kid"] != old_kid
    assert await verifier.caller(new) == ROOM  # unknown key id: the JWKS is fetched again
    assert await verifier.caller(old) == ROOM  # still published
    issuer.retire(old_kid)
    await keys.refresh()  # what the periodic refresh does every ANPR_OIDC_JWKS_REFRESH_S
    assert "does not publish" in await refused(verifier, old)
    assert await verifier.caller(new) == ROOM


async def test_unknown_key_ids_fetch_the_jwks_at_most_once_per_interval(issuer, tmp_path):
    verifier, keys = verifier_for(issuer.url, min_refetch_s=3600)
    await keys.refresh()
    stranger = LocalIssuer(tmp_path / "stranger.json")
    fetched = keys.fetches
    for _ in range(50):
        await refused(verifier, stranger.mint(ROOM, issuer=issuer.url))
    assert keys.fetches == fetched  # within the interval: none at all
    verifier, keys = verifier_for(issuer.url, min_refetch_s=0)
    await keys.refresh()
    await refused(verifier, stranger.mint(ROOM, issuer=issuer.url))
    assert keys.fetches == 2  # no interval: the unknown key makes it look again


async def test_a_key_published_just_after_a_fetch_works_once_the_interval_is_over(issuer):
    """A token naming a new key moments after a fetch is refused (no second fetch within the
    interval), and the keys are fetched again as soon as the interval allows: no restart, no wait
    for the next periodic refresh."""
    verifier, keys = verifier_for(issuer.url, min_refetch_s=1.0, refresh_s=3600)
    running = asyncio.create_task(keys.run())
    try:
        await eventually(lambda: keys.loaded, seconds=5)
        issuer.rotate()
        new = issuer.mint(ROOM)
        assert "does not publish" in await refused(verifier, new)  # fetched moments ago
        assert keys.fetches == 1
        await eventually(lambda: keys.fetches == 2, seconds=5)  # once the interval is over
        assert await verifier.caller(new) == ROOM
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_an_unreachable_issuer_is_unavailable_until_it_answers(tmp_path):
    port = free_port()
    verifier, keys = verifier_for(f"http://127.0.0.1:{port}", min_refetch_s=0)
    later = LocalIssuer(tmp_path / "issuer.json", port=port)
    token = later.mint(ROOM, issuer=f"http://127.0.0.1:{port}")
    with pytest.raises(Unavailable):
        await verifier.caller(token)
    with pytest.raises(IssuerUnavailable):
        await keys.refresh()
    assert not keys.fresh and not keys.loaded
    later.start()
    try:
        await keys.refresh()
        assert keys.fresh and await verifier.caller(token) == ROOM
        later.stop()
        with pytest.raises(IssuerUnavailable):
            await keys.refresh()
        assert not keys.fresh and await verifier.caller(token) == ROOM  # the last keys stay in use
    finally:
        later.stop()


async def test_a_service_gets_its_own_token_by_client_credentials(issuer):
    secret = issuer.add_client("anpr-services", "svc-matcher")
    s = IssuerSettings(issuer=issuer.url)
    verifier, _ = verifier_for(issuer.url)
    creds = ServiceCredentials(s, Endpoints(s), "anpr-services", secret)
    token = await creds.token()
    assert await creds.token() == token  # kept while fresh
    assert await verifier.caller(token) == Caller(Role.SERVICE, "svc-matcher")
    with pytest.raises(IssuerUnavailable):
        await ServiceCredentials(s, Endpoints(s), "anpr-services", "wrong").token()


KEYCLOAK = {
    "sub": "f3a1",
    "realm_access": {"roles": ["default-roles-anpr", "offline_access", "terminal"]},
    "force": ["Thames Valley Police"],
    "unit": "TV-ALPHA-7",
}
ENTRA = {"sub": "x9", "oid": "5c1d-...", "roles": ["ANPR.ControlRoom", "ANPR.Reader"], "extn.anprForce": "Kent Police"}
ADFS = {
    "upn": "insp.jones@dcp.police.example",
    "role": "tfc",
    "http://schemas.police.uk/claims/force": "Devon and Cornwall Police",
    "http://schemas.police.uk/claims/covert": "true",
}


def test_each_providers_claims_map_onto_the_caller():
    assert ClaimMap(roles="realm_access.roles").caller(KEYCLOAK) == Caller(
        Role.TERMINAL, "f3a1", force="Thames Valley Police", unit="TV-ALPHA-7"
    )
    entra = ClaimMap(subject="oid", force="extn.anprForce", role_prefix="ANPR.")
    assert entra.caller(ENTRA) == Caller(Role.CONTROL_ROOM, "5c1d-...", force="Kent Police")
    adfs = ClaimMap(
        subject="upn,appid",
        roles="role",
        force="http://schemas.police.uk/claims/force",
        covert="http://schemas.police.uk/claims/covert",
    )
    assert adfs.caller(ADFS) == Caller(
        Role.TFC, "insp.jones@dcp.police.example", force="Devon and Cornwall Police", covert=True
    )
    service = {"appid": "3f2c", "role": ["service"]}  # a server application's token: no upn
    assert adfs.caller(service) == Caller(Role.SERVICE, "3f2c")


@pytest.mark.parametrize(
    ("claims", "error", "reason"),
    [
        ({"roles": ["terminal"], "unit": "A1"}, Unauthenticated, "no subject"),
        ({"sub": "a", "roles": ["offline_access"]}, PermissionDenied, "no role of the suite"),
        ({"sub": "a", "roles": ["camera", "terminal"], "unit": "A1"}, PermissionDenied, "more than one role"),
        ({"sub": "a", "roles": ["terminal"], "force": "F"}, PermissionDenied, "must name its unit"),
        ({"sub": "a", "roles": ["control_room"], "covert": True}, PermissionDenied, "force or the national scope"),
        ({"sub": "a", "roles": ["camera"], "force": ["A", "B"]}, PermissionDenied, "force claim"),
        ({"sub": "a", "roles": ["camera"], "force": "x" * 200}, PermissionDenied, "force claim"),
    ],
)
def test_an_identity_the_suite_cannot_serve_is_refused(claims, error, reason):
    with pytest.raises(error, match=reason):
        ClaimMap().caller(claims)


def test_a_supervisor_holding_the_commanders_role_too_is_a_supervisor():
    caller = ClaimMap().caller({"sub": "s", "roles": ["tfc", "tfc_supervisor"], "force": "F", "national": "true"})
    assert caller == Caller(Role.TFC_SUPERVISOR, "s", force="F", national=True)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"oidc_algorithms": "RS256,HS256"}, "ANPR_OIDC_ALGORITHMS"),
        ({"oidc_algorithms": "none"}, "ANPR_OIDC_ALGORITHMS"),
        ({"oidc_issuer": "http://keycloak.anpr.svc/realms/anpr"}, "ANPR_OIDC_ISSUER"),
        ({"oidc_issuer": "http://adfs.example/adfs/services/trust", "oidc_jwks_url": "https://x/keys"}, "ISSUER"),
        ({"oidc_jwks_url": "ftp://127.0.0.1/jwks"}, "ANPR_OIDC_JWKS_URL"),
    ],
)
def test_settings_refuse_symmetric_algorithms_and_plain_http_off_this_machine(settings, named):
    with pytest.raises(ConfigError, match=named):
        load(NotifySettings, **{"oidc_issuer": "https://id.example/realms/anpr", **settings})


def test_an_issuer_that_is_only_compared_may_be_any_identifier():
    """ADFS's access tokens say iss http://<host>/adfs/services/trust: not fetched when both endpoints are given."""
    adfs = "http://adfs.example/adfs/services/trust"
    urls = {
        "oidc_jwks_url": "https://adfs.example/adfs/discovery/keys",
        "oidc_token_url": "https://adfs.example/adfs/oauth2/token",
    }
    assert load(NotifySettings, oidc_issuer=adfs, **urls).oidc_issuer == adfs


async def test_a_remembered_token_is_refused_once_it_expires(issuer):
    """Tokens verified once are remembered (a camera's next call costs a hash): not past their expiry."""
    verifier, _ = verifier_for(issuer.url, leeway_s=0)
    token = issuer.mint(ROOM, ttl_s=2)
    assert await verifier.caller(token) == ROOM
    assert await verifier.caller(token) == ROOM  # remembered

    async def refused_now() -> bool:
        try:
            await verifier.caller(token)
        except Unauthenticated as exc:
            return "expired" in str(exc)
        return False

    assert await eventually(refused_now, seconds=10, interval=0.2)
