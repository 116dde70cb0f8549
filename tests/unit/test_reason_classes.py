"""The reason a quarantined row is counted under in a run's summary: asides and details after a colon
left out, but the source's own quoted text kept whole (a quoted parenthesis or colon was cut, naming a
code the file does not have). Reasons written here by hand, in the shapes the readers produce."""

from __future__ import annotations

import pytest

from gateway.ingest import _reason_class


@pytest.mark.parametrize(
    ("reason", "counted_as"),
    [
        (
            "commune '04183' (Xã Mường Lầm) belongs to province 14, not 15",
            "commune '04183' belongs to province 14, not 15",
        ),
        ("unknown indicator code 'A(1)': add it to the mapping", "unknown indicator code 'A(1)'"),
        ("value '12:30' is not a number", "value '12:30' is not a number"),
        ('unit "t(ấn)" is not convertible: to tỷ đồng', 'unit "t(ấn)" is not convertible'),
        ("the province's code 'X' is unknown: see the list", "the province's code 'X' is unknown"),
        ("value (an unclosed aside is cut there", "value"),
    ],
)
def test_reasons_are_counted_under_their_sentence_with_quoted_text_whole(reason: str, counted_as: str) -> None:
    assert _reason_class(reason) == counted_as
