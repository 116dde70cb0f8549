"""A number cell of a workbook is read as the double Excel shows, at 15 significant digits, as exact
decimal text. Most cells hold a number typed by hand, already in that text (``104.729``), and are
taken as written (issue 19: the float and Decimal round trip was a fifth of reading a workbook);
this checks that shortcut against the round trip itself, written here from the rule, on the
numbers writers store: hand-typed values, Python and LibreOffice's shortest doubles, binary noise
(``97.65000000000001``), large integers, tiny fractions, exponents and negative zero."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from adapters.grid import GridCell
from adapters.template_reader import number_text


def meant(raw: str) -> str:
    """The rule, independently: the double at 15 significant digits, in plain notation."""
    d = Decimal(format(float(raw), ".15g"))
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("104.729", "104.729"),
        ("1500", "1500"),
        ("97.65000000000001", "97.65"),  # binary noise of a 17-digit writer
        ("0.30000000000000004", "0.3"),
        ("123456789012345", "123456789012345"),  # 15 digits: as written
        ("1234567890123456789", "1234567890123460000"),  # more: Excel's 15
        ("1.5E-7", "0.00000015"),
        ("-0", "0"),
        ("0.000123", "0.000123"),
    ],
)
def test_a_number_cell_is_its_fifteen_digit_value(raw: str, value: str) -> None:
    assert number_text(GridCell(raw, True, None), "plain") == value == meant(raw)


def test_the_shortcut_agrees_with_the_rule_on_many_written_numbers() -> None:
    rng = random.Random(19)
    written = []
    for _ in range(20_000):
        kind = rng.randrange(5)
        if kind == 0:
            written.append(repr(rng.uniform(-1e6, 1e6)))  # shortest round-trip doubles
        elif kind == 1:
            written.append(str(rng.randint(-(10**17), 10**17)))
        elif kind == 2:
            written.append(f"{rng.randint(0, 10**9)}.{rng.randint(0, 999):03d}".rstrip("0").rstrip("."))
        elif kind == 3:
            written.append(repr(rng.random() * 10 ** rng.randint(-22, 22)))
        else:
            written.append(f"{rng.random():.{rng.randint(1, 17)}f}")  # fixed digits, trailing zeros
    wrong = [(raw, number_text(GridCell(raw, True, None), "plain"), meant(raw)) for raw in written]
    assert [w for w in wrong if w[1] != w[2]] == []
