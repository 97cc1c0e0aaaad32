"""The firearms log's key: an Ed25519 private key the database never sees (a file: a Kubernetes
Secret mounted in the firearms pods, `<data dir>/log-signing-key.pem` for `anpr up`).

- It **seals** every log entry: an HMAC-SHA256 of the entry's canonical encoding, with a MAC key
  derived from the private key (HKDF). Someone who can write to the database but does not hold the
  key (a DBA, a holder of the service's database credentials) cannot make an entry that verifies.
- It **signs** the checkpoints of the log's head (Ed25519), which anyone holding the public key can
  check (`anpr ndm verify --public-key`).

A seal and a checkpoint name their key (`key_id`: the first 16 hex digits of the SHA-256 of the raw
public key), so that after a rotation the earlier keys (ANPR_LOG_PREVIOUS_KEY_FILES) still verify
what they sealed and signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SEAL_INFO = b"anpr firearms log entry seal v1"


class KeyProblem(Exception):
    """A key file is missing, unreadable or not an Ed25519 key (the text names the file)."""


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Key:
    private: Ed25519PrivateKey
    key_id: str
    mac_key: bytes

    @classmethod
    def of(cls, private: Ed25519PrivateKey) -> Key:
        raw = private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        mac_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEAL_INFO).derive(raw)
        return cls(private, key_id(private.public_key()), mac_key)

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _read(path: Path, load, kind: type, what: str):
    try:
        key = load(Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise KeyProblem(f"{path}: not a readable PEM {what} key ({type(exc).__name__})") from None
    if not isinstance(key, kind):
        raise KeyProblem(f"{path}: not an Ed25519 {what} key (make one: openssl genpkey -algorithm ed25519)")
    return key


def read_private(path: Path) -> Ed25519PrivateKey:
    return _read(
        path, lambda data: serialization.load_pem_private_key(data, password=None), Ed25519PrivateKey, "private"
    )


def read_public(path: Path) -> Ed25519PublicKey:
    return _read(path, serialization.load_pem_public_key, Ed25519PublicKey, "public")


def create(path: Path) -> Key:
    """A new key in `path` (PEM, PKCS#8, readable by its owner only) and its public key beside it
    (`path`.pub). The file appears whole or not at all; FileExistsError when it is there already
    (another process of the service made it first)."""
    key = Key.of(Ed25519PrivateKey.generate())
    pem = key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    draft.touch(mode=0o600)
    draft.write_bytes(pem)
    try:
        os.link(draft, path)  # atomic, and never over an existing key
    finally:
        draft.unlink()
    Path(f"{path}.pub").write_bytes(key.public_pem())
    return key


def load_or_create(path: Path) -> Key:
    """The key in `path`, made on first use (processes starting together end with the same key)."""
    if not path.exists():
        try:
            return create(path)
        except FileExistsError:
            pass
    return Key.of(read_private(path))


class Keyring:
    """The current key (seals and signs) and earlier ones (verify only), by key id; plus public keys
    that verify signatures only (an auditor's)."""

    def __init__(self, current: Key, previous: Iterable[Key] = (), public: Iterable[Ed25519PublicKey] = ()):
        self.current = current
        self._keys = {k.key_id: k for k in (*previous, current)}
        self._public = {key_id(p): p for p in public} | {k.key_id: k.private.public_key() for k in self._keys.values()}

    @classmethod
    def load(cls, current: Path, previous: Iterable[Path] = ()) -> Keyring:
        return cls(Key.of(read_private(current)), [Key.of(read_private(p)) for p in previous])

    def seal(self, canonical: str) -> str:
        k = self.current
        return f"{k.key_id}:{hmac.new(k.mac_key, canonical.encode(), hashlib.sha256).hexdigest()}"

    def seal_ok(self, canonical: str, seal: str | None) -> bool:
        kid, _, mac = (seal or "").partition(":")
        k = self._keys.get(kid)
        if k is None:
            return False
        return hmac.compare_digest(mac, hmac.new(k.mac_key, canonical.encode(), hashlib.sha256).hexdigest())

    def sign(self, statement: bytes) -> tuple[str, str]:
        """(key id, base64 signature) of `statement` by the current key."""
        return self.current.key_id, base64.b64encode(self.current.private.sign(statement)).decode()

    def signature_ok(self, kid: str, statement: bytes, signature: str) -> bool:
        return signature_ok(self._public, kid, statement, signature)


def public_keyring(paths: Iterable[Path]) -> dict[str, Ed25519PublicKey]:
    """Public keys by key id (for checking checkpoints' signatures without the private key)."""
    return {key_id(k): k for k in (read_public(p) for p in paths)}


def signature_ok(public: dict[str, Ed25519PublicKey], kid: str, statement: bytes, signature: str) -> bool:
    key = public.get(kid)
    if key is None:
        return False
    try:
        key.verify(base64.b64decode(signature, validate=True), statement)
    except (InvalidSignature, ValueError):
        return False
    return True
