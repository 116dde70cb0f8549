"""Issue 18 item 5, the workbook side: XLSX parts go through the one XML guard (``gateway.packets.safe``).

The reader streamed worksheets and shared strings with lxml's ``iterparse`` directly, which let a
DOCTYPE through (entities unexpanded, the cell silently empty). Now a DTD is refused in any part, in
any encoding, at any offset, and the problem names the part; a harmless comment in a worksheet is
still read, and streaming is kept (a sheet of many rows is read in chunks).

The workbooks are written by hand here, part by part, from ECMA-376 Part 1 (SpreadsheetML §18), not
by the code under test nor by openpyxl."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from adapters.base import ReadProblem
from adapters.grid import GridSheet, xlsx_sheets
from adapters.template_spec import Limits

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="T10" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'sharedStrings" Target="sharedStrings.xml"/></Relationships>'
)
STRINGS = (
    f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}" count="1" uniqueCount="1">'
    "<si><t>Dân số</t></si></sst>"
)
ROWS = '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1"><v>1250</v></c></row>'
EXISTING = "/etc/hostname"


def sheet(prolog: str = "", rows: str = ROWS) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}'
        f'<worksheet xmlns="{MAIN}"><sheetData>{rows}</sheetData></worksheet>'
    )


def workbook(path: Path, *, sheet_xml: bytes | str, strings: bytes | str = STRINGS) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("_rels/.rels", ROOT_RELS)
        zf.writestr("xl/workbook.xml", WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        zf.writestr("xl/worksheets/sheet1.xml", sheet_xml)
        zf.writestr("xl/sharedStrings.xml", strings)
    return path


def read(path: Path) -> tuple[list[GridSheet], list[str]]:
    sheets, problems = [], []
    for item in xlsx_sheets(path, Limits(), lambda _: True):
        if isinstance(item, ReadProblem):
            problems.append(item.reason)
        else:
            sheets.append(item)
            problems.extend(p.reason for p in item.problems)
    return sheets, problems


GENERAL = f'<!DOCTYPE worksheet [<!ENTITY e SYSTEM "file://{EXISTING}">]>'
ENTITY_ROWS = '<row r="1"><c r="A1" t="inlineStr"><is><t>&e;</t></is></c><c r="B1"><v>1</v></c></row>'


@pytest.mark.parametrize(
    ("name", "sheet_xml"),
    [
        ("internal subset, entity used in a cell", sheet(GENERAL, ENTITY_ROWS)),
        ("external subset", sheet(f'<!DOCTYPE worksheet SYSTEM "file://{EXISTING}">')),
        ("billion laughs", sheet('<!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>')),
        ("after a 70 KB comment", sheet("<!--" + "x" * 70_000 + "-->" + GENERAL, ENTITY_ROWS)),
        ("UTF-16", sheet(GENERAL, ENTITY_ROWS).replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")),
    ],
)
def test_a_worksheet_carrying_a_doctype_is_refused_naming_the_part(tmp_path: Path, name: str, sheet_xml: str) -> None:
    path = workbook(tmp_path / "hostile.xlsx", sheet_xml=sheet_xml)
    sheets, problems = read(path)
    assert any("refused" in p and "DTD" in p and "xl/worksheets/sheet1.xml" in p for p in problems), (name, problems)
    assert all(not s.rows for s in sheets), f"{name}: cells were read from a sheet with a DTD"


def test_shared_strings_carrying_a_doctype_refuse_the_workbook(tmp_path: Path) -> None:
    strings = STRINGS.replace("?><sst", f"?>{GENERAL}<sst").replace("Dân số", "&e;")
    sheets, problems = read(workbook(tmp_path / "strings.xlsx", sheet_xml=sheet(), strings=strings))
    assert sheets == []
    assert len(problems) == 1 and "refused" in problems[0] and "xl/sharedStrings.xml" in problems[0], problems


def test_a_clean_workbook_with_a_comment_is_still_read_and_streamed(tmp_path: Path) -> None:
    """The guard keeps what the reader did: a comment is harmless here (no signature covers a
    workbook), and a sheet larger than one chunk (64 KiB) is read to its last row."""
    rows = ROWS + "".join(f'<row r="{r}"><c r="B{r}"><v>{r}</v></c></row>' for r in range(2, 5001))
    sheets, problems = read(workbook(tmp_path / "clean.xlsx", sheet_xml=sheet("<!-- made by hand -->", rows)))
    assert problems == []
    (only,) = sheets
    assert only.rows[1][1].text == "Dân số" and only.rows[1][2].text == "1250"
    assert only.rows[5000][2].text == "5000" and len(only.rows) == 5000
