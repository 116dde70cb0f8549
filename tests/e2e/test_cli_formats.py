"""List commands speak ``--format table|json|csv``; JSON and CSV carry every value in full (a table
wraps long cells). Before, there was only a table, cut at 50-60 characters."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

LISTING = {"list", "inbox", "approvals", "runs", "calendar"}
"""Commands by these names list records: each speaks --format table|json|csv."""
NEEDS = {"calendar": ["--year", "2027", "--regime", "KTXH-THANG"]}


def leaves(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if hasattr(command, "commands"):
        for name, sub in sorted(command.commands.items()):
            yield from leaves(sub, (*path, name))
    else:
        yield path


def list_commands() -> list[list[str]]:
    """Found in the command tree, so a list command added later is held to the same rule."""
    import typer

    from gateway.cli import app

    found = [list(path) for path in leaves(typer.main.get_command(app)) if path[-1] in LISTING]
    return [[*path, *NEEDS.get(" ".join(path), [])] for path in found]


LIST_COMMANDS = list_commands()


def test_the_list_commands_are_found_and_each_has_the_format_option() -> None:
    import typer

    from gateway.cli import app

    names = {" ".join(c[: 2 if c[0] not in ("runs", "calendar") else 1]) for c in LIST_COMMANDS}
    assert names >= {
        "deliveries list",
        "destinations list",
        "quarantine list",
        "reports list",
        "reports approvals",
        "regimes inbox",
        "runs",
        "users list",
        "clients list",
        "calendar",
    }, names
    root = typer.main.get_command(app)
    for command in LIST_COMMANDS:
        node = root
        for part in command:
            if part.startswith("--"):
                break
            node = node.commands[part]
        assert any("--format" in p.opts for p in node.params), command


def run(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from gateway.cli import main

    monkeypatch.setattr(sys, "argv", ["gateway", *args])
    monkeypatch.setenv("COLUMNS", "250")
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        from gateway import resources

        resources.reset()  # loading settings pointed the process-wide search path at this data folder
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
    # Every time a list shows is Vietnam's time with its offset (they were bare UTC times, read as
    # local seven hours off), and a program can read it back to the instant.
    created = datetime.fromisoformat(users[0]["created"])
    assert created.utcoffset() == timedelta(hours=7), users[0]
    assert abs((created - datetime.now(UTC)).total_seconds()) < 600
    rows = list(csv.DictReader(io.StringIO(run(["users", "list", "--format", "csv"], monkeypatch, capsys)[1])))
    assert rows[0]["name"] == long_name
    table = run(["users", "list"], monkeypatch, capsys)[1]
    assert "trucdem" in table and "…" not in table  # a terminal table wraps long cells, never cuts them
