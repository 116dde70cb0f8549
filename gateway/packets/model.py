"""The canonical, typed model of TT 02/2021 (QCVN 125:2021/BTTTT) packets.

Field names here are ours and stable; wire names (``MaGoiTin``, ``KyBaoCao`` ...) come from the active
profile in ``contracts/qcvn125/profiles/`` so that adopting the official field tables is a change of
data, not of code. Field *order* in each model is the order of the profile's field table, which the
XML codec and the schema generators follow.

Decimal values are kept as strings in plain decimal notation end to end: they never pass through
``float``. Cross-field rules (``LyDo`` required for returns, period consistency, NFC text) live in
``gateway.packets.rules`` so that every violation can be reported, not just the first.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import Field, StringConstraints, TypeAdapter, model_validator

# The reporting period and the models' base are in their own module: the calendar (and so every
# ingest) needs them, not the fifty other models here (issue 19: 0.04 s of an ingest's start-up).
from gateway.packets.period import Part as Part
from gateway.packets.period import Period as Period
from gateway.packets.period import PeriodType as PeriodType

DECIMAL_PATTERN = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$"
"""Plain decimal notation: no exponent, no thousands separators, no leading '+' or zeros."""

Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=100)]
# Base64 of a certificate, a signature value or an RFC 3161 token (which may carry the TSA's chain):
# longer than any text field. A field-level ``Field(max_length=...)`` does not widen ``Text`` (the
# type's own 4000 still applied), hence a type of its own.
Base64Blob = Annotated[str, StringConstraints(min_length=1, max_length=65536)]
DecimalText = Annotated[str, StringConstraints(pattern=DECIMAL_PATTERN, max_length=64)]


def decimal_text(value: Decimal | int | str) -> str:
    """Render a number in the profile's plain decimal notation (``"1234.50"``, ``"-0.5"``)."""
    d = Decimal(str(value)) if not isinstance(value, Decimal) else value
    text = format(d, "f")
    if text.startswith("-") and Decimal(text) == 0:
        text = text[1:]
    return text


class PacketType(StrEnum):
    CHE_DO_BAO_CAO = "CHE_DO_BAO_CAO"
    BIEU_MAU_BAO_CAO = "BIEU_MAU_BAO_CAO"
    BIEU_MAU_DE_CUONG = "BIEU_MAU_DE_CUONG"
    SO_LIEU_BAO_CAO = "SO_LIEU_BAO_CAO"
    SO_LIEU_DANH_SACH = "SO_LIEU_DANH_SACH"
    GUI_DE_CUONG = "GUI_DE_CUONG"
    TRANG_THAI_BAO_CAO = "TRANG_THAI_BAO_CAO"
    DANH_MUC_KY_BAO_CAO = "DANH_MUC_KY_BAO_CAO"
    DANH_MUC_CHI_TIEU = "DANH_MUC_CHI_TIEU"
    BO_CHI_SO = "BO_CHI_SO"
    DANH_MUC_NHOM_CHI_SO = "DANH_MUC_NHOM_CHI_SO"
    DANH_MUC_PHAN_TO = "DANH_MUC_PHAN_TO"
    DU_LIEU_CHI_SO = "DU_LIEU_CHI_SO"


class RegimeType(StrEnum):
    DINH_KY = "DINH_KY"
    CHUYEN_DE = "CHUYEN_DE"
    DOT_XUAT = "DOT_XUAT"


class DeliveryMethod(StrEnum):
    HE_THONG = "HE_THONG"
    VAN_BAN_DIEN_TU = "VAN_BAN_DIEN_TU"
    VAN_BAN_GIAY = "VAN_BAN_GIAY"


class Validity(StrEnum):
    HIEU_LUC = "HIEU_LUC"
    HET_HIEU_LUC = "HET_HIEU_LUC"


class FormKind(StrEnum):
    SO_LIEU = "SO_LIEU"
    DANH_SACH = "DANH_SACH"


class DataKind(StrEnum):
    SO = "SO"
    VAN_BAN = "VAN_BAN"
    NGAY = "NGAY"


class ReportStatus(StrEnum):
    DA_TIEP_NHAN = "DA_TIEP_NHAN"
    TU_CHOI = "TU_CHOI"
    DA_DUYET = "DA_DUYET"
    TRA_LAI = "TRA_LAI"
    DA_THU_HOI = "DA_THU_HOI"
    YEU_CAU_DINH_CHINH = "YEU_CAU_DINH_CHINH"


class FigureStatus(StrEnum):
    SO_BO = "SO_BO"
    CHINH_THUC = "CHINH_THUC"
    UOC_TINH = "UOC_TINH"


# ---------------------------------------------------------------- shared parts
class Unit(Part):
    code: Code
    name: Text


class Disaggregation(Part):
    dimension: Code
    value_code: Code


class Signer(Part):
    full_name: Text
    title: Text


class LegalBasis(Part):
    document_number: Text
    issued_on: date
    issuer: Text


class CutOff(Part):
    start_day: int = Field(ge=1, le=31)
    end_day: int = Field(ge=1, le=31)


class Deadline(Part):
    """Exactly one of the two is present (checked in ``rules``)."""

    day_of_month: int | None = Field(default=None, ge=1, le=31)
    days_after_cutoff: int | None = Field(default=None, ge=0, le=366)


class Validfor(Part):
    start: date
    end: date | None = None


class Signature(Part):
    algorithm: Code
    certificate: Base64Blob
    value: Base64Blob
    # An RFC 3161 token over the signature value (gateway/signing/timestamps.py): optional, unsigned.
    timestamp_token: Base64Blob | None = None


# ---------------------------------------------------------------- bodies
class Body(Part):
    packet_type: ClassVar[PacketType]


class Regime(Body):
    packet_type = PacketType.CHE_DO_BAO_CAO
    regime_code: Code
    regime_name: Text
    regime_type: RegimeType
    legal_basis: LegalBasis
    field: Text
    frequency: PeriodType
    cutoff: CutOff
    deadline: Deadline
    reporting_units: list[Code] = []
    receiving_units: list[Code] = []
    delivery_method: DeliveryMethod
    forms: list[Code] = []
    outlines: list[Code] = []
    valid_for: Validfor
    validity: Validity


class FormRow(Part):
    row_code: Code
    ordinal: int = Field(ge=0)
    row_name: Text
    indicator_code: Code
    parent_row_code: Code | None = None


class FormColumn(Part):
    column_code: Code
    column_name: Text
    unit: Text
    data_kind: DataKind


class Form(Body):
    packet_type = PacketType.BIEU_MAU_BAO_CAO
    form_code: Code
    form_name: Text
    regime_code: Code
    form_kind: FormKind
    rows: list[FormRow] = []
    columns: list[FormColumn] = []


class OutlineSection(Part):
    section_code: Code
    ordinal: int = Field(ge=0)
    title: Text
    guidance: Text | None = None
    parent_section_code: Code | None = None


class Outline(Body):
    packet_type = PacketType.BIEU_MAU_DE_CUONG
    outline_code: Code
    outline_name: Text
    regime_code: Code
    sections: list[OutlineSection] = []


class Figure(Part):
    row_code: Code | None = None
    indicator_code: Code
    column_code: Code | None = None
    disaggregation: list[Disaggregation] = []
    value: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    unit: Text | None = None
    note: Text | None = None


_FIGURE_LIST: TypeAdapter[list[Figure]] = TypeAdapter(list[Figure])


def figures(rows: Iterable[dict[str, Any]]) -> list[Figure]:
    """Validate many figures (canonical names, disaggregation as dicts) in one pydantic-core call.

    Why: a packet holds up to 100,000+ figures, and one ``Figure(...)`` per figure pays a Python
    ``__init__`` per figure and per disaggregation; the list validator loops in Rust, about three
    times faster (bench/packets_bench.py). Errors locate the figure by its position."""
    return _FIGURE_LIST.validate_python(rows if isinstance(rows, list) else list(rows))


class SubmittedForm(Body):
    """What numeric and list-type report packets share: which form, for which period and unit, which
    revision, when, and who signed. Fields first, in the profile's order; each body adds its data."""

    regime_code: Code
    form_code: Code
    period: Period
    reporting_unit: Unit
    revision: int = Field(ge=1)
    sent_at: datetime
    signer: Signer | None = None


class ReportFigures(SubmittedForm):
    packet_type = PacketType.SO_LIEU_BAO_CAO
    figures: list[Figure] = Field(min_length=1)


class RecordField(Part):
    column_code: Code
    value: Annotated[str, StringConstraints(max_length=4000)]


class Record(Part):
    ordinal: int = Field(ge=0)
    fields: list[RecordField] = []


class ReportList(SubmittedForm):
    packet_type = PacketType.SO_LIEU_DANH_SACH
    records: list[Record] = []


class Document(Part):
    document_number: Text
    issued_on: date
    summary: Text
    signer: Signer


class SectionContent(Part):
    section_code: Code
    content: Annotated[str, StringConstraints(min_length=1, max_length=10_000_000)]


class Attachment(Part):
    file_name: Text
    media_type: Code
    data: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]*={0,2}$")]
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class NarrativeReport(Body):
    packet_type = PacketType.GUI_DE_CUONG
    regime_code: Code
    outline_code: Code
    period: Period
    reporting_unit: Unit
    revision: int = Field(ge=1)
    document: Document
    section_contents: list[SectionContent] = []
    attachments: list[Attachment] = []


class ErrorDetail(Part):
    location: Text
    description: Text


class StatusReport(Body):
    packet_type = PacketType.TRANG_THAI_BAO_CAO
    original_packet_id: uuid.UUID
    regime_code: Code
    period: Period
    reporting_unit: Unit
    revision: int = Field(ge=1)
    status: ReportStatus
    at: datetime
    handler: Text | None = None
    reason: Text | None = None
    error_details: list[ErrorDetail] = []


class PeriodEntry(Part):
    period_key: Code
    period: Period
    due_date: date


class PeriodCatalogue(Body):
    packet_type = PacketType.DANH_MUC_KY_BAO_CAO
    periods: list[PeriodEntry] = []


class Indicator(Part):
    indicator_code: Code
    indicator_name: Text
    unit: Text
    data_kind: DataKind
    parent_indicator_code: Code | None = None
    field: Text
    concept: Text | None = None
    method: Text | None = None
    host_agency: Text
    validity: Validity


class IndicatorCatalogue(Body):
    packet_type = PacketType.DANH_MUC_CHI_TIEU
    indicators: list[Indicator] = []


class Kpi(Part):
    kpi_code: Code
    kpi_name: Text
    group_code: Code
    unit: Text
    frequency: PeriodType
    formula: Text | None = None
    applicable_dimensions: list[Code] = []
    data_source: Text
    host_agency: Text
    target: DecimalText | None = None


class KpiSet(Body):
    packet_type = PacketType.BO_CHI_SO
    kpis: list[Kpi] = []


class KpiGroup(Part):
    group_code: Code
    group_name: Text
    parent_group_code: Code | None = None
    description: Text | None = None
    ordinal: int = Field(ge=0)


class KpiGroupCatalogue(Body):
    packet_type = PacketType.DANH_MUC_NHOM_CHI_SO
    groups: list[KpiGroup] = []


class DimensionValue(Part):
    value_code: Code
    value_name: Text
    parent_value_code: Code | None = None


class Dimension(Part):
    dimension: Code
    dimension_name: Text
    values: list[DimensionValue] = []


class DimensionCatalogue(Body):
    packet_type = PacketType.DANH_MUC_PHAN_TO
    dimensions: list[Dimension] = []


class KpiValue(Part):
    kpi_code: Code
    period: Period
    disaggregation: list[Disaggregation] = []
    value: DecimalText
    figure_status: FigureStatus
    updated_at: datetime


class KpiData(Body):
    packet_type = PacketType.DU_LIEU_CHI_SO
    reporting_unit: Unit
    kpi_values: list[KpiValue] = Field(min_length=1)


BODY_TYPES: dict[PacketType, type[Body]] = {
    cls.packet_type: cls
    for cls in (
        Regime,
        Form,
        Outline,
        ReportFigures,
        ReportList,
        NarrativeReport,
        StatusReport,
        PeriodCatalogue,
        IndicatorCatalogue,
        KpiSet,
        KpiGroupCatalogue,
        DimensionCatalogue,
        KpiData,
    )
}

HOMONYMS: dict[str, tuple[type[Part], ...]] = {"title": (Signer, OutlineSection)}
"""Canonical field names that mean different things in different models (a signer's position; a
section's heading). A profile must give each meaning its own wire name, scoping one of them as
``"Model.field"`` in profile.json; the loader refuses a profile that collapses them."""


class Envelope(Part):
    """One packet: the envelope shared by all 13 types and its typed body."""

    packet_id: uuid.UUID
    packet_type: PacketType
    profile: Code
    created_at: datetime
    sender: Unit
    receiver: Unit
    body: Body
    signature: Signature | None = None

    @model_validator(mode="before")
    @classmethod
    def _typed_body(cls, data: Any) -> Any:
        """Pick the body model from ``packet_type`` (the body itself does not carry its type)."""
        if isinstance(data, dict) and isinstance(data.get("body"), dict):
            try:
                body_cls = BODY_TYPES[PacketType(str(data.get("packet_type")))]
            except ValueError:
                return data
            return {**data, "body": body_cls.model_validate(data["body"])}
        return data

    @model_validator(mode="after")
    def _body_matches_type(self) -> Envelope:
        if type(self.body).packet_type is not self.packet_type:
            raise ValueError(f"body is a {type(self.body).packet_type.value}, envelope says {self.packet_type.value}")
        return self

    def canonical(self) -> dict[str, Any]:
        """Canonical names, JSON types; absent optionals and empty lists dropped (profile convention)."""
        pruned: dict[str, Any] = _prune(self.model_dump(mode="json", exclude_none=True, serialize_as_any=True))
        return pruned


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v != [] and v is not None}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value
