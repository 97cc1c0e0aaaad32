"""Typed settings read once from environment variables at start.

Every service has a frozen settings class deriving from `ServiceSettings`; a missing or malformed
value fails at start with a message naming the environment variable.
"""

from __future__ import annotations

import ipaddress
import os
import urllib.parse
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Self, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from anpr.runtime.errors import ConfigError  # (defined there: the commands' TLS needs it, not pydantic)

# The JWT signature algorithms a service may accept (asymmetric only: anpr.runtime.identity).
ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})


def check_url(url: str, setting: str) -> str:
    """`url` if it is https, or http to this machine (the local issuer); ConfigError otherwise."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and _loopback(host):
        return url
    raise ConfigError(f"{setting}: {url!r} must be an https URL (plain http only to 127.0.0.1 or localhost)")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServiceSettings(BaseSettings):
    """Settings every service reads (prefix ANPR_)."""

    model_config = SettingsConfigDict(env_prefix="ANPR_", frozen=True, extra="ignore")

    # PostgreSQL DSN. Unset: an embedded PostgreSQL is started (see anpr.runtime.pg).
    database_url: str | None = None
    grpc_host: str = "0.0.0.0"
    grpc_port: int
    # Identity (anpr.runtime.identity, docs/identity.md): callers present OIDC access tokens (JWT) of
    # this issuer (its `iss`), for this audience; keys from its discovery document's jwks_uri unless
    # the JWKS URL is given (and the token endpoint, for this service's own token).
    oidc_issuer: str
    oidc_audience: str = "anpr"
    oidc_jwks_url: str = ""
    oidc_token_url: str = ""
    # Signature algorithms accepted (asymmetric ones only), comma-separated.
    oidc_algorithms: str = "RS256,PS256,ES256"
    # Allowance for clocks when checking exp, nbf and iat.
    oidc_leeway_s: float = Field(default=30.0, ge=0, le=300)
    # The JWKS is fetched again this often (a retired key is refused within it), and at once for a
    # token naming an unknown key id, but not more often than the minimum interval.
    oidc_jwks_refresh_s: float = Field(default=300.0, gt=0, le=86400)
    oidc_jwks_min_interval_s: float = Field(default=5.0, gt=0, le=3600)
    # Where the claims are (a name, or dotted names into nested objects: realm_access.roles), and a
    # prefix stripped from role values (ANPR. maps ANPR.Terminal to terminal). See anpr.runtime.claims.
    oidc_claim_subject: str = "sub"
    oidc_claim_roles: str = "roles"
    oidc_claim_force: str = "force"
    oidc_claim_national: str = "national"
    oidc_claim_unit: str = "unit"
    oidc_claim_covert: str = "covert"
    oidc_role_prefix: str = ""
    # This service's own identity when it calls another (OAuth 2 client credentials at the issuer's
    # token endpoint; its token must carry the role `service`). The scope is sent when set (Entra
    # ID: api://<app>/.default).
    service_client_id: str = "anpr-services"
    service_client_secret: SecretStr = SecretStr("")
    service_scope: str = ""
    # Seconds the server lets in-flight calls finish after SIGTERM.
    shutdown_grace_s: float = 10.0
    log_level: str = "INFO"
    # Processes serving this service on the same port (SO_REUSEPORT; each its own event loop and
    # pool). Connections are spread over them; in Kubernetes prefer replicas of one worker each.
    workers: int = Field(default=1, ge=1, le=64)
    # Set by the supervisor for its workers: share the port (SO_REUSEPORT). Off otherwise, so that
    # a second server on a taken port fails at start instead of silently taking half its calls.
    reuse_port: bool = False
    # Where the embedded PostgreSQL keeps its data when database_url is unset.
    data_dir: Path = Path(".anpr")
    # Connections in this process's pool (the LISTEN connections come on top: see docs/operators.md).
    db_pool_size: int = Field(default=10, ge=1, le=200)
    # TLS (anpr.runtime.tls): this server's certificate chain and key, PEM. Set: the main port serves
    # TLS only, and the service port (below) serves mutual TLS. The same certificate is the client
    # certificate this service presents to the others, so it needs serverAuth and clientAuth usages.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # CA that issues the services' certificates (cluster CA): client certificates on the service port
    # are verified against it. Required with tls_cert_file.
    tls_client_ca_file: Path | None = None
    # CA to verify the servers this service calls by (unset: the system's roots).
    tls_ca_file: Path | None = None
    # Port for service-to-service calls (mutual TLS), opened only with TLS. Per-service default.
    service_port: int = 0
    # Plaintext port answering grpc.health.v1 only, for Kubernetes probes (they cannot speak TLS).
    health_port: int | None = None
    # Prometheus scrape endpoint (http://<host>:<port>/metrics); unset: none.
    metrics_port: int | None = None
    # Deployment environment name (dev, production): a label for people and telemetry only.
    environment: str = ""
    # Response streams one identity (token subject) may hold open on this process; one more is
    # refused with RESOURCE_EXHAUSTED (anpr.runtime.streams). 0: no limit.
    max_streams_per_identity: int = Field(default=32, ge=0, le=100_000)
    # A response stream whose client does not read for this long (its flow-control window stays
    # full) is closed with RESOURCE_EXHAUSTED; the client resumes from the last sequence received.
    stream_write_timeout_s: float = Field(default=30.0, gt=0, le=3600)

    @field_validator("oidc_jwks_url", "oidc_token_url")
    @classmethod
    def _https(cls, url: str) -> str:
        if url:
            try:
                check_url(url, "URL")
            except ConfigError as exc:
                raise ValueError(str(exc).removeprefix("URL: ")) from None
        return url

    @field_validator("oidc_algorithms")
    @classmethod
    def _asymmetric(cls, value: str) -> str:
        names = [a.strip() for a in value.split(",") if a.strip()]
        if not names or set(names) - ASYMMETRIC:
            raise ValueError(f"only asymmetric signature algorithms, of {', '.join(sorted(ASYMMETRIC))}")
        return value

    @model_validator(mode="after")
    def _issuer_fetchable(self) -> Self:
        """The issuer is fetched from (its discovery document) unless both endpoints are given; then it
        is only compared with the tokens' `iss` (ADFS's is http://<host>/adfs/services/trust)."""
        if not self.oidc_issuer.strip():
            raise ValueError("ANPR_OIDC_ISSUER is empty")
        if not self.oidc_jwks_url or not self.oidc_token_url:
            try:
                check_url(self.oidc_issuer, "ANPR_OIDC_ISSUER")
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return self

    @model_validator(mode="after")
    def _tls_complete(self) -> Self:
        tls = {
            "ANPR_TLS_CERT_FILE": self.tls_cert_file,
            "ANPR_TLS_KEY_FILE": self.tls_key_file,
            "ANPR_TLS_CLIENT_CA_FILE": self.tls_client_ca_file,
        }
        missing = [k for k, v in tls.items() if v is None]
        if 0 < len(missing) < len(tls):
            raise ValueError(
                f"{', '.join(missing)} not set: TLS needs the certificate, its key and the CA of "
                "the services' client certificates (service calls use mutual TLS)"
            )
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None


S = TypeVar("S", bound=BaseSettings)


def load(cls: type[S], **overrides: object) -> S:
    """Read `cls` from the environment; raise ConfigError naming each missing or bad variable."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        prefix = cls.model_config.get("env_prefix", "")
        problems = []
        for err in exc.errors():
            name = (prefix + "_".join(str(p) for p in err["loc"])).upper()
            if not err["loc"]:  # a rule across several settings names them itself
                problems.append(err["msg"].removeprefix("Value error, "))
            elif err["type"] == "missing":
                problems.append(f"{name} is not set")
            else:
                problems.append(f"{name}: {err['msg']}")
        raise ConfigError("configuration error: " + "; ".join(problems)) from None


def known_variables(cls: type[BaseSettings]) -> set[str]:
    """The environment variables `cls` reads (ANPR_GRPC_PORT, ...)."""
    prefix = cls.model_config.get("env_prefix", "")
    return {(prefix + name).upper() for name in cls.model_fields}


def reject_unknown_variables(
    cls: type[BaseSettings], environ: Mapping[str, str] = os.environ, also_known: Collection[str] = ()
) -> None:
    """Stop at start on an ANPR_* variable that neither `cls` nor anything in `also_known` (the
    suite's other services, the command's own variables) reads: a misspelt setting would otherwise be
    ignored silently, while one ConfigMap or env file may hold every service's settings."""
    prefix = cls.model_config.get("env_prefix", "")
    known = known_variables(cls) | set(also_known)
    unknown = sorted(k for k in environ if k.startswith(prefix) and k not in known)
    if unknown:
        raise ConfigError(
            f"configuration error: unknown setting(s) {', '.join(unknown)}: no service of the suite reads"
            f" {'it' if len(unknown) == 1 else 'them'} (this service reads: {', '.join(sorted(known_variables(cls)))})"
        )
