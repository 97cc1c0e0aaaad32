"""TLS for every port, mutual TLS between services, and a local CA for `anpr up` and the tests.

Who presents what:

- cameras, terminals, consoles and administrators: a bearer token over TLS (no client certificate);
  they call the service's main port (ANPR_GRPC_PORT), which never asks for client certificates;
- services calling services: a bearer token of role `service` AND a client certificate issued by
  the cluster CA (ANPR_TLS_CLIENT_CA_FILE); they call the peer's service port (ANPR_SERVICE_PORT),
  which requires and verifies one. The auth interceptor refuses the `service` role on any
  connection without a verified client certificate, so a leaked service token, or a camera token,
  cannot call MatchReads from inside the cluster network.

Server certificates are re-read when their files change (cert-manager renews them in place): the
gRPC core asks `_Reloader` before each new connection is accepted; connections already open keep
their session.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import grpc

from anpr.runtime.errors import ConfigError

log = logging.getLogger(__name__)


def _read(path: Path, setting: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path} ({exc.strerror})") from None


class _Reloader:
    """Certificate configuration fetcher: a new configuration when a file's mtime or size changed,
    None (keep the current one) otherwise, or when the new files cannot be read."""

    def __init__(self, cert_file: Path, key_file: Path, client_ca_file: Path | None):
        self._files = [p for p in (cert_file, key_file, client_ca_file) if p is not None]
        self._cert_file, self._key_file, self._client_ca_file = cert_file, key_file, client_ca_file
        self._lock = threading.Lock()
        self._stamp = self._stat()

    def _stat(self) -> tuple:
        return tuple((os.stat(p).st_mtime_ns, os.stat(p).st_size) for p in self._files)

    def configuration(self) -> grpc.ServerCertificateConfiguration:
        pair = (_read(self._key_file, "ANPR_TLS_KEY_FILE"), _read(self._cert_file, "ANPR_TLS_CERT_FILE"))
        ca = _read(self._client_ca_file, "ANPR_TLS_CLIENT_CA_FILE") if self._client_ca_file else None
        return grpc.ssl_server_certificate_configuration([pair], root_certificates=ca)

    def __call__(self) -> grpc.ServerCertificateConfiguration | None:
        with self._lock:
            try:
                stamp = self._stat()
                if stamp == self._stamp:
                    return None
                config = self.configuration()
            except (OSError, ConfigError):
                log.warning("certificate files unreadable; keeping the current ones")
                return None
            self._stamp = stamp
            log.info("certificates reloaded")
            return config


def server_credentials(
    cert_file: Path, key_file: Path, client_ca_file: Path | None = None, *, require_client_cert: bool = False
) -> grpc.ServerCredentials:
    """Server TLS from PEM files, reloaded on change; with `require_client_cert`, only clients
    presenting a certificate issued by `client_ca_file` complete the handshake."""
    reloader = _Reloader(cert_file, key_file, client_ca_file if require_client_cert else None)
    return grpc.dynamic_ssl_server_credentials(
        reloader.configuration(), reloader, require_client_authentication=require_client_cert
    )


@dataclass(frozen=True)
class ClientTls:
    """What a client needs for TLS: the CA to verify servers by (None: the system's roots), and
    optionally its own certificate and key (services: mutual TLS)."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        root = _read(self.ca_file, "ANPR_TLS_CA_FILE") if self.ca_file else None
        if self.cert_file and self.key_file:
            return grpc.ssl_channel_credentials(
                root, _read(self.key_file, "ANPR_TLS_KEY_FILE"), _read(self.cert_file, "ANPR_TLS_CERT_FILE")
            )
        return grpc.ssl_channel_credentials(root)

    @classmethod
    def from_env(cls) -> ClientTls | None:
        """The command's TLS: ANPR_TLS_CA_FILE set means TLS, verifying servers by that CA."""
        ca = os.environ.get("ANPR_TLS_CA_FILE")
        return cls(Path(ca)) if ca else None


def has_verified_client_cert(context) -> bool:
    """Whether the call came over a connection whose client certificate the server verified.

    Only the service port asks for client certificates, and it refuses a handshake without a valid
    one, so a certificate in the auth context is a verified one."""
    auth = context.auth_context() or {}
    return bool(auth.get("x509_pem_cert"))


# ------------------------------------------------------------------------------------------
# A local certificate authority (anpr up, tests). Production uses cert-manager.


@dataclass(frozen=True)
class LocalCA:
    ca_file: Path
    cert_file: Path  # one certificate for every service: serverAuth and clientAuth
    key_file: Path


def make_local_ca(
    directory: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1"), name: str = "anpr local CA", days: int = 30
) -> LocalCA:
    """A fresh CA and one certificate it issues for `hosts`, written as PEM files (keys 0600)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.IPAddress(ipaddress.ip_address(h)) if h.replace(".", "").isdigit() else x509.DNSName(h) for h in hosts]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    out = LocalCA(directory / "ca.crt", directory / "tls.crt", directory / "tls.key")
    out.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    out.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    out.key_file.chmod(0o600)
    return out


def kept_local_ca(
    directory: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1"), days: int = 365, min_days_left: int = 7
) -> LocalCA:
    """The local CA already in `directory` when its certificate is issued by it for `hosts` and valid
    for `min_days_left` more days (clients that trust its ca.crt go on working across restarts),
    else a new one (`make_local_ca`)."""
    found = LocalCA(directory / "ca.crt", directory / "tls.crt", directory / "tls.key")
    if _still_good(found, hosts, min_days_left):
        return found
    return make_local_ca(directory, hosts, days=days)


def _still_good(ca: LocalCA, hosts: tuple[str, ...], min_days_left: int) -> bool:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    try:
        issuer = x509.load_pem_x509_certificate(ca.ca_file.read_bytes())
        cert = x509.load_pem_x509_certificate(ca.cert_file.read_bytes())
        has_key = ca.key_file.stat().st_size > 0
        cert.verify_directly_issued_by(issuer)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return False
    sans = {str(v) for v in names.get_values_for_type(x509.IPAddress)} | set(names.get_values_for_type(x509.DNSName))
    left = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=min_days_left)
    return has_key and set(hosts) <= sans and min(cert.not_valid_after_utc, issuer.not_valid_after_utc) > left
