"""A figure or a period written in another script's digits is said, not read as a number.

Found from outside: ``１２３`` (full-width digits, as a CJK input method types them) was stored as 123
with no word: Python's ``Decimal`` and ``int`` read any script's digits, and ``\\d`` matches them."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.base import RawObservation, ReadProblem
from adapters.csv_exports import CsvReader
from adapters.template_reader import number_text
from mappings.indicators import MappingRejected, parse_decimal

FULL_WIDTH = "１２３"
ARABIC_INDIC = "١٢٣"


@pytest.mark.parametrize("value", [FULL_WIDTH, ARABIC_INDIC, "1２3", "12.５"])
def test_a_value_in_other_digits_is_refused_with_its_reason(value: str) -> None:
    with pytest.raises(MappingRejected, match="not a number written in ASCII digits"):
        parse_decimal(value)


def test_ascii_figures_still_read_exactly() -> None:
    assert str(parse_decimal(" 1 234,5".replace(",", "."))) == "1234.5"
    assert str(parse_decimal("12345678901234567890.123456789")) == "12345678901234567890.123456789"


def test_a_period_in_other_digits_is_a_problem_of_the_record(tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_text(
        "ma_chi_tieu,ten_chi_tieu,don_vi_tinh,ky,ma_dvhc,gia_tri\n"
        "T0201,Dân số,người,２０２６-THANG-１０,02647,5\n"
        "T0201,Dân số,người,2026-THANG-10,02647,5\n",
        encoding="utf-8",
    )
    items = list(CsvReader(source).read())
    assert isinstance(items[0], ReadProblem) and items[0].ref.row == 2, items[0]
    assert isinstance(items[1], RawObservation)


def test_a_template_cell_in_other_digits_is_not_a_number() -> None:
    from adapters.grid import GridCell

    assert number_text(GridCell(FULL_WIDTH, False), "plain") is None
