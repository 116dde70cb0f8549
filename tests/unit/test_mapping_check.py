"""`gateway mapping check` finds every problem of a mapping file, with its line."""

from __future__ import annotations

import json
from pathlib import Path

from mappings.check import check_file
from mappings.indicators import MAPPINGS_DIR, MappingFile

BAD = """version: "x"
regime: "KTXH-THANG"
admin_code_list: "QD19-2025"
province_code: "15"
forms:
  BM01-KT: {name: "Kinh tế"}
indicators:
  T0501:
    national_code: "0501"
    national_name: "Bán lẻ"
    form: BM01-KT
    unit: "triệu đồng"
    national_unit: "tỷ đồng"
  T0502:
    national_code: "0501"
    national_name: "Bán lẻ (khác)"
    form: BM01-KT
    unit: "triệu đồng"
    national_unit: "triệu đồng"
  T0601:
    national_code: "0601"
    national_name: "Vốn"
    form: BM09-XX
    unit: "triệu đồng"
    national_unit: "ha"
  T0601:
    national_code: "0602"
    national_name: "Vốn 2"
    form: BM01-KT
    unit: "bó"
    national_unit: "bó"
"""


def test_every_problem_is_found_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, encoding="utf-8")
    rendered = [f.render(path) for f in check_file(path)]
    assert (
        f"{path}:14: T0502 and T0501 (line 8) both feed 0501 in form BM01-KT but in different units "
        "('triệu đồng' vs 'tỷ đồng')" in rendered
    )
    assert f"{path}:26: duplicate key 'T0601' (first at line 20)" in rendered
    assert any(r.startswith(f"{path}:30:") and "unknown unit 'bó'" in r for r in rendered)


def test_incompatible_units_and_undeclared_forms(tmp_path: Path) -> None:
    path = tmp_path / "bad2.yaml"
    path.write_text(BAD.split('  T0601:\n    national_code: "0602"')[0], encoding="utf-8")
    messages = [f.message for f in check_file(path)]
    assert "T0601: form 'BM09-XX' is not declared" in messages
    assert any("cannot convert 'triệu đồng'" in m for m in messages)


def test_shipped_mappings_are_clean_and_the_schema_is_current() -> None:
    for path in sorted((MAPPINGS_DIR / "indicators").glob("*.yaml")):
        assert check_file(path) == [], path
    committed = json.loads((MAPPINGS_DIR / "schema" / "indicator-mapping.schema.json").read_text(encoding="utf-8"))
    assert committed["properties"] == MappingFile.model_json_schema()["properties"], "run mappings/schema/build.py"
