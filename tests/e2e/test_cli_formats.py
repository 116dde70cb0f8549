"""List commands speak ``--format table|json|csv``; JSON and CSV carry every value in full (a table
wraps long cells). Before, there was only a table, cut at 50-60 characters."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

LIST_COMMANDS = [
    ["deliveries", "list"],
    ["destinations", "list"],
    ["quarantine", "list"],
    ["reports", "list"],
    ["runs"],
    ["users", "list"],
    ["clients", "list"],
]


def run(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from gateway.cli import main

    monkeypatch.setattr(sys, "argv", ["gateway", *args])
    monkeypatch.setenv("COLUMNS", "250")
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().out


def test_every_list_command_speaks_json_and_csv_with_full_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    monkeypatch.setenv("GATEWAY_NEW_PASSWORD", "mật khẩu đủ dài 2026")
    long_name = "Trung tâm Giám sát, điều hành đô thị thông minh tỉnh Lào Cai — ca trực đêm số 2"
    assert run(["users", "add", "trucdem", "--full-name", long_name], monkeypatch, capsys)[0] == 0
    for command in LIST_COMMANDS:
        code, out = run([*command, "--format", "json"], monkeypatch, capsys)
        assert code == 0, command
        assert isinstance(json.loads(out), list), command
        code, out = run([*command, "--format", "csv"], monkeypatch, capsys)
        assert code == 0, command
        assert next(csv.reader(io.StringIO(out))), command  # a header row
    users = json.loads(run(["users", "list", "--format", "json"], monkeypatch, capsys)[1])
    assert users[0]["name"] == long_name and users[0]["username"] == "trucdem"
    rows = list(csv.DictReader(io.StringIO(run(["users", "list", "--format", "csv"], monkeypatch, capsys)[1])))
    assert rows[0]["name"] == long_name
    table = run(["users", "list"], monkeypatch, capsys)[1]
    assert "trucdem" in table and "…" not in table  # a terminal table wraps long cells, never cuts them
