"""Trust anchors and certificate-path validation (pyhanko-certvalidator, RFC 5280).

A trust directory holds the government CA's root and intermediate certificates (PEM or DER, ``.pem``,
``.crt``, ``.cer``) and its CRLs (``.crl``, PEM or DER). Self-signed certificates there are roots; the
rest are intermediates used to build paths. The store reloads itself when a file in the directory
changes, so refreshing a CRL is copying the new file in (a cron job or the CA's publication point
mirrored by the operator); nothing is fetched from the network.

The outcome of a path check is one of three: valid, invalid (with a distinct reason code), or
*unknown* when revocation information is missing or stale; unknown is never reported as valid.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from asn1crypto import crl as asn1_crl
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator import errors as cv
from pyhanko_certvalidator.path import ValidationPath

from gateway.clock import as_utc
from gateway.errors import ConfigurationError, SignatureInvalid, SignatureUnknown

CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der")
SIGNING_KEY_USAGE = {"digital_signature"}
WEAK_HASHES = {"md2", "md5", "sha1"}
MAX_CACHED_PATHS = 4096

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run the validator's coroutine from synchronous code, even under a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def _blocks(data: bytes) -> list[bytes]:
    if pem.detect(data):
        return [der for _, _, der in pem.unarmor(data, multiple=True)]
    return [data]


@dataclass(frozen=True)
class Signer:
    """Who signed, as read from a verified certificate."""

    subject: str
    unit_code: str | None
    serial: int
    not_after: datetime
    revocation: Literal["good", "unknown"] = "good"
    stamped_at: datetime | None = None  # an RFC 3161 token's time, when the packet carried a valid one
    stamped_by: str | None = None  # the time-stamping authority's subject


def signer_of(cert: x509.Certificate, revocation: Literal["good", "unknown"] = "good") -> Signer:
    """The signer; its unit code is the certificate's UID (the agency identification code, QCVN 102)."""
    uids = cert.subject.get_attributes_for_oid(x509.NameOID.USER_ID)
    code = str(uids[0].value) if uids else None
    return Signer(cert.subject.rfc4514_string(), code, cert.serial_number, cert.not_valid_after_utc, revocation)


class TrustStore:
    """Roots, intermediates and CRLs from one directory, reloaded when the directory changes."""

    def __init__(self, directory: Path, *, revocation_unknown: Literal["reject", "accept"] = "reject"):
        self.directory = directory
        self.revocation_unknown = revocation_unknown
        self._lock = threading.Lock()
        self._stamp: tuple[tuple[str, int, int], ...] | None = None
        self.roots: list[asn1_x509.Certificate] = []
        self.intermediates: list[asn1_x509.Certificate] = []
        self.crls: list[asn1_crl.CertificateList] = []
        self._paths: dict[tuple[bytes, ...], tuple[datetime, datetime, Signer]] = {}
        self.refresh()
        if not self.roots:
            raise ConfigurationError(f"trust directory {directory} holds no root certificate")

    def _current_stamp(self) -> tuple[tuple[str, int, int], ...]:
        """Name, modification time and size of every file: checked on every verification, so one
        ``scandir`` and one ``stat`` per file (it was three ``stat`` calls per file and one more)."""
        try:
            entries = list(os.scandir(self.directory))
        except (FileNotFoundError, NotADirectoryError):
            raise ConfigurationError(f"trust directory {self.directory} does not exist") from None
        stamp = []
        for entry in entries:
            if entry.is_file():
                info = entry.stat()
                stamp.append((entry.name, info.st_mtime_ns, info.st_size))
        return tuple(sorted(stamp))

    def refresh(self) -> bool:
        """Reload when a file was added, removed or changed; True when something was reloaded."""
        with self._lock:
            stamp = self._current_stamp()
            if stamp == self._stamp:
                return False
            roots: list[asn1_x509.Certificate] = []
            intermediates: list[asn1_x509.Certificate] = []
            crls: list[asn1_crl.CertificateList] = []
            for path in sorted(self.directory.iterdir()):
                suffix = path.suffix.lower()
                if suffix in CERT_SUFFIXES:
                    for der in _blocks(path.read_bytes()):
                        try:
                            cert = asn1_x509.Certificate.load(der)
                            _ = cert.native  # a full parse, so a broken file fails here, not at first use
                        except ValueError as exc:
                            raise ConfigurationError(f"trust directory: {path.name} is not a certificate") from exc
                        (roots if cert.self_issued else intermediates).append(cert)
                elif suffix == ".crl":
                    for der in _blocks(path.read_bytes()):
                        try:
                            crls.append(asn1_crl.CertificateList.load(der))
                        except ValueError as exc:
                            raise ConfigurationError(f"trust directory: {path.name} is not a CRL") from exc
            self.roots, self.intermediates, self.crls = roots, intermediates, crls
            self._paths = {}  # every cached path outcome was proven against the previous files
            self._stamp = stamp
            return True

    def validate(
        self,
        cert: x509.Certificate,
        moment: datetime,
        *,
        extra: tuple[x509.Certificate, ...] = (),
        location: str = "",
    ) -> Signer:
        """Path to a trusted root, validity at ``moment``, key usage, revocation by the CRLs on file.

        Raises ``SignatureInvalid`` with a distinct code, or ``SignatureUnknown`` when revocation could
        not be established and the policy is to reject; returns the signer otherwise."""
        self.refresh()
        cache_key = (cert.public_bytes(Encoding.DER), *(c.public_bytes(Encoding.DER) for c in extra))
        paths = self._paths
        cached = paths.get(cache_key)
        at = as_utc(moment)
        if cached is not None and cached[0] <= at <= cached[1]:
            return cached[2]
        end = asn1_x509.Certificate.load(cache_key[0])
        others = self.intermediates + [asn1_x509.Certificate.load(der) for der in cache_key[1:]]

        def context(mode: str) -> ValidationContext:
            return ValidationContext(
                trust_roots=self.roots,
                other_certs=others,
                crls=self.crls,
                moment=as_utc(moment),
                allow_fetching=False,
                revocation_mode=mode,
                weak_hash_algos=WEAK_HASHES,
                # A CRL issued after the signing time that does not list the certificate proves it was
                # not revoked when it signed (the CA publishes a new CRL every few days).
                retroactive_revinfo=True,
            )

        try:
            path = run_sync(
                CertificateValidator(end, validation_context=context("require")).async_validate_usage(SIGNING_KEY_USAGE)
            )
            signer = signer_of(cert)
        except cv.InsufficientRevinfoError as exc:
            # Intact chain, but no current CRL covers it: "unknown", never "valid".
            detail = f"revocation status cannot be established ({_plain(exc)})"
            if self.revocation_unknown == "reject":
                raise SignatureUnknown("revocation_unknown", detail, location=location) from exc
            self._validate_without_revocation(end, context, location)
            return signer_of(cert, "unknown")
        except Exception as exc:
            raise _classify(exc, location) from exc
        window = self._unchanged_between(path)
        if window is not None:
            if len(paths) >= MAX_CACHED_PATHS:
                paths.clear()
            paths[cache_key] = (*window, signer)
        return signer

    def _unchanged_between(self, path: ValidationPath) -> tuple[datetime, datetime] | None:
        """The moments at which validating this path again must give the same "good" outcome, or
        None when that cannot be shown (then nothing is cached).

        Why: path validation with CRLs (pyhanko-certvalidator) cost 10-15 ms per received packet,
        90-200x the signature check (issue 19), and a province signs every packet with the same
        certificate. The outcome depends on the moment only through: each certificate's validity
        period, and revocation by the CRLs on file. So the cached "good" holds for every moment inside
        every path certificate's validity and inside the [thisUpdate, nextUpdate] of every CRL from
        the path's issuers, provided each such CRL is signed by a certificate of the path itself
        (not an indirect CRL issuer whose own validity would also count) and lists none of the
        path's serial numbers (a certificate revoked later is good before its revocation date and
        bad after it: such paths are never cached). The files on disk changing clears the cache."""
        certs = list(path.iter_certs(include_root=True))
        subjects = {c.subject.dump() for c in certs}
        issuers = {c.issuer.dump() for c in certs if not c.self_issued}
        serials = {c.serial_number for c in certs}
        low = max(c["tbs_certificate"]["validity"]["not_before"].native for c in certs)
        high = min(c["tbs_certificate"]["validity"]["not_after"].native for c in certs)
        for crl in self.crls:
            if crl.issuer.dump() not in issuers:
                continue
            if crl.issuer.dump() not in subjects:
                return None
            revoked = crl["tbs_cert_list"]["revoked_certificates"].native or []
            if any(entry["user_certificate"] in serials for entry in revoked):
                return None
            low = max(low, crl["tbs_cert_list"]["this_update"].native)
            next_update = crl["tbs_cert_list"]["next_update"].native
            if next_update is None:
                return None
            high = min(high, next_update)
        return (as_utc(low), as_utc(high)) if low <= high else None

    def _validate_without_revocation(self, end: Any, context: Any, location: str) -> None:
        try:
            run_sync(
                CertificateValidator(end, validation_context=context("soft-fail")).async_validate_usage(
                    SIGNING_KEY_USAGE
                )
            )
        except Exception as exc:
            raise _classify(exc, location) from exc


def _plain(exc: Exception) -> str:
    return str(exc.args[0]) if exc.args else type(exc).__name__


def _classify(exc: Exception, location: str) -> SignatureInvalid:
    msg = _plain(exc)
    if isinstance(exc, cv.RevokedError):
        return SignatureInvalid("revoked", msg, location=location)
    if isinstance(exc, cv.ExpiredError):
        return SignatureInvalid("expired", msg, location=location)
    if isinstance(exc, cv.NotYetValidError):
        return SignatureInvalid("not_yet_valid", msg, location=location)
    if isinstance(exc, cv.DisallowedAlgorithmError):
        return SignatureInvalid("weak_algorithm", msg, location=location)
    if isinstance(exc, cv.PathBuildingError):
        return SignatureInvalid("untrusted", f"no path to a trusted root: {msg}", location=location)
    if isinstance(exc, cv.InvalidCertificateError):
        return SignatureInvalid("key_usage", msg, location=location)
    if isinstance(exc, cv.PathValidationError):
        return SignatureInvalid("untrusted", msg, location=location)
    return SignatureInvalid("untrusted", f"{type(exc).__name__}: {msg}", location=location)
