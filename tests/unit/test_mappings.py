"""Indicator mappings: exact unit conversion, unknown codes and units, administrative units."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.base import PeriodRef, RawObservation, SourceRef
from mappings.indicators import MAPPINGS_DIR, MappingRejected, load_mapping
from mappings.units import UnitMismatch, factor

MAPPING = load_mapping(MAPPINGS_DIR / "indicators" / "lao-cai-ktxh.yaml")
END = date(2026, 10, 14)


def raw(
    code: str = "T0501", value: object = "1234.5", unit: str | None = "triệu đồng", admin: str | None = "02647"
) -> RawObservation:
    return RawObservation(
        indicator_code=code,
        indicator_name=None,
        unit=unit,
        period=PeriodRef("THANG", 10, 2026),
        admin_unit=admin,
        value=value,
        ref=SourceRef("test.xlsx", "T10-2026", 9, "F"),
    )


def test_money_is_converted_exactly_to_the_national_unit() -> None:
    mapped = MAPPING.apply(raw(value=0.1), END)
    assert (mapped.indicator_code, mapped.unit, mapped.value) == ("0501", "tỷ đồng", "0.0001")
    assert MAPPING.apply(raw(value="42000"), END).value == "42"


def test_unknown_indicator_is_rejected_with_its_code() -> None:
    with pytest.raises(MappingRejected, match="unknown indicator code 'T9901'"):
        MAPPING.apply(raw(code="T9901"), END)


def test_incompatible_unit_is_refused() -> None:
    with pytest.raises(MappingRejected, match="unit mismatch"):
        MAPPING.apply(raw(unit="ha"), END)
    with pytest.raises(UnitMismatch):
        factor("người", "tấn")


def test_non_numeric_value_is_rejected() -> None:
    with pytest.raises(MappingRejected, match="not a number"):
        MAPPING.apply(raw(value="chưa có số liệu"), END)


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), Decimal("NaN"), Decimal("-Infinity"), Decimal("sNaN"), "nan", "Infinity"],
    ids=str,
)
def test_values_that_are_not_finite_are_rejected_whatever_their_type(value: object) -> None:
    """A SQL source hands over floats and Decimals, NaN and infinities included; they used to pass
    (NaN) or crash the ingest (infinity) instead of being quarantined."""
    with pytest.raises(MappingRejected, match="not a finite number"):
        MAPPING.apply(raw(value=value), END)


def test_long_values_are_converted_exactly_or_rejected() -> None:
    """The default decimal context keeps 28 significant digits: a 31-digit value was rounded."""
    long = "12345678901234567890123456789.5"
    assert MAPPING.apply(raw(value=long), END).value == "12345678901234567890123456.7895"  # triệu -> tỷ
    assert MAPPING.apply(raw(value=10**30), END).value == "1" + "0" * 27
    with pytest.raises(MappingRejected, match="characters in plain notation; the limit is 64"):
        MAPPING.apply(raw(value=1e300), END)
    with pytest.raises(MappingRejected, match="characters in plain notation"):
        MAPPING.apply(raw(value="1e80"), END)


def test_old_district_code_is_not_a_commune_after_the_reform() -> None:
    # 083 was Lào Cai city's district code before 1 July 2025; districts no longer exist.
    with pytest.raises(MappingRejected, match="not a commune in code list QD19-2025"):
        MAPPING.apply(raw(admin="083"), END)


def test_commune_of_another_province_is_refused() -> None:
    with pytest.raises(MappingRejected, match="belongs to province"):
        MAPPING.apply(raw(admin="00004"), END)  # Phường Ba Đình, Hà Nội


def test_period_before_the_code_list_is_refused() -> None:
    with pytest.raises(MappingRejected, match="valid from 2025-07-01"):
        MAPPING.apply(raw(), date(2025, 3, 14))


def test_mapping_file_errors_name_the_file(tmp_path: Path) -> None:
    from mappings.indicators import MappingError

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: x\nregime: R\nadmin_code_list: QD19-2025\nprovince_code: '15'\nforms: {}\n"
        "indicators:\n  T1: {national_code: '1', national_name: n, form: F, unit: ha, national_unit: ha}\n"
    )
    with pytest.raises(MappingError, match=r"bad\.yaml: indicators\.T1\.form"):
        load_mapping(bad)


def test_configuration_files_that_are_not_utf8_are_named_not_a_traceback(tmp_path: Path) -> None:
    """Found by mutating the shipped mapping: a file saved in a legacy code page (or damaged) raised
    UnicodeDecodeError from every loader."""
    from gateway.calendar.regimes import REGIMES_DIR, load_regime
    from gateway.errors import ConfigurationError
    from mappings.check import check_file
    from mappings.indicators import MappingError

    mapping = tmp_path / "cp1258.yaml"
    shipped = (MAPPINGS_DIR / "indicators" / "lao-cai-ktxh.yaml").read_text("utf-8")
    mapping.write_bytes(("version: x\n" + shipped).encode("cp1258", "replace"))
    with pytest.raises(MappingError, match=r"cp1258\.yaml: not UTF-8 \(byte \d+\); save the file as UTF-8"):
        load_mapping(mapping)
    (finding,) = check_file(mapping)
    assert finding.line > 1 and "not UTF-8" in finding.message  # the line of the first bad byte

    regimes = tmp_path / "regimes"
    regimes.mkdir()
    (regimes / "KTXH-THANG.yaml").write_bytes(b"\xff" + (REGIMES_DIR / "KTXH-THANG.yaml").read_bytes())
    with pytest.raises(ConfigurationError, match=r"KTXH-THANG\.yaml: not UTF-8 \(byte 0\)"):
        load_regime("KTXH-THANG", regimes)
