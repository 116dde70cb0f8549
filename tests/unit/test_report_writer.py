"""A report's JSON written straight from its rows (issue 19): ``write_report_json`` makes no model
object per figure, yet refuses exactly what the canonical model and ``write_packet`` refuse, writes
the same document, and writes it in its RFC 8785 form (compared with the ``rfc8785`` package, an
independent implementation), under any wire profile (the shipped one and ``test/en-camel-1``)."""

from __future__ import annotations

import json
import unicodedata
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from gateway import calendar
from gateway.clock import VN_TZ
from gateway.errors import PacketInvalid
from gateway.packets import model as m
from gateway.packets.canonical import CanonicalEnvelope
from gateway.packets.profile import PROFILES_DIR, Profile, load_profile
from gateway.packets.validate import (
    figure_names,
    read_packet,
    report_envelope,
    report_head,
    write_packet,
    write_report_json,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "profiles"
PROFILES = [load_profile("qcvn125-gw/0", PROFILES_DIR), load_profile("test/en-camel-1", FIXTURES)]
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=VN_TZ)
PACKET_ID = uuid.UUID("6f1c2a8e-3b4d-4e5f-9a0b-1c2d3e4f5a6b")


def head(profile: Profile, period: m.Period | None = None) -> m.Envelope:
    return report_head(
        PACKET_ID,
        profile.id,
        NOW,
        m.Unit(code="H15", name="Ủy ban nhân dân tỉnh Lào Cai"),
        m.Unit(code="G01", name="Hệ thống thông tin báo cáo Chính phủ"),
        m.SubmittedForm(
            regime_code="KTXH-THANG",
            form_code="BM01-KT",
            period=period or calendar.period("THANG", 10, 2026),
            reporting_unit=m.Unit(code="H15", name="Ủy ban nhân dân tỉnh Lào Cai"),
            revision=1,
            sent_at=NOW,
        ),
    )


def figures(profile: Profile, *rows: tuple[str, str | None, list[tuple[str, str]], Any, str]) -> list[dict[str, Any]]:
    n = figure_names(profile)
    out = []
    for indicator, column, cut, value, unit in rows:
        figure: dict[str, Any] = {n.indicator: indicator, n.value: value, n.unit: unit}
        if column is not None:
            figure[n.column] = column
        if cut:
            figure[n.cut] = [{n.dimension: d, n.value_code: v} for d, v in cut]
        out.append(figure)
    return out


SAMPLE = (
    ("T0201", None, [("DVHC", "02647")], "1234.50", "người"),
    ("T0201", None, [("DVHC", "02674")], "-0.5", "người"),
    ("T0301", "C2", [("DVHC", "02647"), ("GIOI_TINH", "NU")], "0", "tỷ đồng"),
    ("T0401", None, [], 'Ghi chú "có" ngoặc \\ và /', "văn bản"),
)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.id)
def test_the_document_is_the_canonical_models_in_its_rfc_8785_form(profile: Profile) -> None:
    figs = figures(profile, *SAMPLE)
    written = write_report_json(head(profile), figs, profile=profile)
    via_model = write_packet(report_envelope(head(profile), figs, profile=profile), "json", profile=profile)
    assert json.loads(written) == json.loads(via_model)  # the same document as the canonical model writes
    assert written == rfc8785.dumps(json.loads(written))  # and its RFC 8785 form
    signed = write_report_json(head(profile), figs, profile=profile, canonical=True)
    assert isinstance(signed, CanonicalEnvelope) and bytes(signed) == written
    assert read_packet(written, profile=profile).body == report_envelope(head(profile), figs, profile=profile).body


def test_values_are_written_as_exact_decimal_text() -> None:
    profile = PROFILES[0]
    values = ["12345678901234567890.123456789012345678", "0.10", "-7", "100000"]
    figs = figures(profile, *[(f"T{i}", None, [], v, "đồng") for i, v in enumerate(values)])
    doc = json.loads(write_report_json(head(profile), figs, profile=profile))
    assert [f["GiaTri"] for f in doc["NoiDung"]["SoLieu"]] == values  # never through float


@pytest.mark.parametrize(
    ("rows", "where"),
    [
        ((("T0201", None, [], "", "người"),), "/NoiDung/SoLieu/0/GiaTri"),  # empty value
        ((("T" * 101, None, [], "1", "người"),), "/NoiDung/SoLieu/0/MaChiTieu"),  # code too long
        ((("T0201", None, [], 5, "người"),), "/NoiDung/SoLieu/0/GiaTri"),  # not a string
        ((("T0201", "", [], "1", "người"),), "/NoiDung/SoLieu/0/MaCot"),  # empty column
    ],
)
def test_a_figure_the_model_refuses_is_refused_with_its_place(rows: Any, where: str) -> None:
    profile = PROFILES[0]
    with pytest.raises(PacketInvalid) as raised:
        write_report_json(head(profile), figures(profile, *rows), profile=profile)
    assert where in {v.location for v in raised.value.violations}, raised.value.violations


def test_an_unknown_figure_key_is_refused() -> None:
    profile = PROFILES[0]
    figs = figures(profile, SAMPLE[0])
    figs[0]["GhiChuThem"] = "x"
    with pytest.raises(PacketInvalid) as raised:
        write_report_json(head(profile), figs, profile=profile)
    assert "GhiChuThem" in str(raised.value)


def test_duplicate_figures_are_refused_even_with_their_cuts_in_another_order() -> None:
    profile = PROFILES[0]
    figs = figures(
        profile,
        ("T0301", None, [("DVHC", "02647"), ("GIOI_TINH", "NU")], "1", "người"),
        ("T0301", None, [("GIOI_TINH", "NU"), ("DVHC", "02647")], "2", "người"),
    )
    with pytest.raises(PacketInvalid) as raised:
        write_report_json(head(profile), figs, profile=profile)
    assert [v.location for v in raised.value.violations] == ["/NoiDung/SoLieu/1"]
    assert "duplicates figure 0" in raised.value.violations[0].message


def test_a_period_the_rules_refuse_is_refused() -> None:
    profile = PROFILES[0]
    period = m.Period(period_type=m.PeriodType.THANG, number=13, year=2026, start=NOW.date(), end=NOW.date())
    with pytest.raises(PacketInvalid) as raised:
        write_report_json(head(profile, period), figures(profile, SAMPLE[0]), profile=profile)
    assert raised.value.violations[0].location == "/NoiDung/KyBaoCao/SoKy"


@pytest.mark.parametrize(
    "text",
    [
        unicodedata.normalize("NFD", "Dân số trung bình"),  # decomposed: not NFC
        "Vi\u00d6t Nam",  # TCVN3 read as Windows-1252
    ],
    ids=["nfd", "legacy-font"],
)
def test_text_the_rules_refuse_is_refused_with_its_place(text: str) -> None:
    profile = PROFILES[0]
    with pytest.raises(PacketInvalid) as raised:
        write_report_json(head(profile), figures(profile, ("T0401", None, [], text, "văn bản")), profile=profile)
    assert [v.location for v in raised.value.violations] == ["/NoiDung/SoLieu/0/GiaTri"]


def test_a_lone_surrogate_is_a_packet_error_not_a_crash() -> None:
    profile = PROFILES[0]
    with pytest.raises(PacketInvalid):
        write_report_json(head(profile), figures(profile, ("T0401", None, [], "a\ud800b", "x")), profile=profile)


def test_control_characters_go_through_the_model_and_come_back_the_same() -> None:
    profile = PROFILES[0]
    figs = figures(profile, ("T0401", None, [], "dòng 1\ndòng 2\u0001", "văn bản"))
    written = write_report_json(head(profile), figs, profile=profile, canonical=True)
    assert isinstance(written, CanonicalEnvelope)
    assert json.loads(written)["NoiDung"]["SoLieu"][0]["GiaTri"] == "dòng 1\ndòng 2\u0001"
    assert bytes(written) == rfc8785.dumps(json.loads(written))


def test_duplicates_are_found_whether_figures_share_their_cut_list_or_have_none() -> None:
    """``_duplicates`` on the builder's shape (one cut list shared by every figure of that cut) and
    without cuts: the same row, indicator, column and cut twice is a duplicate; any one differing
    is not."""
    from gateway.packets.validate import _duplicates, figure_names

    names = figure_names(PROFILES[0])
    shared = [{names.dimension: "DVHC", names.value_code: "02647"}]
    other = [{names.dimension: "DVHC", names.value_code: "02674"}]

    def fig(indicator: str, cut: list[dict[str, str]] | None = None, **more: str) -> dict[str, Any]:
        out: dict[str, Any] = {names.indicator: indicator, names.value: "1", **more}
        if cut is not None:
            out[names.cut] = cut
        return out

    assert _duplicates([fig("T1", shared), fig("T1", shared)], names)
    assert _duplicates([fig("T1"), fig("T2"), fig("T1")], names)
    assert _duplicates([fig("T1", **{names.column: "TH"}), fig("T1", **{names.column: "TH"})], names)
    assert not _duplicates([fig("T1", shared), fig("T1", other), fig("T1")], names)
    assert not _duplicates([fig("T1", **{names.column: "TH"}), fig("T1", **{names.column: "LK"}), fig("T1")], names)
    assert not _duplicates([fig("T1", **{names.row: "1"}), fig("T1", **{names.row: "2"})], names)
