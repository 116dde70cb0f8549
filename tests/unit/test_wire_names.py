"""Wire names are scoped per (model, field): the same canonical name can mean different things in
different models (``title``: a signer's position, ``ChucVu``; an outline section's heading, ``TieuDe``).

``SPEC`` is transcribed by hand from the provisional profile's field tables (the shared notes,
"Bodies"), not generated from the code: every object of every packet type, its wire keys in order.
The shipped profile must match it exactly, and every profile, walked model by model, must give one
wire name to each meaning: a canonical name whose meanings differ in the spec may not collapse into
one wire name in any profile."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from pydantic import BaseModel

from gateway.errors import ConfigurationError
from gateway.packets import model as m
from gateway.packets.profile import PROFILES_DIR, Profile, fields_of, load_profile
from gateway.packets.validate import read_packet

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "profiles"
PROFILES = [load_profile("qcvn125-gw/0", PROFILES_DIR), load_profile("test/en-camel-1", FIXTURES)]

KY = "LoaiKy SoKy Nam TuNgay DenNgay"
DON_VI = "MaDinhDanh Ten"
SPEC: dict[type[BaseModel], str] = {
    m.Envelope: "MaGoiTin LoaiGoiTin PhienBanHoSo ThoiGianTao DonViGui DonViNhan NoiDung ChuKySo",
    m.Signature: "ThuatToan ChungThu GiaTri DauThoiGian",
    m.Unit: DON_VI,
    m.Period: KY,
    m.Disaggregation: "MaPhanTo MaGiaTri",
    m.Signer: "HoTen ChucVu",
    m.Regime: "MaCheDo TenCheDo LoaiCheDo CanCuPhapLy LinhVuc TanSuat ThoiGianChotSoLieu HanGui DonViThucHien "
    "DonViNhan PhuongThucGui DanhSachBieuMau DanhSachDeCuong HieuLuc TrangThai",
    m.LegalBasis: "SoKyHieu NgayBanHanh CoQuanBanHanh",
    m.CutOff: "NgayBatDau NgayKetThuc",
    m.Deadline: "NgayTrongThang SoNgaySauChot",
    m.Validfor: "TuNgay DenNgay",
    m.Form: "MaBieuMau TenBieuMau MaCheDo LoaiBieuMau Dong Cot",
    m.FormRow: "MaDong STT TenDong MaChiTieu MaDongCha",
    m.FormColumn: "MaCot TenCot DonViTinh KieuDuLieu",
    m.Outline: "MaDeCuong TenDeCuong MaCheDo Muc",
    m.OutlineSection: "MaMuc STT TieuDe HuongDan MaMucCha",
    m.ReportFigures: "MaCheDo MaBieuMau KyBaoCao DonViBaoCao LanGui ThoiGianGui NguoiKy SoLieu",
    m.Figure: "MaDong MaChiTieu MaCot PhanTo GiaTri DonViTinh GhiChu",
    m.ReportList: "MaCheDo MaBieuMau KyBaoCao DonViBaoCao LanGui ThoiGianGui NguoiKy BanGhi",
    m.Record: "STT Truong",
    m.RecordField: "MaCot GiaTri",
    m.NarrativeReport: "MaCheDo MaDeCuong KyBaoCao DonViBaoCao LanGui VanBan NoiDungMuc TepDinhKem",
    m.Document: "SoKyHieu NgayBanHanh TrichYeu NguoiKy",
    m.SectionContent: "MaMuc NoiDung",
    m.Attachment: "TenTep KieuTep DuLieu BamSHA256",
    m.StatusReport: "MaGoiTinGoc MaCheDo KyBaoCao DonViBaoCao LanGui TrangThai ThoiGian NguoiXuLy LyDo LoiChiTiet",
    m.ErrorDetail: "ViTri MoTa",
    m.PeriodCatalogue: "Ky",
    m.PeriodEntry: "MaKy KyBaoCao HanGui",
    m.IndicatorCatalogue: "ChiTieu",
    m.Indicator: "MaChiTieu TenChiTieu DonViTinh KieuDuLieu MaChiTieuCha LinhVuc KhaiNiem PhuongPhapTinh "
    "CoQuanChuTri TrangThai",
    m.KpiSet: "ChiSo",
    m.Kpi: "MaChiSo TenChiSo MaNhom DonViTinh TanSuat CongThuc PhanToApDung NguonDuLieu CoQuanChuTri ChiTieuKeHoach",
    m.KpiGroupCatalogue: "Nhom",
    m.KpiGroup: "MaNhom TenNhom MaNhomCha MoTa STT",
    m.DimensionCatalogue: "PhanTo",
    m.Dimension: "MaPhanTo TenPhanTo DanhSachGiaTri",
    m.DimensionValue: "MaGiaTri TenGiaTri MaGiaTriCha",
    m.KpiData: "DonViBaoCao DuLieu",
    m.KpiValue: "MaChiSo KyBaoCao PhanTo GiaTri TrangThaiSoLieu ThoiGianCapNhat",
}


def every_model() -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []
    stack: list[type[BaseModel]] = [m.Envelope, *m.BODY_TYPES.values()]
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen.append(model)
        stack.extend(spec.model for spec in fields_of(model) if spec.model is not None)
    return seen


def homonyms() -> dict[str, set[str]]:
    """Canonical names whose spec wire names differ between models: ``{canonical: {wire names}}``."""
    meanings: dict[str, set[str]] = defaultdict(set)
    for model, wires in SPEC.items():
        for spec, wire in zip(fields_of(model), wires.split(), strict=True):
            meanings[spec.name].add(wire)
    return {name: wires for name, wires in meanings.items() if len(wires) > 1}


def test_the_spec_table_covers_every_canonical_model() -> None:
    assert set(every_model()) == set(SPEC)
    assert homonyms() == {"title": {"ChucVu", "TieuDe"}}


@pytest.mark.parametrize("model", list(SPEC), ids=lambda model: model.__name__)
def test_the_shipped_profile_names_every_field_as_the_spec_does(model: type[BaseModel]) -> None:
    profile = PROFILES[0]
    assert [wire for _, wire in profile.wire_fields(model)] == SPEC[model].split()


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.id)
def test_no_profile_gives_two_meanings_one_wire_name(profile: Profile) -> None:
    """Walk every model of the profile: a canonical name with several meanings in the spec must be
    written with as many wire names (scoped as ``"Model.field"`` in profile.json)."""
    spec_meaning: dict[tuple[str, str], str] = {}
    for model, wires in SPEC.items():
        for spec, wire in zip(fields_of(model), wires.split(), strict=True):
            spec_meaning[(model.__name__, spec.name)] = wire
    for name in homonyms():
        by_wire: dict[str, set[str]] = defaultdict(set)
        for model in every_model():
            if any(spec.name == name for spec in fields_of(model)):
                by_wire[profile.wire(model, name)].add(spec_meaning[(model.__name__, name)])
        ambiguous = {wire: meanings for wire, meanings in by_wire.items() if len(meanings) > 1}
        assert not ambiguous, f"profile {profile.id}: {name!r} is written {ambiguous} for different meanings"


def test_a_profile_that_collapses_a_homonym_is_refused_at_load(tmp_path: Path) -> None:
    source = PROFILES_DIR / "qcvn125-gw-0"
    folder = tmp_path / "collapsed-1"
    folder.mkdir()
    raw = json.loads((source / "profile.json").read_text(encoding="utf-8"))
    raw["id"] = "collapsed/1"
    del raw["names"]["OutlineSection.title"]
    (folder / "profile.json").write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"OutlineSection\.title.*Signer\.title|Signer\.title.*Outline"):
        load_profile("collapsed/1", tmp_path)


def test_an_outline_written_by_hand_with_tieude_is_accepted() -> None:
    """What the issue saw refused: a correct outline from the spec, hand-written."""
    packet = {
        "MaGoiTin": "6f1c7a52-2f0e-4c1b-9a55-8d2b9b1e0a11",
        "LoaiGoiTin": "BIEU_MAU_DE_CUONG",
        "PhienBanHoSo": "qcvn125-gw/0",
        "ThoiGianTao": "2026-11-30T09:00:00+07:00",
        "DonViGui": {"MaDinhDanh": "G01", "Ten": "Hệ thống thông tin báo cáo Chính phủ"},
        "DonViNhan": {"MaDinhDanh": "H15", "Ten": "Ủy ban nhân dân tỉnh Lào Cai"},
        "NoiDung": {
            "MaDeCuong": "DC-KTXH-THANG",
            "TenDeCuong": "Đề cương báo cáo kinh tế - xã hội hằng tháng",
            "MaCheDo": "KTXH-THANG",
            "Muc": [
                {"MaMuc": "I", "STT": 1, "TieuDe": "Tình hình kinh tế", "HuongDan": "Nêu kết quả chủ yếu"},
                {"MaMuc": "I.1", "STT": 2, "TieuDe": "Sản xuất nông nghiệp", "MaMucCha": "I"},
            ],
        },
    }
    outline = read_packet(json.dumps(packet, ensure_ascii=False).encode("utf-8"), source="hand-written")
    assert isinstance(outline.body, m.Outline)
    assert [s.title for s in outline.body.sections] == ["Tình hình kinh tế", "Sản xuất nông nghiệp"]
