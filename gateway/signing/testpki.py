"""A throw-away PKI for tests and demos, shaped like the government CA's: root -> intermediate -> signers.

``make_test_pki(DIR)`` writes:

- ``DIR/trust/``: ``root.pem``, ``intermediate.pem``, ``root.crl``, ``intermediate.crl`` (the latter
  lists ``revoked.p12``'s certificate);
- ``DIR/signer.p12`` (RSA-2048, the province), ``DIR/signer-ec.p12`` (ECDSA P-256, the province),
  ``DIR/national.p12`` and ``DIR/ministry.p12`` (the simulators' keys), ``DIR/expired.p12`` (validity
  ended yesterday), ``DIR/revoked.p12``, ``DIR/untrusted.p12`` (issued by a root that is not in ``trust/``);
- ``DIR/tsa.p12``: a time-stamping authority (extendedKeyUsage timeStamping, critical; RFC 3161 §2.3),
  which ``gateway sim tsa`` (``gateway/sim/tsa.py``) answers with; ``DIR/tsa-chain.pem``: its
  certificate and the CA chain, for ``openssl ts -verify``;
- ``DIR/passphrase.txt``: the passphrase of every ``.p12`` (random, one line);
- ``DIR/ca/``: the CA keys (encrypted with the same passphrase), so ``revoke`` can issue a new CRL.

Certificates carry the unit's identification code as the subject UID, which is what the verifier
compares with the sending unit. Never use these keys for anything but tests and demonstrations.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.packets.profile import Profile
from gateway.signing.keys import KeyRing, PrivateKey, load_key, read_passphrase
from gateway.signing.packets import PacketSigner, PacketVerifier
from gateway.signing.trust import TrustStore


@dataclass(frozen=True)
class Issued:
    key: PrivateKey
    cert: x509.Certificate


def _name(cn: str, uid: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test PKI (not for production)"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ]
    if uid:
        attrs.append(x509.NameAttribute(NameOID.USER_ID, uid))
    return x509.Name(attrs)


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _ca(cn: str, issuer: Issued | None, now: datetime) -> Issued:
    key = _rsa()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer.cert.subject if issuer else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=500))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    return Issued(key, builder.sign(issuer.key if issuer else key, hashes.SHA256()))


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def issue(
    issuer: Issued,
    cn: str,
    uid: str | None,
    *,
    not_before: datetime,
    not_after: datetime,
    key: PrivateKey | None = None,
    time_stamping: bool = False,
) -> Issued:
    key = key or _rsa()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, uid))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(ca=False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    )
    if time_stamping:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    return Issued(key, builder.sign(issuer.key, hashes.SHA256()))


def crl(
    issuer: Issued, revoked: list[x509.Certificate], now: datetime, *, days: int = 30
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(now - timedelta(minutes=5))
        .next_update(now + timedelta(days=days))
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    )
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(now - timedelta(hours=1))
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
    return builder.sign(issuer.key, hashes.SHA256())


def write_p12(path: Path, who: Issued, chain: list[x509.Certificate], passphrase: bytes) -> None:
    data = pkcs12.serialize_key_and_certificates(
        path.stem.encode(),
        who.key,
        who.cert,
        chain,
        serialization.BestAvailableEncryption(passphrase),
    )
    path.write_bytes(data)
    path.chmod(0o600)


def make_test_pki(
    directory: Path,
    *,
    province: str = "H15",
    national: str = "G01",
    ministry: str = "B05",
    now: datetime | None = None,
) -> Path:
    """Write the test PKI under ``directory`` (see the module docstring); returns ``directory``."""
    now = now or datetime.now(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    trust = directory / "trust"
    trust.mkdir(exist_ok=True)
    passphrase = secrets.token_urlsafe(18).encode()
    (directory / "passphrase.txt").write_text(passphrase.decode() + "\n", encoding="utf-8")
    (directory / "passphrase.txt").chmod(0o600)

    root = _ca("Test Government Root CA", None, now)
    inter = _ca("Test Government Signing CA", root, now)
    start, end = now - timedelta(days=90), now + timedelta(days=730)
    people = {
        "signer": issue(inter, "Province reporting system", province, not_before=start, not_after=end),
        "signer-ec": issue(
            inter,
            "Province reporting system (EC)",
            province,
            not_before=start,
            not_after=end,
            key=ec.generate_private_key(ec.SECP256R1()),
        ),
        "national": issue(inter, "Government reporting system", national, not_before=start, not_after=end),
        "ministry": issue(inter, "Ministry reporting system", ministry, not_before=start, not_after=end),
        "expired": issue(
            inter,
            "Province (expired)",
            province,
            not_before=now - timedelta(days=400),
            not_after=now - timedelta(days=1),
        ),
        "revoked": issue(inter, "Province (revoked)", province, not_before=start, not_after=end),
        "tsa": issue(inter, "Test Time-Stamping Authority", None, not_before=start, not_after=end, time_stamping=True),
    }
    stranger_root = _ca("Unknown Root CA", None, now)
    people["untrusted"] = issue(stranger_root, "Province (untrusted CA)", province, not_before=start, not_after=end)

    pem = serialization.Encoding.PEM
    (trust / "root.pem").write_bytes(root.cert.public_bytes(pem))
    (trust / "intermediate.pem").write_bytes(inter.cert.public_bytes(pem))
    (trust / "root.crl").write_bytes(crl(root, [], now).public_bytes(pem))
    (trust / "intermediate.crl").write_bytes(crl(inter, [people["revoked"].cert], now).public_bytes(pem))
    for name, who in people.items():
        chain = [stranger_root.cert] if name == "untrusted" else [inter.cert]
        write_p12(directory / f"{name}.p12", who, chain, passphrase)
    (directory / "tsa-chain.pem").write_bytes(
        b"".join(c.public_bytes(pem) for c in (people["tsa"].cert, inter.cert, root.cert))
    )
    ca = directory / "ca"
    ca.mkdir(exist_ok=True)
    write_p12(ca / "intermediate.p12", inter, [root.cert], passphrase)
    return directory


def revoke(directory: Path, *names: str, now: datetime | None = None) -> None:
    """Revoke the certificates of ``DIR/<name>.p12`` (on top of ``revoked.p12``) by publishing a new
    intermediate CRL into ``DIR/trust/``: what the CA does when a key is compromised."""
    now = now or datetime.now(UTC)
    passphrase = read_passphrase(file=directory / "passphrase.txt")
    ca = load_key(directory / "ca" / "intermediate.p12", passphrase)
    issuer = Issued(ca.private_key, ca.certificate)
    certs = [load_key(directory / f"{n}.p12", passphrase).certificate for n in ("revoked", *names)]
    (directory / "trust" / "intermediate.crl").write_bytes(
        crl(issuer, certs, now).public_bytes(serialization.Encoding.PEM)
    )


def party(directory: Path, name: str, profile: Profile) -> tuple[PacketSigner, PacketVerifier]:
    """A participant of a test PKI made by ``make_test_pki``: its signer (``DIR/<name>.p12``) and a
    verifier trusting ``DIR/trust``. The simulators and the demo use this."""
    passphrase = read_passphrase(file=directory / "passphrase.txt")
    signer = PacketSigner(profile, KeyRing([load_key(directory / f"{name}.p12", passphrase)]))
    return signer, PacketVerifier(profile, TrustStore(directory / "trust"))
