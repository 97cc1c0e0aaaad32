"""Verified identities: OIDC access tokens (JWT) checked against the issuer's published keys, and
this service's own identity towards the others (OAuth 2 client credentials). docs/identity.md.

Every call of every service (`anpr.runtime.auth.AuthInterceptor`) presents `authorization: Bearer
<JWT>`; `Verifier.caller` accepts it only when

- it is signed with an asymmetric algorithm of ANPR_OIDC_ALGORITHMS (never `none` or HS*) by the
  key of the issuer's JWKS that its `kid` names (PyJWT does the cryptography);
- `iss` is ANPR_OIDC_ISSUER, `aud` holds ANPR_OIDC_AUDIENCE, `exp` has not passed and `nbf`/`iat`
  have, each with ANPR_OIDC_LEEWAY_S of allowance for clocks;
- its claims name a caller the suite can serve (anpr.runtime.claims).

Keys (`KeySet`): the JWKS (ANPR_OIDC_JWKS_URL, else the `jwks_uri` of the issuer's discovery
document) is fetched at start and every ANPR_OIDC_JWKS_REFRESH_S, so that a key the issuer retired
is refused within that time; a token naming a key id not held makes it fetch again at once, but at
most every ANPR_OIDC_JWKS_MIN_INTERVAL_S, so that garbage cannot make a service hammer its issuer.
Fetches run in a thread, never on the event loop. An issuer that cannot be reached leaves the last
keys in use (health detail `anpr.identity` NOT_SERVING meanwhile, retried with backoff); until the
first keys arrive, calls get UNAVAILABLE (retry), not UNAUTHENTICATED.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from anpr.runtime.auth import Caller
from anpr.runtime.claims import ClaimMap
from anpr.runtime.config import ASYMMETRIC, ConfigError, check_url
from anpr.runtime.errors import AnprError, Unauthenticated, Unavailable
from anpr.runtime.failures import keep_running
from anpr.runtime.tasks import Tasks

log = logging.getLogger(__name__)

# Signature algorithms a deployment may allow: public-key ones only.
KEY_TYPES = frozenset({"RSA", "EC", "OKP"})
MAX_TOKEN_CHARS = 16 * 1024
MAX_DOCUMENT_BYTES = 1024 * 1024
HEALTH_NAME = "anpr.identity"


class IssuerUnavailable(Unavailable):
    """The identity provider cannot be reached or answered nonsense: an outage, retried."""


def http_json(
    url: str,
    *,
    ca_file: Path | None = None,
    timeout: float = 5.0,
    form: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """GET (or POST `form` to) `url` and return its JSON object. Blocking: run it in a thread.
    Servers are verified by the system's roots plus `ca_file` (the cluster CA)."""
    context = None
    if url.startswith("https:"):
        context = ssl.create_default_context()
        if ca_file is not None:
            context.load_verify_locations(cafile=str(ca_file))
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, headers={"Accept": "application/json", **(headers or {})})
    where = urllib.parse.urlsplit(url).path or "/"
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            body = response.read(MAX_DOCUMENT_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise IssuerUnavailable(f"the identity provider answered {exc.code} at {where}") from None
    except (OSError, ValueError) as exc:
        raise IssuerUnavailable(f"the identity provider is unreachable ({type(exc).__name__})") from None
    if len(body) > MAX_DOCUMENT_BYTES:
        raise IssuerUnavailable(f"the identity provider's answer at {where} is over 1 MiB")
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise IssuerUnavailable(f"the identity provider's answer at {where} is not a JSON object")
    return doc


@dataclass(frozen=True)
class IssuerSettings:
    """The ANPR_OIDC_* settings (anpr.runtime.config.ServiceSettings), checked."""

    issuer: str
    audience: str = "anpr"
    jwks_url: str = ""
    token_url: str = ""
    algorithms: tuple[str, ...] = ("RS256", "PS256", "ES256")
    leeway_s: float = 30.0
    refresh_s: float = 300.0
    min_refetch_s: float = 5.0
    ca_file: Path | None = None
    timeout_s: float = 5.0

    @classmethod
    def of(cls, settings) -> IssuerSettings:
        return cls(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            jwks_url=settings.oidc_jwks_url,
            token_url=settings.oidc_token_url,
            algorithms=tuple(a.strip() for a in settings.oidc_algorithms.split(",") if a.strip()),
            leeway_s=settings.oidc_leeway_s,
            refresh_s=settings.oidc_jwks_refresh_s,
            min_refetch_s=settings.oidc_jwks_min_interval_s,
            ca_file=settings.tls_ca_file,
        )

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


ENDPOINT_SETTINGS = {"jwks_uri": "ANPR_OIDC_JWKS_URL", "token_endpoint": "ANPR_OIDC_TOKEN_URL"}


class Endpoints:
    """The issuer's JWKS and token endpoints: the settings' when given, else from its discovery
    document (fetched once; its `issuer` must be the configured one, as OpenID Connect Discovery says)."""

    def __init__(self, settings: IssuerSettings):
        self._settings = settings
        self._explicit = {"jwks_uri": settings.jwks_url, "token_endpoint": settings.token_url}
        self._doc: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    async def get(self, name: str) -> str:
        if self._explicit[name]:
            return self._explicit[name]
        async with self._lock:
            if self._doc is None:
                s = self._settings
                doc = await asyncio.to_thread(http_json, s.discovery_url, ca_file=s.ca_file, timeout=s.timeout_s)
                if doc.get("issuer") != s.issuer:
                    raise IssuerUnavailable("the discovery document names another issuer than ANPR_OIDC_ISSUER")
                self._doc = doc
        url = self._doc.get(name)
        if not isinstance(url, str):
            raise IssuerUnavailable(f"the discovery document has no {name}: set {ENDPOINT_SETTINGS[name]}")
        try:
            return check_url(url, f"the discovery document's {name}")
        except ConfigError as exc:
            raise IssuerUnavailable(str(exc)) from None


def signing_keys(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The public signature keys of a JWKS by key id (symmetric keys and keys for encryption left out)."""
    keys = doc.get("keys")
    if not isinstance(keys, list):
        raise IssuerUnavailable("the JWKS has no list of keys")
    out = {}
    for key in keys:
        if (
            isinstance(key, dict)
            and isinstance(key.get("kid"), str)
            and key.get("kty") in KEY_TYPES
            and key.get("use", "sig") == "sig"
            and "d" not in key  # a private key published by mistake is not trusted either
        ):
            out[key["kid"]] = key
    return out


class KeySet:
    """The issuer's signing keys, as last fetched (see the module's docstring for when)."""

    def __init__(
        self,
        settings: IssuerSettings,
        endpoints: Endpoints,
        on_fresh: Callable[[bool], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._settings = settings
        self._endpoints = endpoints
        self._on_fresh = on_fresh
        self._clock = clock
        self._keys: dict[str, dict[str, Any]] = {}
        self._verifiers: dict[tuple[str, str], jwt.PyJWK] = {}
        self._inflight: asyncio.Task | None = None
        self._wanted = asyncio.Event()  # a token named a key not held while a fetch was not allowed yet
        self._last_fetch = float("-inf")
        self.loaded = False  # keys were fetched at least once
        self.fresh = False  # the last fetch succeeded
        self.fetches = 0

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def holds(self, kid: str) -> bool:
        return kid in self._keys

    async def refresh(self) -> None:
        """Fetch the JWKS now; one fetch at a time (a caller arriving during one waits for it)."""
        if self._inflight is None:
            self._inflight = asyncio.get_running_loop().create_task(self._fetch(), name="identity-keys-fetch")
            self._inflight.add_done_callback(self._fetched)
        await asyncio.shield(self._inflight)

    def _fetched(self, task: asyncio.Task) -> None:
        self._inflight = None
        if not task.cancelled():
            task.exception()  # seen here: whoever awaits it gets it too

    async def _fetch(self) -> None:
        self._last_fetch = self._clock()
        self.fetches += 1
        try:
            url = await self._endpoints.get("jwks_uri")
            s = self._settings
            keys = signing_keys(await asyncio.to_thread(http_json, url, ca_file=s.ca_file, timeout=s.timeout_s))
        except AnprError:
            await self._set_fresh(False)
            raise
        if keys.keys() != self._keys.keys():
            log.info("identity provider keys loaded", extra={"keys": len(keys)})
        self._keys, self._verifiers, self.loaded = keys, {}, True
        await self._set_fresh(True)

    async def _set_fresh(self, fresh: bool) -> None:
        if fresh != self.fresh:
            self.fresh = fresh
            if self._on_fresh is not None:
                await self._on_fresh(fresh)

    async def key(self, kid: str, alg: str) -> jwt.PyJWK:
        """The key named `kid`, to verify `alg` with; Unauthenticated when the issuer has no such key."""
        if kid not in self._keys:
            if self._inflight is not None or self._may_refetch():
                try:
                    await self.refresh()
                except IssuerUnavailable:
                    pass  # the periodic task logs it and tries again
            else:  # fetched moments ago: refused now, and fetched again once the interval is over
                self._wanted.set()
        jwk = self._keys.get(kid)
        if jwk is None:
            if not self.loaded:
                raise IssuerUnavailable("the identity provider's keys are not loaded yet")
            raise Unauthenticated("the token is signed by a key the issuer does not publish")
        verifier = self._verifiers.get((kid, alg))
        if verifier is None:
            try:
                verifier = jwt.PyJWK(jwk, algorithm=jwk.get("alg") or alg)
            except jwt.PyJWTError:
                raise Unauthenticated("the token's algorithm does not fit its key") from None
            self._verifiers[(kid, alg)] = verifier
        return verifier

    def _may_refetch(self) -> bool:
        return self._clock() - self._last_fetch >= self._settings.min_refetch_s

    async def run(self) -> None:
        """Fetch now and every ANPR_OIDC_JWKS_REFRESH_S until cancelled (failures: backoff, warnings);
        and as soon as the interval allows after a token named a key not held (`key`), so that a key
        published just after a fetch works within ANPR_OIDC_JWKS_MIN_INTERVAL_S."""

        async def step() -> float:
            await self.refresh()
            with contextlib.suppress(TimeoutError):  # until the next refresh, or a token names a key not held
                await asyncio.wait_for(self._wanted.wait(), self._settings.refresh_s)
            self._wanted.clear()
            return max(0.0, self._settings.min_refetch_s - (self._clock() - self._last_fetch))

        await keep_running(step, log, "fetching the identity provider's keys")


# PyJWT's refusals, as the caller is told them (never the token's content).
REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidAudienceError, "the token is for another audience"),
    (jwt.InvalidIssuerError, "the token is from another issuer"),
    (jwt.MissingRequiredClaimError, "the token lacks a required claim (exp, iss, aud)"),
    (jwt.InvalidSignatureError, "the token's signature does not verify"),
    (jwt.InvalidAlgorithmError, "the token's algorithm does not fit its key"),
    (jwt.InvalidKeyError, "the token's key is too weak or unusable"),
)


def refusal(exc: jwt.PyJWTError) -> str:
    return next((reason for kind, reason in REASONS if isinstance(exc, kind)), "the token is malformed")


def _header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, unverified (only to choose the key: jwt.decode checks all)."""
    try:
        first, _, _ = token.split(".")
        header = json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    except ValueError:
        header = None
    if not isinstance(header, dict):
        raise Unauthenticated("the token is malformed")
    return header


class Verifier:
    """Bearer token -> the verified Caller (or Unauthenticated, PermissionDenied, Unavailable).

    A token verified once is remembered (by its SHA-256, at most CACHE_SIZE of them) until it
    expires or its key is no longer published: a camera calling SubmitRead with the same token costs
    a hash, not a signature check (benchmarks/identity_bench.py)."""

    CACHE_SIZE = 4096

    def __init__(
        self, settings: IssuerSettings, keys: KeySet, claims: ClaimMap, clock: Callable[[], float] = time.time
    ):
        self._settings = settings
        self._keys = keys
        self._claims = claims
        self._clock = clock
        self._algorithms = frozenset(settings.algorithms) & ASYMMETRIC
        self._options = {"require": ["exp", "iss", "aud"], "enforce_minimum_key_length": True}
        self._verified: dict[bytes, tuple[Caller, float, str]] = {}

    async def caller(self, token: str) -> Caller:
        if not token:
            raise Unauthenticated("missing bearer token")
        if len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("the token is too long")
        digest = hashlib.sha256(token.encode()).digest()
        known = self._verified.get(digest)
        if known is not None:
            caller, expires, kid = known
            if self._clock() <= expires + self._settings.leeway_s and self._keys.holds(kid):
                return caller
            del self._verified[digest]
        caller, expires, kid = await self._verify(token)
        if len(self._verified) >= self.CACHE_SIZE:
            del self._verified[next(iter(self._verified))]  # the oldest
        self._verified[digest] = (caller, expires, kid)
        return caller

    async def _verify(self, token: str) -> tuple[Caller, float, str]:
        header = _header(token)
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self._algorithms:
            raise Unauthenticated("the token's signature algorithm is not allowed")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("the token names no key (kid)")
        key = await self._keys.key(kid, alg)
        s = self._settings
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_s,
                options=self._options,
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(refusal(exc)) from None
        return self._claims.caller(claims), float(claims["exp"]), kid


class ServiceCredentials:
    """This service's own access token (role `service`), from the issuer's token endpoint by the
    OAuth 2 client-credentials grant (ANPR_SERVICE_CLIENT_ID / _SECRET, client_secret_basic), kept
    and fetched again when two thirds of its life have passed. A failed fetch keeps the old token
    while it is valid; without one, the call fails UNAVAILABLE (an outage: relays retry)."""

    def __init__(
        self,
        settings: IssuerSettings,
        endpoints: Endpoints,
        client_id: str,
        client_secret: str,
        scope: str = "",
        clock: Callable[[], float] = time.time,
    ):
        self._settings = settings
        self._endpoints = endpoints
        user = urllib.parse.quote(client_id, safe="") + ":" + urllib.parse.quote(client_secret, safe="")
        self._authorization = "Basic " + base64.b64encode(user.encode()).decode()
        self._form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token = ""
        self._refresh_at = self._expires_at = 0.0

    async def token(self) -> str:
        if self._token and self._clock() < self._refresh_at:
            return self._token
        async with self._lock:
            now = self._clock()
            if self._token and now < self._refresh_at:
                return self._token
            try:
                token, lifetime = await self._fetch()
            except IssuerUnavailable:
                if self._token and now < self._expires_at - self._settings.leeway_s:
                    log.warning("could not renew the service's token; using the current one")
                    self._refresh_at = now + 5.0
                    return self._token
                raise
            self._token, self._expires_at = token, now + lifetime
            self._refresh_at = now + lifetime * 2 / 3
            return token

    async def _fetch(self) -> tuple[str, float]:
        url = await self._endpoints.get("token_endpoint")
        s = self._settings
        doc = await asyncio.to_thread(
            http_json,
            url,
            ca_file=s.ca_file,
            timeout=s.timeout_s,
            form=self._form,
            headers={"Authorization": self._authorization},
        )
        token, lifetime = doc.get("access_token"), doc.get("expires_in", 300)
        if not isinstance(token, str) or not token or not isinstance(lifetime, int | float) or lifetime <= 0:
            raise IssuerUnavailable("the token endpoint's answer has no access_token or expires_in")
        return token, float(lifetime)


@dataclass
class Identity:
    """What a service needs to verify its callers, and to call the others as itself."""

    verifier: Verifier
    keys: KeySet
    credentials: ServiceCredentials | None

    @classmethod
    def of(cls, settings, on_fresh: Callable[[bool], Awaitable[None]] | None = None) -> Identity:
        """From a service's settings (ServiceSettings); `on_fresh(bool)` follows the keys' freshness."""
        issuer = IssuerSettings.of(settings)
        endpoints = Endpoints(issuer)
        keys = KeySet(issuer, endpoints, on_fresh)
        secret = settings.service_client_secret.get_secret_value()
        credentials = (
            ServiceCredentials(issuer, endpoints, settings.service_client_id, secret, settings.service_scope)
            if secret
            else None
        )
        return cls(Verifier(issuer, keys, ClaimMap.of(settings)), keys, credentials)

    def start(self, tasks: Tasks) -> None:
        tasks.start("identity-keys", self.keys.run(), critical=False)

    def service_token(self) -> Callable[[], Any]:
        """The coroutine function that gives this service's current token (for its channels)."""
        if self.credentials is None:
            raise ConfigError(
                "ANPR_SERVICE_CLIENT_SECRET is not set: this service calls another and needs its client credentials"
            )
        return self.credentials.token
