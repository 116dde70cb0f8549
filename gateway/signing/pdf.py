"""Signed PDF reports (``TepDinhKem``): PAdES/CMS signatures verified with pyHanko.

Officials sign report documents today through the government CA's signing agent; the PDF travels as an
attachment of a ``GUI_DE_CUONG`` packet. We verify that every signature is intact, covers the whole
file (nothing appended after signing), chains to a trusted root with its revocation checked against
our CRLs, and that the signer's unit code matches the unit that sent the report. When revocation
cannot be established the answer is ``unknown``: policy (``trust.revocation_unknown``) decides.
"""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from gateway.errors import SignatureInvalid
from gateway.signing.keys import SigningKey
from gateway.signing.seal import PDF_MEDIA_TYPE as PDF_MEDIA_TYPE  # defined where pyHanko is not imported
from gateway.signing.trust import WEAK_HASHES, Signer, TrustStore, run_sync


def make_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with ASCII ``lines`` of text: enough for tests and the demo's cover letter."""
    writer = PdfFileWriter()
    text = " ".join(f"({line.replace('(', '[').replace(')', ']')}) Tj T*" for line in lines)
    stream = generic.StreamObject(stream_data=f"BT /F1 12 Tf 14 TL 50 780 Td {text} ET".encode("latin-1", "replace"))
    font = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Font"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
            generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica"),
        }
    )
    page = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Page"),
            generic.pdf_name("/MediaBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 595, 842)]),
            generic.pdf_name("/Contents"): writer.add_object(stream),
            generic.pdf_name("/Resources"): generic.DictionaryObject(
                {generic.pdf_name("/Font"): generic.DictionaryObject({generic.pdf_name("/F1"): font})}
            ),
        }
    )
    writer.insert_page(page)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def sign_pdf(pdf: bytes, key: SigningKey, *, field: str = "ChuKySo1") -> bytes:
    """Add a PAdES signature (what the CA's signing agent does for an official)."""
    der_key = key.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = signers.SimpleSigner(
        signing_cert=_asn1(key.certificate),
        signing_key=asn1_keys.PrivateKeyInfo.load(der_key),
        cert_registry=SimpleCertificateStore.from_certs([_asn1(c) for c in key.chain]),
    )
    out = BytesIO()
    signers.sign_pdf(
        IncrementalPdfFileWriter(BytesIO(pdf)),
        signers.PdfSignatureMetadata(field_name=field, subfilter=SigSeedSubFilter.PADES),
        signer=signer,
        output=out,
    )
    return out.getvalue()


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def verify_pdf(pdf: bytes, trust: TrustStore, *, unit_code: str | None = None, source: str = "") -> list[Signer]:
    """Every signature in ``pdf``: intact, whole-file, trusted, not revoked, by ``unit_code``'s signer."""
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        signatures = reader.embedded_signatures
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise SignatureInvalid("malformed", f"not a readable PDF ({exc})", location=source) from exc
    if not signatures:
        raise SignatureInvalid("unsigned", "the PDF carries no signature", location=source)
    trust.refresh()
    out = []
    for index, embedded in enumerate(signatures, start=1):
        where = f"{source} signature {index} ({embedded.field_name})"
        context = ValidationContext(
            trust_roots=trust.roots,
            other_certs=trust.intermediates,
            crls=trust.crls,
            allow_fetching=False,
            revocation_mode="require",
            weak_hash_algos=WEAK_HASHES,
            retroactive_revinfo=True,
        )
        try:
            status = run_sync(async_validate_pdf_signature(embedded, signer_validation_context=context))
        except (SigningError, ValueError, KeyError) as exc:
            raise SignatureInvalid("malformed", f"cannot evaluate ({exc})", location=where) from exc
        carried = tuple(x509.load_der_x509_certificate(c.dump()) for c in embedded.other_embedded_certs)
        signer = _judge(status, trust, where, last=index == len(signatures), embedded=carried)
        if unit_code and signer.unit_code and signer.unit_code != unit_code:
            raise SignatureInvalid(
                "signer_mismatch",
                f"signed by unit {signer.unit_code}, but the report comes from {unit_code}",
                location=where,
            )
        out.append(signer)
    return out


def _judge(
    status: PdfSignatureStatus,
    trust: TrustStore,
    where: str,
    *,
    last: bool,
    embedded: tuple[x509.Certificate, ...] = (),
) -> Signer:
    cert = x509.load_der_x509_certificate(status.signing_cert.dump())
    if not status.intact or not status.valid:
        raise SignatureInvalid("tampered", "the signed bytes changed or the signature value is wrong", location=where)
    coverage = status.coverage
    if coverage is not SignatureCoverageLevel.ENTIRE_FILE and not (
        not last
        and coverage is SignatureCoverageLevel.ENTIRE_REVISION
        and status.docmdp_ok is not False
        and status.modification_level is not None
        and status.modification_level <= ModificationLevel.FORM_FILLING
    ):
        # Only a later signature's revision may follow an earlier signature; anything else appended
        # after the last signature is unsigned content.
        raise SignatureInvalid(
            "tampered",
            f"content was added after signing ({coverage.name if coverage else 'unknown coverage'})",
            location=where,
        )
    # The chain is judged by the same trust store as packet signatures, at the signing time the CMS
    # reports (bounded by now), so a PDF and a packet signed by the same certificate get the same answer.
    now = datetime.now(UTC)
    reported = status.signer_reported_dt
    moment = reported if reported is not None and reported <= now else now
    return trust.validate(cert, moment, extra=embedded, location=where)
