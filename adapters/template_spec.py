"""Template layouts as data: where a provincial report template keeps its figures.

A layout (``mappings/templates/*.yaml``, JSON Schema in ``mappings/schema/template-layout.schema.json``)
says which sheets to read, which rows are headers, which columns hold the indicator code, name, unit
and row number (STT), which value columns to read (matched by the text of their headers, each given
the column code that becomes ``MaCot``), where the period and the reporting or administrative unit
come from, which rows to skip, which rows are subtotals to check, how numbers written as text look,
and the limits that keep a hostile file from taking the machine.

Why data, not code: provinces receive templates from each owning agency in many shapes; a data
officer edits a YAML file (``gateway template infer`` proposes one), never Python.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# Where a layout file is (``resolve``, through ``gateway.resources``: the one place that knows where
# shipped and operator-supplied data live) and ``TemplateError`` are in a module without the models.
from adapters.template_paths import TemplateError as TemplateError
from adapters.template_paths import resolve as resolve
from mappings import yaml_files

COLUMN_LETTERS = re.compile(r"^[A-Z]{1,3}$")
CELL = re.compile(r"^(?P<column>[A-Z]{1,3})(?P<row>[1-9]\d{0,6})$")


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
    return value


class ColumnRef(_Closed):
    """A column by its letter (``B``) or by a regex over its header text (``^mã``)."""

    column: str | None = Field(default=None, description="column letter, e.g. B")
    header: str | None = Field(default=None, description="regex searched in the column's header text")

    @model_validator(mode="after")
    def _one(self) -> ColumnRef:
        if (self.column is None) == (self.header is None):
            raise ValueError("give exactly one of column (a letter) or header (a regex)")
        if self.column is not None and not COLUMN_LETTERS.match(self.column):
            raise ValueError(f"column {self.column!r} is not a column letter like B or AA")
        _regex(self.header)
        return self


class Columns(_Closed):
    code: ColumnRef = Field(description="the provincial indicator code")
    name: ColumnRef | None = None
    unit: ColumnRef | None = Field(default=None, description="unit of measure (đơn vị tính)")
    row_number: ColumnRef | None = Field(default=None, description="STT: row numbers and section headings")


class ValueColumn(_Closed):
    """Every column whose header text matches ``header`` holds values of column code ``code``."""

    header: str = Field(description="regex searched in the header text (decoded, NFC)")
    code: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_.-]{1,40}$", description="column code sent as MaCot, e.g. TH, LK, KH, CK"
    )
    row: int | None = Field(default=None, ge=1, description="match the text of this header row only")

    _check = field_validator("header")(_regex)


class HeaderMatch(_Closed):
    ignore_case: bool = True
    ignore_diacritics: bool = False


class PeriodSpec(_Closed):
    """Where the period comes from. ``pattern`` has groups ``number`` (digits or a Roman numeral;
    not needed for ``NAM``) and ``year``; with ``header`` each value column's header holds a key."""

    type: Literal["THANG", "QUY", "6THANG", "9THANG", "NAM"] = "THANG"
    source: Literal["sheet_name", "title", "cell", "header", "option"] = "option"
    pattern: str | None = None
    cell: str | None = Field(default=None, description="cell holding the period (source cell, or title)")

    _check = field_validator("pattern")(_regex)

    @model_validator(mode="after")
    def _needs(self) -> PeriodSpec:
        if self.source in ("sheet_name", "title") and not self.pattern:
            raise ValueError(f"period source {self.source} needs a pattern with groups number and year")
        if self.source == "cell" and not self.cell:
            raise ValueError("period source cell needs cell, e.g. A3")
        if self.cell is not None and not CELL.match(self.cell):
            raise ValueError(f"cell {self.cell!r} is not a cell reference like A3")
        return self


class UnitSpec(_Closed):
    """Where the reporting or administrative unit of each value comes from: a column of each data
    row, a header row above the value columns (commune codes across), a fixed cell, ``--unit``, or
    nowhere (``none``: the mapping's province)."""

    source: Literal["column", "header_row", "cell", "option", "none"] = "none"
    column: str | None = None
    row: int | None = Field(default=None, ge=1)
    cell: str | None = None
    pattern: str | None = Field(default=None, description="regex whose group 'code' (or whole match) is the code")

    _check = field_validator("pattern")(_regex)

    @model_validator(mode="after")
    def _needs(self) -> UnitSpec:
        need = {"column": self.column, "header_row": self.row, "cell": self.cell}
        if self.source in need and need[self.source] is None:
            key = {"column": "column", "header_row": "row", "cell": "cell"}[self.source]
            raise ValueError(f"unit source {self.source} needs {key}")
        if self.column is not None and not COLUMN_LETTERS.match(self.column):
            raise ValueError(f"column {self.column!r} is not a column letter")
        if self.cell is not None and not CELL.match(self.cell):
            raise ValueError(f"cell {self.cell!r} is not a cell reference like B2")
        return self


HEADINGS = (r"^[IVXLC]+\.?$", r"^[A-Z]\.?$")
"""Section headings as provinces number them: ``I.``, ``II``, ``A.``."""


class SkipSpec(_Closed):
    headings: list[str] = Field(
        default_factory=lambda: list(HEADINGS),
        description="regexes over the STT (or code) cell of a row without a code: section headings, skipped",
    )
    rows: list[int] = Field(default_factory=list, description="row numbers never read (e.g. a row of (1) (2) (3))")
    blank_marks: list[str] = Field(default_factory=list, description="value texts meaning 'no value', e.g. '-'")

    @field_validator("headings")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            _regex(pattern)
        return value


class SubtotalSpec(_Closed):
    """Rows that sum others: checked against the sum of their children, never sent as values."""

    marker: str = Field(description="regex over the ``field`` cell marking a subtotal row")
    field: Literal["row_number", "name", "code"] = "name"
    children: Literal["following", "preceding"] = Field(
        default="following",
        description="rows below it up to the next subtotal or heading, or rows above it since the last",
    )
    tolerance: str = Field(default="0", pattern=r"^\d+(\.\d+)?$", description="largest difference accepted")

    _check = field_validator("marker")(_regex)


class NumbersSpec(_Closed):
    text_format: Literal["plain", "vietnamese"] = Field(
        default="plain",
        description="numbers written as text: plain 1234.5, or vietnamese 1.234,5 (never guessed per cell)",
    )


class Limits(_Closed):
    """Bounds per sheet (and per file for the decompressed size); defaults no real template meets."""

    max_rows: int = Field(default=200_000, ge=1)
    max_columns: int = Field(default=1_000, ge=1)
    max_cells: int = Field(default=1_000_000, ge=1, description="non-empty cells per sheet")
    max_empty_rows: int = Field(default=10_000, ge=1, description="consecutive empty rows before the table is over")
    max_decompressed_bytes: int = Field(default=512 * 1024 * 1024, ge=1)


class SheetSelect(_Closed):
    names: list[str] = Field(default_factory=list, description="sheet names to read")
    pattern: str | None = Field(default=None, description="regex: read every sheet whose name matches")
    others: Literal["report", "ignore"] = Field(
        default="ignore", description="a sheet not selected: ignored, or reported as a problem"
    )

    _check = field_validator("pattern")(_regex)


class CsvOptions(_Closed):
    encoding: str | None = None
    delimiter: str | None = None


class TemplateSpec(_Closed):
    name: str
    description: str = ""
    kind: Literal["figures", "list"] = Field(
        default="figures",
        description="figures: one value per indicator row and value column (SO_LIEU_BAO_CAO); list: each data row "
        "with its code column filled is one record, each value column one field (SO_LIEU_DANH_SACH)",
    )
    sheets: SheetSelect = Field(default_factory=SheetSelect)
    header_rows: list[int] = Field(min_length=1, description="1-based rows holding the column headers")
    first_data_row: int | None = Field(default=None, ge=1, description="default: the row after the last header row")
    end_marker: str | None = Field(
        default=r"^(Người lập|Người lập biểu|Thủ trưởng|Kế toán trưởng|Nơi nhận)",
        description="regex: the first data row with a cell matching it ends the table (the signatures)",
    )
    columns: Columns
    values: list[ValueColumn] = Field(min_length=1)
    header_match: HeaderMatch = Field(default_factory=HeaderMatch)
    period: PeriodSpec = Field(default_factory=PeriodSpec)
    reporting_unit: UnitSpec = Field(default_factory=UnitSpec)
    skip: SkipSpec = Field(default_factory=SkipSpec)
    subtotals: list[SubtotalSpec] = Field(default_factory=list)
    numbers: NumbersSpec = Field(default_factory=NumbersSpec)
    limits: Limits = Field(default_factory=Limits)
    csv: CsvOptions = Field(default_factory=CsvOptions)

    _check = field_validator("end_marker")(_regex)

    @property
    def data_start(self) -> int:
        return self.first_data_row or max(self.header_rows) + 1


def fold(text: str, match: HeaderMatch) -> str:
    """Header text as compared: NFC, whitespace collapsed, optionally case- and diacritic-folded."""
    text = " ".join(unicodedata.normalize("NFC", text).split())
    if match.ignore_diacritics:
        text = "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))
        text = text.replace("đ", "d").replace("Đ", "D")
        text = unicodedata.normalize("NFC", text)
    return text.casefold() if match.ignore_case else text


def compile_header(pattern: str, match: HeaderMatch) -> re.Pattern[str]:
    """A header regex folded the same way as the text it searches (letters only change)."""
    return re.compile(
        fold(pattern, HeaderMatch(ignore_case=False, ignore_diacritics=match.ignore_diacritics)),
        re.IGNORECASE if match.ignore_case else 0,
    )


def load_template(path: Path) -> TemplateSpec:
    try:
        raw = yaml_files.safe_load(path.read_text(encoding="utf-8"))
        return TemplateSpec.model_validate(raw)
    except OSError as exc:
        raise TemplateError(f"cannot read template layout {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{path}: not UTF-8 (byte {exc.start}); save the file as UTF-8") from exc
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}{yaml_files.yaml_problem(exc)}") from exc
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise TemplateError(f"{path}: {details}") from exc


def dump_template(spec: TemplateSpec) -> str:
    """YAML as an operator reads it: defaults left out, keys in the model's order."""
    data = spec.model_dump(mode="json", exclude_defaults=True)
    data = {"name": spec.name, **data}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=110)
