"""Mapping worked out once per key (issue 19): ``PreparedRule.value_text`` keeps a value's text when it
is already plain and takes the exact path otherwise. The fast path must give exactly what the exact
path (``parse_decimal``, ``scaled`` by one, ``plain``) gives, or refuse what it refuses."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.base import PeriodRef, RawObservation, SourceRef
from mappings.indicators import (
    MAPPINGS_DIR,
    ONE,
    MappingRejected,
    PreparedRule,
    load_mapping,
    parse_decimal,
    plain,
    scaled,
)

SAME_UNIT = PreparedRule("KTXH-THANG", "BM01", "0201", "Dân số", "người", None)
MAPPING = load_mapping(MAPPINGS_DIR / "indicators" / "lao-cai-ktxh.yaml")


def exact(value: object) -> str:
    return plain(scaled(parse_decimal(value), ONE))


def agree(value: object) -> None:
    try:
        expected: str | None = exact(value)
    except MappingRejected:
        expected = None
    try:
        got: str | None = SAME_UNIT.value_text(value)
    except MappingRejected:
        got = None
    assert got == expected, value


decimal_texts = st.from_regex(r"\A[ +-]?[0-9]{0,70}(\.[0-9]{0,12})?([eE][+-]?[0-9]{1,3})?\Z")


@given(decimal_texts)
def test_fast_path_equals_exact_path_for_decimal_text(text: str) -> None:
    agree(text)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_fast_path_equals_exact_path_for_floats(value: float) -> None:
    agree(value)


@given(st.integers(min_value=-(10**80), max_value=10**80))
def test_fast_path_equals_exact_path_for_ints(value: int) -> None:
    agree(value)


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "-0",
        "-0.0",
        "00",
        "007",
        "1.50",
        "1.",
        ".5",
        "-.5",
        "1e3",
        "1E+2",
        "0.000",
        "12 345",
        "1\u00a0234",
        "١٢٣",
        "NaN",
        "-Infinity",
        "",
        " ",
        "+5",
        "5.0",
        5.0,
        -0.0,
        1e16,
        1e-7,
        True,
        Decimal("1.10"),
        "9" * 64,
        "9" * 65,
        "-" + "9" * 63,
        "0." + "0" * 61 + "1",
    ],
)
def test_fast_path_equals_exact_path_on_edges(value: object) -> None:
    agree(value)


def test_a_refusal_is_remembered_and_raised_again_with_the_same_reason() -> None:
    item = RawObservation("T9901", None, None, PeriodRef("THANG", 10, 2026), "02647", "1", SourceRef("x.csv", row=2))
    reasons = []
    for _ in range(2):
        with pytest.raises(MappingRejected) as caught:
            MAPPING.apply(item, date(2026, 10, 14))
        reasons.append(str(caught.value))
    assert reasons[0] == reasons[1] == "unknown indicator code 'T9901': not in mapping " + MAPPING.version


def test_a_converted_unit_keeps_the_exact_path() -> None:
    rule = MAPPING.rule("T0501", "triệu đồng")  # triệu đồng -> tỷ đồng
    assert rule.factor == Decimal("0.001")
    assert rule.value_text("1234.5") == "1.2345"
    assert rule.value_text("1000") == "1"
