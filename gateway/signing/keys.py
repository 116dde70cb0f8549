"""Signing keys: PKCS#12 or PEM files, passphrases from the environment or a secret file, rotation.

A passphrase never comes from the configuration file or the command line (both end up in shell
history, process lists and backups): only from an environment variable named in the configuration or
from a secret file (systemd credentials, Docker/Kubernetes secrets). Rotation: several keys may be
configured, each with ``active_from``; the newest active one whose certificate is still valid signs, so
a new key is installed ahead of time and takes over at its hour without a restart, while the old one
remains configured for the overlap window.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from gateway.clock import as_utc
from gateway.errors import ConfigurationError

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SigningKey:
    """A private key, its certificate and the intermediates that lead to a trusted root."""

    private_key: PrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    source: str
    active_from: datetime | None = None

    @property
    def is_ec(self) -> bool:
        return isinstance(self.private_key, ec.EllipticCurvePrivateKey)

    def valid_at(self, moment: datetime) -> bool:
        cert = self.certificate
        return cert.not_valid_before_utc <= as_utc(moment) <= cert.not_valid_after_utc


def read_passphrase(*, env: str | None = None, file: Path | None = None) -> bytes | None:
    """The passphrase from the named environment variable or the secret file (first line)."""
    if env:
        value = os.environ.get(env)
        if value is None:
            raise ConfigurationError(f"signing passphrase: environment variable {env} is not set")
        return value.encode("utf-8")
    if file:
        try:
            return file.read_text(encoding="utf-8").splitlines()[0].encode("utf-8")
        except (OSError, IndexError) as exc:
            raise ConfigurationError(f"signing passphrase: cannot read {file}") from exc
    return None


def load_key(path: Path, passphrase: bytes | None, *, active_from: datetime | None = None) -> SigningKey:
    """Load a PKCS#12 bundle (``.p12``/``.pfx``) or a PEM file holding the key and its certificates."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"signing key {path}: cannot read ({exc.strerror})") from exc
    try:
        if b"-----BEGIN" in data:
            key, cert, chain = _from_pem(data, passphrase)
        else:
            bundle = pkcs12.load_pkcs12(data, passphrase)
            if bundle.key is None or bundle.cert is None:
                raise ConfigurationError(f"signing key {path}: the PKCS#12 file holds no key or no certificate")
            key, cert = bundle.key, bundle.cert.certificate
            chain = tuple(c.certificate for c in bundle.additional_certs)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"signing key {path}: cannot open it (wrong passphrase or format): {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigurationError(f"signing key {path}: only RSA and ECDSA keys are supported")
    if _spki(key.public_key()) != _spki(cert.public_key()):
        raise ConfigurationError(f"signing key {path}: the certificate does not belong to the key")
    return SigningKey(key, cert, chain, str(path), active_from)


def _spki(public: PublicKeyTypes) -> bytes:
    """A public key as SubjectPublicKeyInfo bytes: one comparison for RSA and EC alike."""
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _from_pem(data: bytes, passphrase: bytes | None) -> tuple[object, x509.Certificate, tuple[x509.Certificate, ...]]:
    key = serialization.load_pem_private_key(data, passphrase)
    certs = x509.load_pem_x509_certificates(data)
    if not certs:
        raise ConfigurationError("the PEM file holds no certificate")
    public = key.public_key()
    own = [c for c in certs if c.public_key() == public]
    if not own:
        raise ConfigurationError("no certificate in the PEM file belongs to the key")
    return key, own[0], tuple(c for c in certs if c is not own[0])


class KeyRing:
    """The configured signing keys; ``current`` picks the one that signs now."""

    def __init__(self, keys: list[SigningKey]):
        if not keys:
            raise ConfigurationError("a key ring needs at least one key")
        self.keys = sorted(keys, key=lambda k: as_utc(k.active_from) if k.active_from else _EPOCH)

    def current(self, now: datetime) -> SigningKey:
        active = [
            k for k in self.keys if (k.active_from is None or as_utc(k.active_from) <= as_utc(now)) and k.valid_at(now)
        ]
        if not active:
            sources = ", ".join(k.source for k in self.keys)
            raise ConfigurationError(f"no signing key is active and valid at {now.isoformat()} (configured: {sources})")
        return active[-1]
