"""A local OpenID Connect issuer for `anpr up`, the tests and the benchmarks.

It signs access tokens (JWT, RS256) with keys of its own, kept in one file (`anpr up`: the data
directory's `issuer.json`, owner-only: the same keys and address across restarts), and publishes its
discovery document and JWKS over HTTP on 127.0.0.1 as a production issuer does. The services verify
its tokens exactly as they verify Keycloak's or Entra ID's (anpr.runtime.identity): there is no
switch that skips verification.

- GET /.well-known/openid-configuration, GET /jwks: discovery and the public keys;
- POST /token: the OAuth 2 client-credentials grant (client_secret_basic or client_secret_post), by
  which the services get their own tokens (role `service`);
- `mint(caller)`: a token for a person or device (`anpr token issue`, the demo's and tests' tokens);
- `rotate()` makes a new signing key (the old one stays published, so its tokens stay valid) and
  `retire(kid)` stops publishing one (its tokens are then refused).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from anpr.runtime.auth import Caller, Role
from anpr.runtime.claims import ClaimMap

ALGORITHM = "RS256"
DEFAULT_AUDIENCE = "anpr"
SERVICE_TOKEN_TTL_S = 300  # a service's own token: renewed by the service well before it expires


class IssuerError(RuntimeError):
    """The issuer's file is missing or unreadable, or its port is taken."""


def _new_key() -> dict[str, Any]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {"kid": uuid.uuid4().hex[:16], "private": RSAAlgorithm.to_jwk(private, as_dict=True)}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class LocalIssuer:
    """Keys, clients and address in `path`; `start()` serves the endpoints on 127.0.0.1:`port`."""

    def __init__(self, path: Path, *, port: int = 0, audience: str = DEFAULT_AUDIENCE, claims: ClaimMap | None = None):
        self.path = Path(path)
        self.audience = audience
        self.claims = claims or ClaimMap()
        self._port = port
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._state: dict[str, Any] = self._load() if self.path.exists() else {"url": "", "keys": [], "clients": {}}
        self._signers: dict[str, Any] = {}
        if not self._state["keys"]:
            self._state["keys"].append(_new_key())

    @classmethod
    def load(cls, path: Path) -> LocalIssuer:
        """The issuer kept in `path`, to mint tokens without serving (`anpr token issue`)."""
        if not Path(path).exists():
            raise IssuerError(f"no local issuer at {path}: `anpr up` makes one in its data directory")
        return cls(path)

    def _load(self) -> dict[str, Any]:
        try:
            state = json.loads(self.path.read_text())
            assert isinstance(state["keys"], list) and isinstance(state["clients"], dict)
            return state
        except (OSError, ValueError, KeyError, TypeError, AssertionError) as exc:
            raise IssuerError(f"{self.path}: not a local issuer's file ({type(exc).__name__})") from None

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(json.dumps(self._state, indent=1))
        tmp.replace(self.path)

    # ---------------------------------------------------------------------------------- serving

    @property
    def url(self) -> str:
        """The issuer's identifier (`iss`) and base URL, http://127.0.0.1:<port>."""
        return self._state["url"]

    def start(self) -> str:
        """Serve on 127.0.0.1 (the port given, else the one of the last run, else any free one)."""
        port = self._port or urllib.parse.urlsplit(self.url).port or 0
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        except OSError:
            if self._port:
                raise IssuerError(f"the local issuer cannot listen on 127.0.0.1:{port} (in use?)") from None
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        with self._lock:
            self._state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
            self._save()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="local-issuer", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks",
            "token_endpoint": f"{self.url}/token",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
        }

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            keys = list(self._state["keys"])
        public = ("kty", "n", "e")
        return {
            "keys": [
                {**{k: key["private"][k] for k in public}, "kid": key["kid"], "use": "sig", "alg": ALGORITHM}
                for key in keys
            ]
        }

    # ---------------------------------------------------------------------------------- keys

    @property
    def kid(self) -> str:
        """The key id new tokens are signed with (the last made)."""
        return self._state["keys"][-1]["kid"]

    def rotate(self) -> str:
        """A new signing key; the others stay published until retired. Its key id."""
        with self._lock:
            self._state["keys"].append(_new_key())
            self._save()
        return self.kid

    def retire(self, kid: str) -> None:
        """Stop publishing key `kid` (tokens it signed are refused once the services fetch the JWKS)."""
        with self._lock:
            self._state["keys"] = [k for k in self._state["keys"] if k["kid"] != kid]
            if not self._state["keys"]:
                self._state["keys"].append(_new_key())
            self._save()

    def _signer(self, kid: str) -> Any:
        if kid not in self._signers:
            key = next(k for k in self._state["keys"] if k["kid"] == kid)
            self._signers[kid] = RSAAlgorithm.from_jwk(key["private"])
        return self._signers[kid]

    # ---------------------------------------------------------------------------------- tokens

    def mint(
        self,
        caller: Caller,
        ttl_s: float = 3600,
        *,
        not_before: float | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        kid: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """An access token saying `caller` (claims as `self.claims` maps them, then `extra`), valid
        `ttl_s` seconds; the keyword arguments make tokens a service must refuse (tests)."""
        now = int(time.time())
        claims = {
            **self.claims.claims(caller),
            "iss": issuer or self.url,
            "aud": audience or self.audience,
            "iat": now,
            "nbf": int(not_before if not_before is not None else now),
            "exp": int(now + ttl_s),
            "jti": uuid.uuid4().hex,
            **(extra or {}),
        }
        kid = kid or self.kid
        return jwt.encode(claims, self._signer(kid), algorithm=ALGORITHM, headers={"kid": kid, "typ": "at+jwt"})

    def add_client(self, client_id: str, subject: str | None = None) -> str:
        """Register (or re-key) a service client for the client-credentials grant; its new secret."""
        secret = secrets.token_urlsafe(32)
        with self._lock:
            self._state["clients"][client_id] = {"sha256": _digest(secret), "subject": subject or client_id}
            self._save()
        return secret

    def client_token(self, client_id: str, secret: str) -> str | None:
        """A service token for a client with the right secret; None otherwise."""
        client = self._state["clients"].get(client_id)
        if client is None or not hmac.compare_digest(client["sha256"], _digest(secret)):
            return None
        return self.mint(Caller(Role.SERVICE, client["subject"]), SERVICE_TOKEN_TTL_S)


def _client_of(handler: BaseHTTPRequestHandler, form: dict[str, str]) -> tuple[str, str]:
    """(client id, secret) from client_secret_basic, else client_secret_post."""
    header = handler.headers.get("Authorization", "")
    if header[:6].lower() == "basic ":
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return urllib.parse.unquote(user), urllib.parse.unquote(password)
        except ValueError:
            return "", ""
    return form.get("client_id", ""), form.get("client_secret", "")


def _handler(issuer: LocalIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _json(self, status: int, doc: dict[str, Any]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            documents = {"/.well-known/openid-configuration": issuer.discovery, "/jwks": issuer.jwks}
            if self.path in documents:
                self._json(200, documents[self.path]())
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            if self.path != "/token":
                self._json(404, {"error": "not_found"})
                return
            length = min(int(self.headers.get("Content-Length") or 0), 64 * 1024)
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode(errors="replace")))
            if form.get("grant_type") != "client_credentials":
                self._json(400, {"error": "unsupported_grant_type"})
                return
            token = issuer.client_token(*_client_of(self, form))
            if token is None:
                self._json(401, {"error": "invalid_client"})
                return
            self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": SERVICE_TOKEN_TTL_S})

        def log_message(self, format: str, *args: Any) -> None:
            pass  # no request lines (and never a token) in anybody's output

    return Handler
