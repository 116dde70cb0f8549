"""A source still using pre-reform codes: periods before 1 July 2025 keep them; later periods are
converted through the dated transition, merged communes summed, divided communes and abolished
districts quarantined for an operator, never guessed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.csv_exports import CsvReader
from gateway.db.models import Observation
from gateway.demo import MAPPING
from mappings.admin_units import transition
from tests.integration.test_adapters import FIELDS, run


def pre_reform_mapping(tmp_path: Path) -> Path:
    """The shipped mapping as a source still on the pre-reform code list (old Lào Cai, province 10) has it."""
    path = tmp_path / "old.yaml"
    path.write_text(
        MAPPING.read_text(encoding="utf-8")
        .replace('version: "lao-cai-ktxh/2026.1"', 'version: "lao-cai-ktxh/pre-2025"')
        .replace('admin_code_list: "QD19-2025"', 'admin_code_list: "PRE-2025"')
        .replace('province_code: "15"', 'province_code: "10"'),
        encoding="utf-8",
    )
    return path


def test_pre_reform_codes_are_converted_and_summed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    divided = next(code for code, s in sorted(transition().successors_of.items()) if any(x.split for x in s))
    old_mapping = pre_reform_mapping(tmp_path)
    rows = [
        ["T0201", "Dân số", "người", "2025-THANG-8", "02635", "100"],  # three wards of old Lào Cai city ...
        ["T0201", "Dân số", "người", "2025-THANG-8", "02641", "200"],
        ["T0201", "Dân số", "người", "2025-THANG-8", "02644", "300.5"],  # ... are Phường Lào Cai (02647) now
        ["T0201", "Dân số", "người", "2025-THANG-8", "080", "600"],  # a district: abolished
        ["T0201", "Dân số", "người", "2025-THANG-8", divided, "50"],  # divided among several communes
        ["T0201", "Dân số", "người", "2025-THANG-5", "02635", "99"],  # before the reform: old code stays
        ["T0201", "Dân số", "người", "2025-THANG-8", "10", "9000"],  # the old province's total
    ]
    source = tmp_path / "old.csv"
    source.write_text(",".join(FIELDS) + "\n" + "\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[run.__module__], "MAPPING", old_mapping)
    report, reasons, _, sessions = run(CsvReader(source), tmp_path)
    assert (report.read, report.mapped, report.quarantined, report.blank) == (7, 5, 2, 0)
    assert any("district '080' was abolished" in r for r in reasons)
    assert any(f"commune {divided!r} was divided among" in r and "an operator must decide" in r for r in reasons)
    with sessions() as s:
        found = {(o.period_key, o.disaggregation[0][1]): o for o in s.scalars(select(Observation))}
    merged = found[("2025-THANG-8", "02647")]
    assert merged.value == "600.5" and merged.admin_code_list == "QD19-2025"
    assert "02635" in merged.source_ref and "02644" in merged.source_ref
    assert found[("2025-THANG-5", "02635")].admin_code_list == "PRE-2025"  # before the reform, as it was
    assert found[("2025-THANG-8", "15")].value == "9000"  # old Lào Cai is part of the new Lào Cai (15)


def test_a_merged_sum_too_long_to_carry_sends_its_parts_to_quarantine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each part fits the profile's 64 characters, their sum does not: the parts go back to
    quarantine, counted, instead of stopping the ingest."""
    old_mapping = pre_reform_mapping(tmp_path)
    big = "9" * 64  # the longest plain value there is
    rows = [
        ["T0201", "Dân số", "người", "2025-THANG-8", "02635", big],
        ["T0201", "Dân số", "người", "2025-THANG-8", "02641", big],  # both are Phường Lào Cai (02647) now
        ["T0201", "Dân số", "người", "2025-THANG-8", "02644", "1"],
    ]
    source = tmp_path / "big.csv"
    source.write_text(",".join(FIELDS) + "\n" + "\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[run.__module__], "MAPPING", old_mapping)
    report, reasons, _, sessions = run(CsvReader(source), tmp_path)
    assert (report.read, report.mapped, report.quarantined) == (3, 0, 3)
    assert (
        reasons
        == [
            "summed into commune 02647: value 19999999999999999999... has 65 characters in plain notation; "
            "the limit is 64"
        ]
        * 3
    )
    with sessions() as s:
        assert list(s.scalars(select(Observation))) == []


def test_a_commune_of_another_province_is_summarised_with_its_whole_reason(tmp_path: Path) -> None:
    """The run's summary counted "commune '04183' (Xã Mường Lầm) belongs to province 14, not 15" as a
    bare "commune '04183'": the class was cut at the first parenthesis."""
    rows = [
        ["T0201", "Dân số", "người", "2026-THANG-10", "04183", "7300"],  # Xã Mường Lầm: Sơn La (14)
        ["T0201", "Dân số", "người", "2026-THANG-10", "02647", "10574"],  # Phường Lào Cai (15)
    ]
    source = tmp_path / "typed.csv"
    source.write_text(",".join(FIELDS) + "\n" + "\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    report, reasons, _, _ = run(CsvReader(source), tmp_path)
    assert (report.read, report.mapped, report.quarantined) == (2, 1, 1)
    assert reasons == ["commune '04183' (Xã Mường Lầm) belongs to province 14, not 15"]
    assert dict(report.reasons) == {"commune '04183' belongs to province 14, not 15": 1}
