"""What a list command prints, per format: numbers stay numbers and counts by name an object in JSON
(``destinations list`` gave "acknowledged 23, returned 2" as one string), flattened for a table or
CSV cell; times in Vietnam time with their offset in every format."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from gateway.cli.output import Listing


def emitted(fmt: str, capsys: pytest.CaptureFixture[str]) -> str:
    listing = Listing(fmt, "destination", "deliveries_by_state", "attempts", "updated")
    listing.add_row("national", {"acknowledged": 23, "returned": 2}, 3, datetime(2026, 12, 2, 2, 5, tzinfo=UTC))
    listing.emit()
    return capsys.readouterr().out


def test_json_keeps_numbers_objects_and_offsets(capsys: pytest.CaptureFixture[str]) -> None:
    (row,) = json.loads(emitted("json", capsys))
    assert row == {
        "destination": "national",
        "deliveries_by_state": {"acknowledged": 23, "returned": 2},
        "attempts": 3,
        "updated": "2026-12-02T09:05:00+07:00",
    }


def test_csv_flattens_counts_into_one_cell(capsys: pytest.CaptureFixture[str]) -> None:
    (row,) = list(csv.DictReader(io.StringIO(emitted("csv", capsys))))
    assert row["deliveries_by_state"] == "acknowledged 23, returned 2"
    assert row["updated"] == "2026-12-02T09:05:00+07:00" and row["attempts"] == "3"
