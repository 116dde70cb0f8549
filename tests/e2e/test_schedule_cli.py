"""``gateway runs`` prints when each run was executed in Vietnam's time with its offset, and its JSON
gives numbers as numbers; a period key the year does not have is refused on the command line. Found
by an outside review: ``executed`` was a bare UTC time (09:05 in Hà Nội read as 02:05) and
``packets`` was the string "3"; ``2027-TUAN-53`` (2027 has 52 ISO weeks) was taken as a period.

Commands run in-process through ``gateway.cli.main``, what the console script calls.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.support.cli import run_cli

run = run_cli


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    """A migrated database holding one run, executed at 02:05 UTC (09:05 in Hà Nội) with 3 packets."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from gateway.db.models import ScheduledRun

    data = tmp_path / "data"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(data))
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    code, _, err = run(["db", "upgrade"], monkeypatch, capsys)
    assert code == 0, err
    engine = create_engine(f"sqlite:///{data / 'gateway.sqlite'}")
    with Session(engine) as session, session.begin():
        session.add(
            ScheduledRun(
                regime_code="KTXH-THANG",
                period_key="2026-THANG-10",
                deadline=date(2026, 10, 26),
                push_on=date(2026, 10, 24),
                executed_at=datetime(2026, 10, 24, 2, 5, tzinfo=UTC),
                executed_by="scheduler:test",
                late=False,
                packets=3,
                note=None,
            )
        )
    engine.dispose()
    return data


def test_runs_in_json_give_vietnam_time_with_its_offset_and_packets_as_a_number(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["runs", "--format", "json"], monkeypatch, capsys)
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["executed"] == "2026-10-24T09:05:00+07:00"
    assert datetime.fromisoformat(row["executed"]) == datetime(2026, 10, 24, 2, 5, tzinfo=UTC)
    assert row["packets"] == 3 and isinstance(row["packets"], int)
    assert row["deadline"] == "2026-10-26"


def test_runs_in_a_table_and_csv_show_the_offset_too(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.cli.common import console

    # The console is made once per process: under xdist an earlier test's made it 80 wide, and a table
    # narrower than the row cuts the time short.
    monkeypatch.setattr(console, "width", 250)
    code, out, err = run(["runs"], monkeypatch, capsys)
    assert code == 0, err
    assert "2026-10-24T09:05:00+07:00" in out and "02:05" not in out
    code, out, err = run(["runs", "--format", "csv"], monkeypatch, capsys)
    assert code == 0, err
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert row["executed"] == "2026-10-24T09:05:00+07:00" and row["packets"] == "3"


@pytest.mark.parametrize(
    ("period", "message"),
    [("2027-TUAN-53", "2027 has 52 ISO weeks"), ("2026-NGAY-366", "2026 has 365 days")],
)
def test_a_period_the_year_does_not_have_is_refused_on_the_command_line(
    period: str,
    message: str,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(["reports", "list", "--period", period], monkeypatch, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and message in lines[0] and period in lines[0], err
    assert out == ""
    code, _, err = run(["reports", "list", "--period", "2026-TUAN-53"], monkeypatch, capsys)  # 2026 has 53
    assert code == 0, err
