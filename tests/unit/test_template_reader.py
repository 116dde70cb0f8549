"""Template layouts: every period and unit source, header matching that ignores case and diacritics
when asked, and layout files that are wrong are refused naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from adapters.base import RawObservation, ReadItem, ReadProblem
from adapters.registry import reader_for
from adapters.template_reader import TemplateReader
from adapters.template_spec import TemplateError, TemplateSpec, load_template


def workbook(path: Path, title: str = "Biểu") -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = title
    ws["A1"] = "Đơn vị: 02647 - Xã Bản Hồ"
    ws["A2"] = "Kỳ: 2026-QUY-3"
    ws["A3"] = "BÁO CÁO 6 THÁNG ĐẦU NĂM 2026"
    for col, text in enumerate(["Mã", "Tên", "LŨY KẾ", "2026-THANG-9", "2026-THANG-10"], start=1):
        ws.cell(5, col, text)
    ws.append(["T0201", "Dân số", 10, 20, 30])
    wb.save(path)
    return path


def layout(**changes: Any) -> TemplateSpec:
    raw: dict[str, Any] = {
        "name": "t",
        "header_rows": [5],
        "columns": {"code": {"header": "^mã$"}, "name": {"column": "B"}},
        "values": [{"header": "^luy ke$", "code": "LK"}],
        "header_match": {"ignore_case": True, "ignore_diacritics": True},
        "period": {"source": "cell", "cell": "A2"},
    }
    raw.update(changes)
    return TemplateSpec.model_validate(raw)


def observations(items: list[ReadItem]) -> list[tuple[str, str | None, str, str | None, object]]:
    return [
        (o.indicator_code, o.column, o.period.key, o.admin_unit, o.value)
        for o in items
        if isinstance(o, RawObservation)
    ]


def test_period_from_a_cell_unit_from_a_cell_and_headers_without_diacritics(tmp_path: Path) -> None:
    path = workbook(tmp_path / "a.xlsx")
    spec = layout(reporting_unit={"source": "cell", "cell": "A1", "pattern": r"(?P<code>\d{5})"})
    assert observations(list(TemplateReader(path, spec).read())) == [("T0201", "LK", "2026-QUY-3", "02647", "10")]
    strict = layout(header_match={"ignore_case": False, "ignore_diacritics": False})
    (problem,) = [i for i in TemplateReader(path, strict).read() if isinstance(i, ReadProblem)]
    assert "columns.code: no column header matches '^mã$'" in problem.reason  # "Mã" is not "mã" when strict


def test_period_from_the_title_and_from_each_column_header(tmp_path: Path) -> None:
    path = workbook(tmp_path / "b.xlsx")
    half = layout(period={"type": "6THANG", "source": "title", "pattern": r"6 tháng đầu năm (?P<year>\d{4})"})
    problems = [i.reason for i in TemplateReader(path, half).read() if isinstance(i, ReadProblem)]
    assert problems == ["period: the pattern has no group 'number'; the sheet is not read"]
    year = layout(period={"type": "NAM", "source": "title", "pattern": r"năm (?P<year>\d{4})"})
    assert observations(list(TemplateReader(path, year).read()))[0][2] == "2026-NAM-1"
    columns = layout(values=[{"header": r"^\d{4}-THANG-\d+$", "code": "TH"}], period={"source": "header"})
    assert [(o[2], o[4]) for o in observations(list(TemplateReader(path, columns).read()))] == [
        ("2026-THANG-9", "20"),
        ("2026-THANG-10", "30"),
    ]


def test_period_and_unit_given_at_ingest_override_the_layout(tmp_path: Path) -> None:
    path = workbook(tmp_path / "c.xlsx")
    spec_file = tmp_path / "layout.yaml"
    spec_file.write_text(
        "name: t\nheader_rows: [5]\ncolumns: {code: {column: A}}\nvalues: [{header: 'LŨY KẾ', code: LK}]\n"
        "period: {source: option}\nreporting_unit: {source: option}\n",
        encoding="utf-8",
    )
    reader = reader_for("xlsx", path, {"template": str(spec_file), "period": "2026-THANG-10", "unit": "02650"})
    assert observations(list(reader.read())) == [("T0201", "LK", "2026-THANG-10", "02650", "10")]
    without = [i.reason for i in reader_for("xlsx", path, {"template": str(spec_file)}).read()]
    assert "give --period 2026-THANG-10" in without[0]
    with pytest.raises(TemplateError, match="is not a period like 2026-THANG-10"):
        reader_for("xlsx", path, {"template": str(spec_file), "period": "2026-THANG-13"})


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("name: t\nheader_rows: [5]\ncolumns: {code: {column: A}}\nvalues: [{header: '('}]\n", "values.0.header"),
        ("name: t\nheader_rows: [5]\ncolumns: {code: {column: a1}}\nvalues: [{header: x}]\n", "columns.code"),
        ("name: t\nheader_rows: []\ncolumns: {code: {column: A}}\nvalues: [{header: x}]\n", "header_rows"),
        ("name: t\nheader_rows: [5]\ncolumns: {code: {column: A}}\nvalues: [{header: x}]\nperiod: {source: title}\n",
         "period: Value error, period source title needs a pattern"),
        ("name: t\nheader_rows: [5]\ncolumns: {code: {column: A}}\nvalues: [{header: x}]\nextra: 1\n", "extra"),
    ],
)  # fmt: skip
def test_a_wrong_layout_is_refused_naming_the_key(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TemplateError, match=str(path)) as caught:
        load_template(path)
    assert says in str(caught.value)
