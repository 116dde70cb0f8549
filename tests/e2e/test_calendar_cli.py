"""``gateway calendar`` reads the regimes and holiday overrides the scheduler reads (the data folder's,
the configured ``[resources]`` folders', ``--config``), refuses wrong files and wrong options with one
line and exit 2, and answers only for the years it has holidays for. Found by an outside review: it
read only the shipped files, took ``--regime`` and ``--frequency`` together silently, printed 2101
with no holidays, ignored a misspelt ``days_of:`` and exited 70 on ``start: 2026-13-01``.

The command runs in-process through ``gateway.cli.main``, what the console script calls.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_cli

REGIME = """\
code: "{code}"
name: "Regime written for this test"
frequency: "THANG"
cutoff: {{start_day: 15, end_day: 14}}
deadline: {{day_of_month: 25}}
destinations: ["national"]
forms: ["BM01-KT"]
lead_days: {lead}
start: {start}
"""


run = run_cli


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(data))
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    return data


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def deadlines(out: str) -> dict[int, str]:
    return {row["SoKy"]: row["HanGui"] for row in json.loads(out)}


def refused(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err and "unexpected error" not in err, err
    return lines[0]


def test_the_data_folder_s_overrides_move_a_deadline(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Thursday 25 March 2027 made a day off in {data_dir}/calendar/overrides.yaml: the March deadline
    of KTXH-THANG is Friday the 26th, as the scheduler computes it."""
    args = ["calendar", "--year", "2027", "--regime", "KTXH-THANG", "--format", "json"]
    code, out, err = run(args, monkeypatch, capsys)
    assert code == 0, err
    assert deadlines(out)[3] == "2027-03-25"
    write(data_dir / "calendar" / "overrides.yaml", "days_off:\n  - {date: 2027-03-25, name: test day off}\n")
    code, out, err = run(args, monkeypatch, capsys)
    assert code == 0, err
    assert deadlines(out)[3] == "2027-03-26"


def test_config_names_the_resources_folders_and_a_regime_there_is_found(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ours = tmp_path / "ours"
    write(ours / "regimes" / "TINH-THANG.yaml", REGIME.format(code="TINH-THANG", lead=0, start="2026-01-01"))
    write(ours / "calendar" / "overrides.yaml", "days_off:\n  - {date: 2027-05-25}\n")
    config = write(
        tmp_path / "gateway-test.toml",
        f'[resources]\nregimes_dir = "{ours / "regimes"}"\ncalendar_dir = "{ours / "calendar"}"\n',
    )
    args = ["calendar", "--year", "2027", "--regime", "TINH-THANG", "--format", "json"]
    code, _, err = run(args, monkeypatch, capsys)
    assert "unknown regime 'TINH-THANG'" in refused(code, err)  # without the configuration: not on the path
    code, out, err = run([*args, "--config", str(config)], monkeypatch, capsys)
    assert code == 0, err
    assert deadlines(out)[5] == "2027-05-26"  # Tuesday 25 May 2027 is a day off there
    code, _, err = run([*args, "--config", str(tmp_path / "nope.toml")], monkeypatch, capsys)
    assert "nope.toml does not exist" in refused(code, err)


def test_a_regime_in_the_data_folder_is_found(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(data_dir / "regimes" / "HUYEN-THANG.yaml", REGIME.format(code="HUYEN-THANG", lead=0, start="2026-01-01"))
    code, out, err = run(
        ["calendar", "--year", "2027", "--regime", "HUYEN-THANG", "--format", "json"], monkeypatch, capsys
    )
    assert code == 0, err
    assert len(json.loads(out)) == 12


def test_a_misspelt_overrides_key_is_one_line_naming_file_key_and_accepted_keys(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(data_dir / "calendar" / "overrides.yaml", "days_of:\n  - {date: 2027-03-25}\n")
    code, _, err = run(["calendar", "--year", "2027", "--regime", "KTXH-THANG"], monkeypatch, capsys)
    line = refused(code, err)
    assert str(path) in line and "unknown key 'days_of'" in line and "accepted keys: days_off, working_days" in line


def test_an_overrides_syntax_error_is_one_line_naming_file_and_line(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(data_dir / "calendar" / "overrides.yaml", "days_off:\n  - {date: 2027-03-25\nworking_days: []\n")
    code, _, err = run(["calendar", "--year", "2027", "--regime", "KTXH-THANG"], monkeypatch, capsys)
    line = refused(code, err)
    assert line.startswith("configuration error:") and f"{path}, line 3, column" in line and "not valid YAML" in line


def test_a_regime_with_an_impossible_date_is_a_configuration_error_not_exit_70(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(data_dir / "regimes" / "BAD-THANG.yaml", REGIME.format(code="BAD-THANG", lead=0, start="2026-13-01"))
    code, _, err = run(["calendar", "--year", "2027", "--regime", "KTXH-THANG"], monkeypatch, capsys)
    line = refused(code, err)
    assert line.startswith("configuration error:") and str(path) in line and "start: '2026-13-01'" in line


def test_a_lead_time_into_the_data_window_is_refused_naming_the_file(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(data_dir / "regimes" / "SOM-THANG.yaml", REGIME.format(code="SOM-THANG", lead=12, start="2026-01-01"))
    code, _, err = run(["calendar", "--year", "2027", "--regime", "SOM-THANG"], monkeypatch, capsys)
    line = refused(code, err)
    assert str(path) in line and "lead_days 12 would push" in line and "lead_days may be at most 10" in line


@pytest.mark.parametrize("year", ["2101", "1999", "12026"])
def test_a_year_without_holiday_data_is_refused(
    year: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["calendar", "--year", year, "--regime", "KTXH-THANG"], monkeypatch, capsys)
    assert f"--year {year}: the calendar covers 2000-2099" in refused(code, err)
    assert out == ""


@pytest.mark.parametrize("year", ["2000", "2099"])
def test_the_first_and_last_years_with_holiday_data_are_answered(
    year: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["calendar", "--year", year, "--regime", "KTXH-QUY", "--format", "json"], monkeypatch, capsys)
    assert code == 0, err
    assert [row["Nam"] for row in json.loads(out)] == [int(year)] * 4


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--regime", "KTXH-THANG", "--frequency", "QUY"], "--regime cannot be given with --frequency:"),
        (["--regime", "KTXH-THANG", "--deadline-day", "20"], "--regime cannot be given with --deadline-day:"),
        (
            ["--regime", "KTXH-THANG", "--frequency", "QUY", "--deadline-day", "20"],
            "--regime cannot be given with --frequency and --deadline-day:",
        ),
        (["--frequency", "QUY"], "--frequency needs --deadline-day"),
        (["--deadline-day", "20"], "--deadline-day needs --frequency"),
        ([], "give --regime CODE, or --frequency and --deadline-day"),
    ],
)
def test_conflicting_or_half_given_options_are_refused_naming_them(
    options: list[str],
    message: str,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(["calendar", "--year", "2027", *options], monkeypatch, capsys)
    assert message in refused(code, err)
    assert out == ""
