"""One unit table (issue 16, item 9): `gateway mapping check`, loading a mapping and ingest agree on
every unit, because they read the same table, ``mappings/units.yaml``."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.base import PeriodRef, RawObservation, SourceRef
from mappings.check import check_file
from mappings.indicators import MappingError, MappingRejected, load_mapping
from mappings.units import UNITS_FILE, UnitMismatch, factor, known, table

TEMPLATE = """version: "units-test/{n}"
regime: "KTXH-THANG"
admin_code_list: "QD19-2025"
province_code: "15"
forms:
  BM02-XH: {{name: "Xã hội"}}
indicators:
  T1102:
    national_code: "1102"
    national_name: "Số lượt khám chữa bệnh"
    form: BM02-XH
    unit: "{unit}"
    national_unit: "{unit}"
"""


def mapping_file(tmp_path: Path, unit: str, n: int = 0) -> Path:
    path = tmp_path / f"units-{n}.yaml"
    path.write_text(TEMPLATE.format(unit=unit, n=n), encoding="utf-8")
    return path


def raw(unit: str | None, value: object = "12") -> RawObservation:
    return RawObservation(
        indicator_code="T1102",
        indicator_name=None,
        unit=unit,
        period=PeriodRef("THANG", 10, 2026),
        admin_unit="02647",
        value=value,
        ref=SourceRef("source.csv", row=2),
    )


def test_luot_is_accepted_by_mapping_check_as_by_ingest(tmp_path: Path) -> None:
    # The defect: `mapping check` said "unknown unit 'lượt'" for a mapping that ingest used.
    path = mapping_file(tmp_path, "lượt")
    assert check_file(path) == []
    mapped = load_mapping(path).apply(raw("lượt"), date(2026, 10, 14))
    assert (mapped.unit, mapped.value) == ("lượt", "12")


@pytest.mark.parametrize(
    "unit", ["lượt", "lượt người", "m²", "Người", "tr.đồng", "bó", "lượtt", "lần", "kilogram", "USD", "usd"]
)
def test_check_and_load_give_the_same_verdict_on_every_unit(tmp_path: Path, unit: str) -> None:
    path = mapping_file(tmp_path, unit, n=abs(hash(unit)))
    flagged = any("unknown unit" in f.message for f in check_file(path))
    try:
        load_mapping(path)
        refused = False
    except MappingError as exc:
        refused = "unknown unit" in str(exc)
    assert flagged == refused == (not known(unit))


def test_source_spellings_of_one_unit_are_that_unit(tmp_path: Path) -> None:
    mapping = load_mapping(mapping_file(tmp_path, "người", n=1))
    end = date(2026, 10, 14)
    assert mapping.apply(raw("Người"), end).value == "12"
    assert mapping.apply(raw(" người "), end).value == "12"
    with pytest.raises(MappingRejected, match="unknown unit 'bó'"):
        mapping.apply(raw("bó"), end)
    assert factor("m²", "ha") == Decimal("0.0001")
    assert factor("Tr.đồng", "tỷ đồng") == Decimal("0.001")
    with pytest.raises(UnitMismatch, match="cannot convert"):
        factor("lượt", "lượt người")  # "times" and "person-visits" are different counts


def test_the_table_has_exact_factors_and_no_spelling_twice() -> None:
    units = table(UNITS_FILE)
    assert len({u.name for u in units.values()}) >= 40
    for unit in units.values():
        assert isinstance(unit.factor, Decimal) and unit.factor > 0
    # Every unit the example mapping uses is in it (a mapping that loads is one mapping check accepts).
    assert check_file(Path(__file__).resolve().parents[2] / "mappings" / "indicators" / "lao-cai-ktxh.yaml") == []


def test_a_broken_table_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "units.yaml"
    bad.write_text('units:\n  - {name: "m", dimension: length, factor: 0.001}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="write the factor as text"):
        table(bad)
    bad.write_text(
        'units:\n  - {name: "m", dimension: length, factor: "1"}\n  - {name: "M", dimension: x, factor: "1"}\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="names both"):
        table(bad)
