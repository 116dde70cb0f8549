"""Signed PDF attachments (PAdES, pyHanko): signer checked against the sending unit; revocation that
cannot be checked is "unknown", never "valid"."""

from __future__ import annotations

import base64
import hashlib
import shutil
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from gateway import calendar
from gateway.clock import VN_TZ
from gateway.errors import SignatureInvalid, SignatureUnknown
from gateway.packets import model as m
from gateway.signing.pdf import make_pdf, sign_pdf, verify_pdf
from gateway.signing.seal import Sealer, verify_attachments
from gateway.signing.trust import TrustStore
from tests.support.signing import PROFILE, key, signer, verifier

LETTER = ["Bao cao tinh hinh kinh te - xa hoi thang 10/2026", "UBND tinh Lao Cai"]


def refusal(pdf: bytes, pki: Path, unit: str | None = "H15") -> SignatureInvalid:
    with pytest.raises(SignatureInvalid) as caught:
        verify_pdf(pdf, TrustStore(pki / "trust"), unit_code=unit, source="baocao.pdf")
    return caught.value


@pytest.mark.parametrize("who", ["signer", "signer-ec"])
def test_signed_pdf_by_the_sending_unit_verifies(test_pki: Path, who: str) -> None:
    signed = sign_pdf(make_pdf(LETTER), key(test_pki, who))
    [signer_] = verify_pdf(signed, TrustStore(test_pki / "trust"), unit_code="H15")
    assert signer_.unit_code == "H15"
    assert signer_.revocation == "good"


def test_changed_pdf_is_tampered(test_pki: Path) -> None:
    signed = bytearray(sign_pdf(make_pdf(LETTER), key(test_pki, "signer")))
    at = signed.find(b"thang 10")
    signed[at + 6 : at + 8] = b"11"
    assert refusal(bytes(signed), test_pki).code == "tampered"


def test_content_appended_after_signing_is_tampered(test_pki: Path) -> None:
    signed = sign_pdf(make_pdf(LETTER), key(test_pki, "signer"))
    error = refusal(signed + b"\n%% added later\n", test_pki)
    assert error.code == "tampered"
    assert "added after signing" in str(error)


@pytest.mark.parametrize(("who", "code"), [("untrusted", "untrusted"), ("revoked", "revoked"), ("expired", "expired")])
def test_untrusted_revoked_and_expired_signers_are_refused(test_pki: Path, who: str, code: str) -> None:
    assert refusal(sign_pdf(make_pdf(LETTER), key(test_pki, who)), test_pki).code == code


def test_signer_must_be_the_sending_unit(test_pki: Path) -> None:
    error = refusal(sign_pdf(make_pdf(LETTER), key(test_pki, "national")), test_pki, unit="H15")
    assert error.code == "signer_mismatch"


def test_unsigned_and_unreadable_pdfs_are_refused(test_pki: Path) -> None:
    assert refusal(make_pdf(LETTER), test_pki).code == "unsigned"
    assert refusal(b"%PDF-1.7\nnot really", test_pki).code == "malformed"


def test_pdf_revocation_unknown_is_decided_by_policy(test_pki: Path, tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    shutil.copytree(test_pki, pki)
    (pki / "trust" / "intermediate.crl").unlink()
    signed = sign_pdf(make_pdf(LETTER), key(pki, "signer"))
    with pytest.raises(SignatureUnknown):
        verify_pdf(signed, TrustStore(pki / "trust"))
    [accepted] = verify_pdf(signed, TrustStore(pki / "trust", revocation_unknown="accept"))
    assert accepted.revocation == "unknown"


def narrative(pdf: bytes, unit: str = "H15") -> m.Envelope:
    now = datetime.now(VN_TZ)
    return m.Envelope(
        packet_id=uuid.uuid4(),
        packet_type=m.PacketType.GUI_DE_CUONG,
        profile=PROFILE.id,
        created_at=now,
        sender=m.Unit(code="H15", name="Ủy ban nhân dân tỉnh Lào Cai"),
        receiver=m.Unit(code="G01", name="Hệ thống thông tin báo cáo Chính phủ"),
        body=m.NarrativeReport(
            regime_code="KTXH-THANG",
            outline_code="DC01",
            period=calendar.period("THANG", 10, 2026),
            reporting_unit=m.Unit(code=unit, name="Ủy ban nhân dân tỉnh Lào Cai"),
            revision=1,
            document=m.Document(
                document_number="125/BC-UBND",
                issued_on=now.date(),
                summary="Báo cáo tình hình kinh tế - xã hội tháng 10",
                signer=m.Signer(full_name="Nguyễn Văn A", title="Chủ tịch"),
            ),
            attachments=[
                m.Attachment(
                    file_name="baocao.pdf",
                    media_type="application/pdf",
                    data=base64.b64encode(pdf).decode(),
                    sha256=hashlib.sha256(pdf).hexdigest(),
                )
            ],
        ),
    )


def test_outline_report_attachments_are_verified_before_sealing(test_pki: Path) -> None:
    good = narrative(sign_pdf(make_pdf(LETTER), key(test_pki, "signer")))
    trust = TrustStore(test_pki / "trust")
    assert [s.unit_code for s in verify_attachments(good, trust)] == ["H15"]
    sealer = Sealer(PROFILE, signer(test_pki), ["national"], trust)
    sealed = sealer.seal(good, "xml", ["national"])
    assert verifier(test_pki).verify(sealed, "sealed").signer.unit_code == "H15"
    forged = narrative(sign_pdf(make_pdf(LETTER), key(test_pki, "untrusted")))
    with pytest.raises(SignatureInvalid) as caught:
        sealer.seal(forged, "json", ["national"])
    assert caught.value.code == "untrusted"
    assert "attachment 1 (baocao.pdf)" in str(caught.value)
