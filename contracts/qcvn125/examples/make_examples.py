"""Write the golden examples: one realistic valid packet of each of the 13 types, in JSON and XML,
and invalid variants with the errors they must produce (``expected-errors.json``).

    python contracts/qcvn125/examples/make_examples.py

Deterministic (fixed ids and times), so a test can check the committed files are what this makes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from gateway import calendar  # noqa: E402
from gateway.packets import model as m  # noqa: E402
from gateway.packets.validate import write_packet  # noqa: E402

HERE = Path(__file__).resolve().parent
TZ = timezone(timedelta(hours=7))
AT = datetime(2026, 10, 20, 9, 0, tzinfo=TZ)
PROVINCE = m.Unit(code="H15", name="Ủy ban nhân dân tỉnh Lào Cai")
GOV = m.Unit(code="G01", name="Hệ thống thông tin báo cáo Chính phủ")
OCT = calendar.period("THANG", 10, 2026)
Q3 = calendar.period("QUY", 3, 2026)
SIGNER = m.Signer(full_name="Nguyễn Văn An", title="Phó Chủ tịch Ủy ban nhân dân tỉnh")
PDF = b"%PDF-1.7\n% Bao cao thuyet minh tinh hinh kinh te - xa hoi thang 10/2026\n%%EOF\n"


def pid(n: int) -> uuid.UUID:
    return uuid.UUID(f"00000000-0000-4000-8000-{n:012d}")


def bodies() -> dict[m.PacketType, m.Body]:
    return {
        m.PacketType.CHE_DO_BAO_CAO: m.Regime(
            regime_code="KTXH-THANG",
            regime_name="Báo cáo tình hình kinh tế - xã hội hằng tháng",
            regime_type=m.RegimeType.DINH_KY,
            legal_basis=m.LegalBasis(document_number="09/2019/NĐ-CP", issued_on=date(2019, 1, 24), issuer="Chính phủ"),
            field="Kinh tế - xã hội",
            frequency=m.PeriodType.THANG,
            cutoff=m.CutOff(start_day=15, end_day=14),
            deadline=m.Deadline(day_of_month=25),
            reporting_units=["H15", "H16"],
            receiving_units=["G01"],
            delivery_method=m.DeliveryMethod.HE_THONG,
            forms=["BM01-KT", "BM02-XH"],
            outlines=["DC-KTXH"],
            valid_for=m.Validfor(start=date(2026, 1, 1)),
            validity=m.Validity.HIEU_LUC,
        ),
        m.PacketType.BIEU_MAU_BAO_CAO: m.Form(
            form_code="BM01-KT",
            form_name="Một số chỉ tiêu kinh tế chủ yếu",
            regime_code="KTXH-THANG",
            form_kind=m.FormKind.SO_LIEU,
            rows=[
                m.FormRow(row_code="01", ordinal=1, row_name="Tổng mức bán lẻ hàng hóa", indicator_code="0501"),
                m.FormRow(
                    row_code="01.1",
                    ordinal=2,
                    row_name="Trong đó: bán lẻ hàng hóa",
                    indicator_code="0501.1",
                    parent_row_code="01",
                ),
            ],
            columns=[
                m.FormColumn(
                    column_code="TH", column_name="Thực hiện tháng báo cáo", unit="tỷ đồng", data_kind=m.DataKind.SO
                ),
                m.FormColumn(column_code="GC", column_name="Ghi chú", unit="-", data_kind=m.DataKind.VAN_BAN),
            ],
        ),
        m.PacketType.BIEU_MAU_DE_CUONG: m.Outline(
            outline_code="DC-KTXH",
            outline_name="Đề cương báo cáo kinh tế - xã hội tháng",
            regime_code="KTXH-THANG",
            sections=[
                m.OutlineSection(
                    section_code="I",
                    ordinal=1,
                    title="Tình hình kinh tế - xã hội",
                    guidance="Nêu kết quả nổi bật trong tháng",
                ),
                m.OutlineSection(section_code="II", ordinal=2, title="Nhiệm vụ, giải pháp tháng tới"),
            ],
        ),
        m.PacketType.SO_LIEU_BAO_CAO: m.ReportFigures(
            regime_code="KTXH-THANG",
            form_code="BM01-KT",
            period=OCT,
            reporting_unit=PROVINCE,
            revision=1,
            sent_at=AT,
            signer=SIGNER,
            figures=[
                m.Figure(
                    row_code="01",
                    indicator_code="0501",
                    column_code="TH",
                    value="1523.75",
                    unit="tỷ đồng",
                    disaggregation=[m.Disaggregation(dimension="DVHC", value_code="15")],
                ),
                m.Figure(
                    row_code="01",
                    indicator_code="0501",
                    column_code="TH",
                    value="84.2",
                    unit="tỷ đồng",
                    disaggregation=[m.Disaggregation(dimension="DVHC", value_code="02647")],
                ),
                m.Figure(
                    row_code="01",
                    indicator_code="0501",
                    column_code="GC",
                    value="Số ước tính",
                    note="Cục Thống kê chưa công bố số chính thức",
                ),
            ],
        ),
        m.PacketType.SO_LIEU_DANH_SACH: m.ReportList(
            regime_code="DA-DTC",
            form_code="BM05-DS",
            period=Q3,
            reporting_unit=PROVINCE,
            revision=1,
            sent_at=AT,
            records=[
                m.Record(
                    ordinal=1,
                    fields=[
                        m.RecordField(column_code="TEN_DU_AN", value="Đường nối Sa Pa - Bát Xát"),
                        m.RecordField(column_code="VON_GIAO", value="120000"),
                    ],
                ),
                m.Record(
                    ordinal=2,
                    fields=[
                        m.RecordField(column_code="TEN_DU_AN", value="Trường PTDTBT Y Tý"),
                        m.RecordField(column_code="VON_GIAO", value="18500.5"),
                    ],
                ),
            ],
        ),
        m.PacketType.GUI_DE_CUONG: m.NarrativeReport(
            regime_code="KTXH-THANG",
            outline_code="DC-KTXH",
            period=OCT,
            reporting_unit=PROVINCE,
            revision=1,
            document=m.Document(
                document_number="312/BC-UBND",
                issued_on=date(2026, 10, 19),
                summary="Báo cáo tình hình kinh tế - xã hội tháng 10 năm 2026",
                signer=SIGNER,
            ),
            section_contents=[
                m.SectionContent(section_code="I", content="Kinh tế tiếp tục tăng trưởng khá."),
                m.SectionContent(section_code="II", content="Tập trung khắc phục hậu quả mưa lũ."),
            ],
            attachments=[
                m.Attachment(
                    file_name="bao-cao-thang-10.pdf",
                    media_type="application/pdf",
                    data=base64.b64encode(PDF).decode(),
                    sha256=hashlib.sha256(PDF).hexdigest(),
                )
            ],
        ),
        m.PacketType.TRANG_THAI_BAO_CAO: m.StatusReport(
            original_packet_id=pid(4),
            regime_code="KTXH-THANG",
            period=OCT,
            reporting_unit=PROVINCE,
            revision=1,
            status=m.ReportStatus.TRA_LAI,
            at=AT + timedelta(hours=3),
            handler="Vụ Tổng hợp, Văn phòng Chính phủ",
            reason="Chỉ tiêu 0501 tăng bất thường so với tháng trước, đề nghị kiểm tra lại",
            error_details=[m.ErrorDetail(location="/NoiDung/SoLieu/0/GiaTri", description="Tăng 38% so với tháng 9")],
        ),
        m.PacketType.DANH_MUC_KY_BAO_CAO: m.PeriodCatalogue(
            periods=[
                m.PeriodEntry(period_key="2026-THANG-10", period=OCT, due_date=date(2026, 10, 26)),
                m.PeriodEntry(period_key="2026-QUY-3", period=Q3, due_date=date(2026, 9, 25)),
            ]
        ),
        m.PacketType.DANH_MUC_CHI_TIEU: m.IndicatorCatalogue(
            indicators=[
                m.Indicator(
                    indicator_code="0201",
                    indicator_name="Dân số trung bình",
                    unit="người",
                    data_kind=m.DataKind.SO,
                    field="Dân số",
                    concept="Số dân bình quân của kỳ",
                    method="Bình quân số dân đầu và cuối kỳ",
                    host_agency="Cục Thống kê",
                    validity=m.Validity.HIEU_LUC,
                ),
                m.Indicator(
                    indicator_code="0203",
                    indicator_name="Mật độ dân số",
                    unit="người/km2",
                    data_kind=m.DataKind.SO,
                    parent_indicator_code="0201",
                    field="Dân số",
                    host_agency="Cục Thống kê",
                    validity=m.Validity.HIEU_LUC,
                ),
            ]
        ),
        m.PacketType.BO_CHI_SO: m.KpiSet(
            kpis=[
                m.Kpi(
                    kpi_code="CS-0501",
                    kpi_name="Tốc độ tăng tổng mức bán lẻ",
                    group_code="KT",
                    unit="%",
                    frequency=m.PeriodType.THANG,
                    formula="(TMBL kỳ này / TMBL cùng kỳ - 1) x 100",
                    applicable_dimensions=["DVHC"],
                    data_source="Cục Thống kê",
                    host_agency="Bộ Công Thương",
                    target="10.5",
                )
            ]
        ),
        m.PacketType.DANH_MUC_NHOM_CHI_SO: m.KpiGroupCatalogue(
            groups=[
                m.KpiGroup(group_code="KT", group_name="Kinh tế", ordinal=1),
                m.KpiGroup(
                    group_code="KT-TM",
                    group_name="Thương mại",
                    parent_group_code="KT",
                    description="Bán lẻ, xuất nhập khẩu",
                    ordinal=2,
                ),
            ]
        ),
        m.PacketType.DANH_MUC_PHAN_TO: m.DimensionCatalogue(
            dimensions=[
                m.Dimension(
                    dimension="GIOI_TINH",
                    dimension_name="Giới tính",
                    values=[
                        m.DimensionValue(value_code="NAM", value_name="Nam"),
                        m.DimensionValue(value_code="NU", value_name="Nữ"),
                    ],
                )
            ]
        ),
        m.PacketType.DU_LIEU_CHI_SO: m.KpiData(
            reporting_unit=PROVINCE,
            kpi_values=[
                m.KpiValue(
                    kpi_code="CS-0501",
                    period=OCT,
                    value="12.35",
                    figure_status=m.FigureStatus.SO_BO,
                    updated_at=AT,
                    disaggregation=[m.Disaggregation(dimension="DVHC", value_code="15")],
                )
            ],
        ),
    }


def envelope(ptype: m.PacketType, body: m.Body, n: int) -> m.Envelope:
    sender, receiver = (GOV, PROVINCE) if ptype is m.PacketType.TRANG_THAI_BAO_CAO else (PROVINCE, GOV)
    return m.Envelope(
        packet_id=pid(n),
        packet_type=ptype,
        profile="qcvn125-gw/0",
        created_at=AT,
        sender=sender,
        receiver=receiver,
        body=body,
    )


# Invalid variants: a change to the valid JSON document, and the error locations it must produce.
Mutation = Callable[[dict[str, Any]], None]
INVALID: list[tuple[str, m.PacketType, Mutation, list[str]]] = [
    ("unknown-field", m.PacketType.SO_LIEU_BAO_CAO, lambda d: d["NoiDung"].update(SoLieuu=[]), ["/NoiDung"]),
    ("missing-required", m.PacketType.SO_LIEU_BAO_CAO, lambda d: d["NoiDung"].pop("MaCheDo"), ["/NoiDung"]),
    (
        "revision-zero-and-bad-type",
        m.PacketType.SO_LIEU_BAO_CAO,
        lambda d: d["NoiDung"].update(LanGui=0, MaBieuMau=7),
        ["/NoiDung/LanGui", "/NoiDung/MaBieuMau"],
    ),
    ("no-figures", m.PacketType.SO_LIEU_BAO_CAO, lambda d: d["NoiDung"].update(SoLieu=[]), ["/NoiDung/SoLieu"]),
    (
        "period-end-outside-month",
        m.PacketType.SO_LIEU_BAO_CAO,
        lambda d: d["NoiDung"]["KyBaoCao"].update(SoKy=11),
        ["/NoiDung/KyBaoCao/DenNgay"],
    ),
    ("return-without-reason", m.PacketType.TRANG_THAI_BAO_CAO, lambda d: d["NoiDung"].pop("LyDo"), ["/NoiDung/LyDo"]),
    (
        "unknown-status",
        m.PacketType.TRANG_THAI_BAO_CAO,
        lambda d: d["NoiDung"].update(TrangThai="DA_XEM"),
        ["/NoiDung/TrangThai"],
    ),
    (
        "timestamp-without-offset",
        m.PacketType.DU_LIEU_CHI_SO,
        lambda d: d.update(ThoiGianTao="2026-10-20T09:00:00"),
        ["/ThoiGianTao"],
    ),
    (
        "decimal-with-exponent",
        m.PacketType.DU_LIEU_CHI_SO,
        lambda d: d["NoiDung"]["DuLieu"][0].update(GiaTri="1.2e3"),
        ["/NoiDung/DuLieu/0/GiaTri"],
    ),
    (
        "attachment-hash-mismatch",
        m.PacketType.GUI_DE_CUONG,
        lambda d: d["NoiDung"]["TepDinhKem"][0].update(BamSHA256="0" * 64),
        ["/NoiDung/TepDinhKem/0/BamSHA256"],
    ),
    (
        "two-deadline-forms",
        m.PacketType.CHE_DO_BAO_CAO,
        lambda d: d["NoiDung"]["HanGui"].update(SoNgaySauChot=5),
        ["/NoiDung/HanGui"],
    ),
    (
        "period-key-mismatch",
        m.PacketType.DANH_MUC_KY_BAO_CAO,
        lambda d: d["NoiDung"]["Ky"][0].update(MaKy="2026-THANG-9"),
        ["/NoiDung/Ky/0/MaKy"],
    ),
    (
        "text-not-nfc",
        m.PacketType.DANH_MUC_NHOM_CHI_SO,
        lambda d: d["NoiDung"]["Nhom"][0].update(TenNhom="Kinh te\u0302\u0301"),
        ["/NoiDung/Nhom/0/TenNhom"],
    ),
    (
        "legacy-tcvn3-text",
        m.PacketType.DANH_MUC_PHAN_TO,
        lambda d: d["NoiDung"]["PhanTo"][0].update(TenPhanTo="Ph©n tæ theo giíi tÝnh"),
        ["/NoiDung/PhanTo/0/TenPhanTo"],
    ),
]


def build() -> list[Path]:
    written: list[Path] = []
    valid_dir, invalid_dir = HERE / "valid", HERE / "invalid"
    valid_dir.mkdir(exist_ok=True)
    invalid_dir.mkdir(exist_ok=True)
    docs: dict[m.PacketType, dict[str, Any]] = {}
    for n, (ptype, body) in enumerate(bodies().items(), start=1):
        env = envelope(ptype, body, n)
        as_json = json.loads(write_packet(env, "json"))
        docs[ptype] = as_json
        for fmt, data in (
            ("json", json.dumps(as_json, ensure_ascii=False, indent=2).encode() + b"\n"),
            ("xml", write_packet(env, "xml") + b"\n"),
        ):
            path = valid_dir / f"{ptype.value}.{fmt}"
            path.write_bytes(data)
            written.append(path)
    expected: dict[str, list[str]] = {}
    for name, ptype, mutate, locations in INVALID:
        doc = json.loads(json.dumps(docs[ptype]))
        mutate(doc)
        path = invalid_dir / f"{ptype.value}--{name}.json"
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        expected[path.name] = locations
        written.append(path)
    (invalid_dir / "expected-errors.json").write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")
    return written


if __name__ == "__main__":
    for p in build():
        print(p.relative_to(ROOT))
