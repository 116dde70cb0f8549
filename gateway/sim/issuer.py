"""What the Government reporting system issues to provinces, as the simulator sends it.

``POST /sim/issue`` makes the simulator build a regime (``CHE_DO_BAO_CAO``), a form
(``BIEU_MAU_BAO_CAO``) or an outline (``BIEU_MAU_DE_CUONG``) from its own small catalogue, sign it
with its key, and POST it to a province's intake (``/v1/intake/packets``) with the bearer token it is
given; it answers with what the province answered. Tests and the demo use it to exercise the
inbound path with packets the gateway did not make.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict

from gateway.clock import VN_TZ
from gateway.packets import model as m
from gateway.packets.validate import write_packet
from gateway.signing.packets import PacketSigner

ISSUE_PATH = "/sim/issue"


class IssueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["CHE_DO_BAO_CAO", "BIEU_MAU_BAO_CAO", "BIEU_MAU_DE_CUONG"]
    intake_url: str
    token: str
    to: dict[str, str]
    format: Literal["json", "xml"] = "json"
    code: str | None = None


def issued_body(kind: m.PacketType, code: str | None) -> m.Body:
    """The simulator's own regime, form or outline (Decree 09 defaults, a quarterly regime)."""
    regime = "KTXH-QUY-SIM"
    if kind is m.PacketType.CHE_DO_BAO_CAO:
        return m.Regime(
            regime_code=code or regime,
            regime_name="Báo cáo kinh tế - xã hội hằng quý (mô phỏng)",
            regime_type=m.RegimeType.DINH_KY,
            legal_basis=m.LegalBasis(document_number="09/2019/NĐ-CP", issued_on=date(2019, 1, 24), issuer="Chính phủ"),
            field="Kinh tế - xã hội",
            frequency=m.PeriodType.QUY,
            cutoff=m.CutOff(start_day=15, end_day=14),
            deadline=m.Deadline(day_of_month=20),
            reporting_units=["H15"],
            receiving_units=["G01"],
            delivery_method=m.DeliveryMethod.HE_THONG,
            forms=["BM-QUY-01"],
            outlines=["DC-QUY-01"],
            valid_for=m.Validfor(start=date(2027, 1, 1)),
            validity=m.Validity.HIEU_LUC,
        )
    if kind is m.PacketType.BIEU_MAU_BAO_CAO:
        return m.Form(
            form_code=code or "BM-QUY-01",
            form_name="Một số chỉ tiêu kinh tế chủ yếu hằng quý",
            regime_code=regime,
            form_kind=m.FormKind.SO_LIEU,
            rows=[
                m.FormRow(row_code="01", ordinal=1, row_name="Thu ngân sách nhà nước", indicator_code="0701"),
                m.FormRow(row_code="02", ordinal=2, row_name="Kim ngạch xuất khẩu", indicator_code="0801"),
            ],
            columns=[m.FormColumn(column_code="TH", column_name="Thực hiện", unit="tỷ đồng", data_kind=m.DataKind.SO)],
        )
    return m.Outline(
        outline_code=code or "DC-QUY-01",
        outline_name="Đề cương báo cáo kinh tế - xã hội hằng quý",
        regime_code=regime,
        sections=[
            m.OutlineSection(section_code="I", ordinal=1, title="Kết quả đạt được", guidance="Số liệu chính"),
            m.OutlineSection(section_code="II", ordinal=2, title="Khó khăn, vướng mắc"),
            m.OutlineSection(section_code="III", ordinal=3, title="Kiến nghị"),
        ],
    )


FEED_PATH = "/api/qcvn125/goi-tin-gui"
"""Where the simulator publishes what it issues for provinces that poll (``poll_url``)."""


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["CHE_DO_BAO_CAO", "BIEU_MAU_BAO_CAO", "BIEU_MAU_DE_CUONG"]
    to: dict[str, str]
    format: Literal["json", "xml"] = "json"
    code: str | None = None


def issued(request: IssueRequest | PublishRequest, me: m.Unit, signer: PacketSigner | None) -> bytes:
    """One signed packet the simulator issues."""
    kind = m.PacketType(request.type)
    envelope = m.Envelope(
        packet_id=uuid.uuid4(),
        packet_type=kind,
        profile="qcvn125-gw/0",
        created_at=datetime.now(VN_TZ),
        sender=me,
        receiver=m.Unit(code=request.to["code"], name=request.to.get("name", request.to["code"])),
        body=issued_body(kind, request.code),
    )
    data = write_packet(envelope, request.format)
    return signer.sign(data) if signer is not None else data


def issue(request: IssueRequest, me: m.Unit, signer: PacketSigner | None) -> tuple[int, bytes, str]:
    """Build, sign and POST one packet; the province's HTTP status, body and content type."""
    data = issued(request, me, signer)
    with httpx.Client(timeout=30, trust_env=False) as client:
        answer = client.post(
            request.intake_url,
            content=data,
            headers={"authorization": f"Bearer {request.token}", "content-type": f"application/{request.format}"},
        )
    return answer.status_code, answer.content, answer.headers.get("content-type", "application/octet-stream")
