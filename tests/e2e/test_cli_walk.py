"""Every command of the ``gateway`` command line, found by walking its command tree, is given a wrong
input for each of its parameters (a missing file, an unknown name, month 13, an unknown state, a number
out of range, an output under a file) and for its data folder (none there): each answers with exit 2
(3 for a server it cannot reach) and one line on stderr that names what was wrong, never a traceback.

The cases are made from the parameters, not listed by hand: a command added later is walked too, and
a parameter no rule below knows fails the walk until someone says what a wrong value of it is (or
that any text is right). Before, server commands, ``sim``, ``keys``, ``contracts``, ``regimes``,
``clients``, ``reports recall`` and others were never tried; several exited 0, 1 or 70 on wrong input,
and the read-only ones made an empty database in ``./data``.

Commands run in-process through ``gateway.cli.main`` (what the console script calls) so the walk stays
quick; a case that starts serving instead of refusing is stopped by an alarm and fails.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import typer

from gateway import resources
from gateway.cli import app

MAPPING = resources.bundled("indicators") / "lao-cai-ktxh.yaml"
PACKET = resources.bundled("packet-examples") / "valid" / "SO_LIEU_BAO_CAO.json"
WORKBOOK = resources.bundled("examples") / "lao-cai-ktxh-2026.xlsx"
CSV = resources.bundled("examples") / "lao-cai-ktxh-2026.csv"
LAYOUT = resources.bundled("templates") / "bieu01-ktxh.yaml"
LIST = resources.bundled("examples") / "lists" / "ds-du-an-2026-10.csv"

MISSING = "missing-folder/nope.file"
DESTINATIONS = (
    '{"national": {"url": "http://127.0.0.1:9/receive", "sign": false, "receiver": {"code": "G01", "name": "CP"}}}'
)
"""One destination is configured (nothing listens there): commands that take one get a right value."""
UNKNOWN_ID = "987654"


@dataclass(frozen=True)
class Wrong:
    value: str
    names: str  # what the error line must contain
    code: int = 2


def missing() -> Wrong:
    return Wrong(MISSING, "nope.file")


def under_a_file() -> Wrong:
    """An output path whose parent is a file: it can never be written."""
    target = f"{MAPPING}/out/result"
    return Wrong(target, target)


# What a wrong value of each parameter is. Keyed by parameter name; (command, name) wins.
RULES: dict[str, Wrong] = {
    "config": Wrong("missing-folder/nope.toml", "nope.toml"),
    "catalogue": Wrong("NO_SUCH_CATALOGUE", "NO_SUCH_CATALOGUE"),
    "mapping": missing(),
    "path": missing(),
    "paths": missing(),
    "files": missing(),
    "spec": missing(),
    "workbook": missing(),
    "key": missing(),
    "passphrase_file": missing(),
    "password_file": missing(),
    "trust": missing(),
    "attach": missing(),
    "profiles_dir": missing(),
    "out": under_a_file(),
    "output": under_a_file(),
    "pki": under_a_file(),
    "period": Wrong("2026-THANG-13", "2026-THANG-13"),
    "regime": Wrong("NOPE-THANG", "NOPE-THANG"),
    "state": Wrong("deadd", "deadd"),
    "destination": Wrong("nosuch", "nosuch"),
    "adapter": Wrong("xlxs", "xlxs"),
    "fmt": Wrong("yaml", "yaml"),
    "output_format": Wrong("yaml", "yaml"),
    "faults": Wrong("catastrophic", "catastrophic"),
    "profile": Wrong("nope/9", "nope/9"),
    "to": Wrong("yaml", "yaml"),
    "revocation_unknown": Wrong("maybe", "maybe"),
    "role": Wrong("superuser", "superuser"),
    "encoding": Wrong("klingon", "klingon"),
    "frequency": Wrong("WEEKLY", "WEEKLY"),
    "template": Wrong("no-such-layout", "no-such-layout"),
    "outline": Wrong("no-such-outline", "no-such-outline"),
    "form": Wrong("NO-SUCH-FORM", "NO-SUCH-FORM"),
    "section": Wrong("no-equals-sign", "no-equals-sign"),
    "issued_on": Wrong("2026-13-01", "2026-13-01"),
    "revision": Wrong("9999zz", "9999zz"),
    "delivery_id": Wrong(UNKNOWN_ID, UNKNOWN_ID),
    "approval": Wrong(UNKNOWN_ID, UNKNOWN_ID),
    "proposal": Wrong(UNKNOWN_ID, UNKNOWN_ID),
    "diff": Wrong(UNKNOWN_ID, UNKNOWN_ID),
    "show": Wrong(UNKNOWN_ID, UNKNOWN_ID),
    "ids": Wrong(UNKNOWN_ID, UNKNOWN_ID),
    "packet_id": Wrong("GT-NO-SUCH-PACKET", "GT-NO-SUCH-PACKET"),
    "client_id": Wrong("no-such-client", "no-such-client"),
    "username": Wrong("no-such-user", "no-such-user"),
    "as_": Wrong("no-such-approver", "no-such-approver"),
    "port": Wrong("70000", "--port"),
    "concurrency": Wrong("0", "--concurrency"),
    "limit": Wrong("0", "--limit"),
    "interval": Wrong("0", "--interval"),
    "grace_hours": Wrong("-1", "--grace-hours"),
    "rows": Wrong("0", "--rows"),
    "retain": Wrong("0", "--retain"),
    "packets": Wrong("0", "--packets"),
    "deadline_day": Wrong("32", "--deadline-day"),
    "year": Wrong("12026", "--year"),
    "min_confidence": Wrong("1.5", "--min-confidence"),
    "max_age_days": Wrong("-1", "--max-age-days"),
    "manifest": missing(),
    "workers": Wrong("0", "--workers"),
}
OVERRIDES: dict[tuple[str, str], Wrong] = {
    ("ingest", "source"): Wrong(MISSING, "nope.file"),
    ("reports send-list", "source"): missing(),
    ("unicode", "source"): Wrong("klingon", "klingon"),
    ("unicode", "path"): missing(),
    ("backup restore", "directory"): missing(),
    ("backup create", "directory"): under_a_file(),
    ("keys test-pki", "directory"): under_a_file(),
    ("destinations resume", "name"): Wrong("nosuch", "nosuch"),
    ("users add", "username"): Wrong("duyet", "duyet"),  # the account the walk made: it exists
    ("db copy", "source_url"): Wrong("postgresql+psycopg://walk@127.0.0.1:1/none", "127.0.0.1:1", 3),
    ("db copy", "from_data_dir"): Wrong("no-such-data-dir", "no-such-data-dir/secrets/audit.key"),
}
# Any text is a right value of these (a reason, a display name, a free unit code ...).
FREE_TEXT = {
    "reason",
    "summary",
    "number",
    "signer_name",
    "signer_title",
    "actor",
    "full_name",
    "worker_id",
    "query",
    "host",
    "code",
    "province",
    "national",
    "operator",
    "unit",
    "reporting_unit",
    "indicator",
    "name",
}
# ... and of these, for one command: a list report's form code is the sender's (MaBieuMau of the list).
FREE_TEXT_OF = {("reports send-list", "form")}
# Commands that may start a gateway's life on an empty data folder; every other one that reads the
# database refuses a folder without one, and creates nothing.
CREATES = {
    "ingest",
    "users add",
    "clients add",
    "demo",
    "serve",
    "run",
    "worker",
    "scheduler",
    "db upgrade",
    "db copy",
    "backup restore",
}


def leaves(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    if hasattr(command, "commands"):
        for name, sub in sorted(command.commands.items()):
            yield from leaves(sub, (*path, name))
    else:
        yield " ".join(path), command


COMMANDS = dict(leaves(typer.main.get_command(app)))


def is_flag(param: Any) -> bool:
    return bool(getattr(param, "is_flag", False)) or param.name == "help"


def rule(command: str, name: str) -> Wrong | None:
    return OVERRIDES.get((command, name)) or RULES.get(name)


def valid(command: str, name: str, env: dict[str, Path]) -> str:
    """A right value for a required parameter, so that the one made wrong is what is refused."""
    per_command = {
        ("ingest", "source"): WORKBOOK,
        ("reports send-list", "source"): LIST,
        ("backup restore", "directory"): env["backup"],
        ("backup create", "directory"): env["tmp"] / "new-backup",
        ("keys test-pki", "directory"): env["tmp"] / "new-pki",
        ("template check", "spec"): LAYOUT,
        ("template check", "workbook"): resources.bundled("examples") / "templates" / "bieu01-ktxh.xlsx",
        ("template infer", "workbook"): resources.bundled("examples") / "templates" / "bieu01-ktxh.xlsx",
        ("destinations resume", "name"): "national",
        ("db copy", "source_url"): f"sqlite:///{env['data'] / 'gateway.sqlite'}",
        ("reports send-list", "template"): "ds-du-an-dau-tu",
        ("reports send-list", "form"): "DS-DU-AN",
        ("reports send-narrative", "outline"): "DC-KTXH-THANG",
        ("users add", "username"): "nguoi-moi",
        ("users passwd", "username"): "duyet",
    }
    if (command, name) in per_command:
        return str(per_command[(command, name)])
    by_name: dict[str, object] = {
        "adapter": "xlsx",
        "mapping": MAPPING,
        "path": PACKET,
        "paths": PACKET,
        "files": MAPPING,
        "key": env["pki"] / "signer.p12",
        "trust": env["pki"] / "trust",
        "to": "xml",
        "period": "2026-THANG-10",
        "regime": "KTXH-THANG",
        "form": "BM01-KT",
        "year": "2027",
        "role": "operator",
        "as_": "duyet",
        "outline": "KTXH-THANG",
    }
    if name in by_name:
        return str(by_name[name])
    if name in RULES or (command, name) in OVERRIDES:  # an identifier: the unknown one is as good as any
        found = rule(command, name)
        assert found is not None
        return found.value
    return "x"


# Optional parameters a command needs together (calendar: a regime, or a frequency and a deadline day).
TOGETHER: dict[tuple[str, str | None], dict[str, str]] = {
    ("ingest", None): {"mapping": str(MAPPING), "source": str(WORKBOOK), "adapter": "xlsx"},
    ("ingest", "encoding"): {"mapping": str(MAPPING), "adapter": "csv", "source": str(CSV)},
    ("ingest", "manifest"): {},  # a manifest lists the sources; nothing else is given with it
    ("calendar", None): {"regime": "KTXH-THANG"},
    ("replay", None): {"ids": UNKNOWN_ID},
    ("calendar", "frequency"): {"deadline_day": "20"},
    ("calendar", "deadline_day"): {"frequency": "THANG"},
}


def command_line(command: str, wrong_name: str | None, wrong_value: str | None, env: dict[str, Path]) -> list[str]:
    """The command with its required parameters right and ``wrong_name`` (if any) set to ``wrong_value``."""
    args: list[str] = command.split()
    together = TOGETHER.get((command, wrong_name), TOGETHER.get((command, None), {}))
    for param in COMMANDS[command].params:
        if is_flag(param):
            continue
        if param.name == wrong_name:
            value = wrong_value
        elif param.name in together:
            value = together[param.name]
        elif param.required:
            value = valid(command, param.name, env)
        else:
            continue
        if param.param_type_name == "argument":
            args.append(str(value))
        else:
            args.extend([param.opts[0], str(value)])
    return args


class CaseTimedOut(BaseException):
    """Raised by the alarm: the command started working (or serving) instead of refusing."""


def run(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from gateway.cli import main

    def alarm(_signum: int, _frame: FrameType | None) -> None:
        raise CaseTimedOut(f"gateway {' '.join(args)} did not refuse within 60 s")

    monkeypatch.setattr(sys, "argv", ["gateway", *args])
    monkeypatch.setenv("COLUMNS", "250")
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(60)
    try:
        with pytest.raises(SystemExit) as exited:
            main()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        resources.reset()  # loading settings pointed the process-wide search path at this data folder
    code = exited.value.code if isinstance(exited.value.code, int) else 1
    return code, capsys.readouterr().err


def cases() -> list[tuple[str, str]]:
    found = []
    for command, click_command in COMMANDS.items():
        for param in click_command.params:
            overridden = (command, param.name) in OVERRIDES
            free = param.name in FREE_TEXT or (command, param.name) in FREE_TEXT_OF
            if not is_flag(param) and rule(command, param.name) and (overridden or not free):
                found.append((command, param.name))
    return found


CASES = cases()


def test_every_parameter_of_every_command_has_a_wrong_input_rule() -> None:
    """A parameter added later needs a rule (or a place in FREE_TEXT): it is never left untried."""
    assert len(COMMANDS) >= 45, sorted(COMMANDS)
    unknown = [
        f"{command} {param.name}"
        for command, click_command in COMMANDS.items()
        for param in click_command.params
        if not is_flag(param) and param.name not in FREE_TEXT and rule(command, param.name) is None
    ]
    assert not unknown, f"no wrong-input rule for: {unknown}"
    untried = [c for c, cmd in COMMANDS.items() if not any(p.name != "help" for p in cmd.params)]
    assert not untried, f"commands without a parameter to get wrong: {untried}"


@pytest.fixture(scope="module")
def walk_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A migrated database with an approver account, a test PKI and a backup: the right values."""
    import os
    import subprocess

    tmp = tmp_path_factory.mktemp("walk")
    data = tmp / "data"
    environment = {**os.environ, "GATEWAY_DATA_DIR": str(data), "GATEWAY_NEW_PASSWORD": "mật khẩu đủ dài 2026"}
    environment["GATEWAY_DESTINATIONS"] = DESTINATIONS
    environment.pop("GATEWAY_CONFIG", None)
    for args in (
        ["db", "upgrade"],
        ["users", "add", "duyet", "--role", "approver"],
        ["keys", "test-pki", str(tmp / "pki")],
        ["backup", "create", str(tmp / "backup")],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "gateway.cli", *args], env=environment, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, (args, done.stderr)
    return {"tmp": tmp, "data": data, "pki": tmp / "pki", "backup": tmp / "backup"}


def contents(database: Path) -> dict[str, int]:
    """Rows per table: a refused command changes none of them (every change is audited, too)."""
    import sqlite3

    with closing(sqlite3.connect(database)) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def check(code: int, err: str, wrong: Wrong, args: list[str]) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    shown = f"gateway {' '.join(args)} -> exit {code}: {err}"
    assert code == wrong.code, shown
    assert "Traceback" not in err and "unexpected error" not in err, shown
    assert lines and len(lines) <= 2, shown  # one line (a note before it at most)
    assert wrong.names in lines[-1], shown


@pytest.mark.parametrize(("command", "name"), CASES, ids=[f"{c}--{n}" for c, n in CASES])
def test_a_wrong_value_of_each_parameter_is_one_line_naming_it(
    command: str,
    name: str,
    walk_env: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(walk_env["data"]))
    monkeypatch.setenv("GATEWAY_DESTINATIONS", DESTINATIONS)
    monkeypatch.setenv("GATEWAY_NEW_PASSWORD", "mật khẩu đủ dài 2026")
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    wrong = rule(command, name)
    assert wrong is not None
    args = command_line(command, name, wrong.value, walk_env)
    before = contents(walk_env["data"] / "gateway.sqlite")
    code, err = run(args, monkeypatch, capsys)
    check(code, err, wrong, args)
    assert not list(tmp_path.iterdir()), "a refused command wrote into the working folder"
    assert contents(walk_env["data"] / "gateway.sqlite") == before, "a refused command changed the database"


READS_NO_DATABASE = {"calendar"}  # --config for its regimes and holiday overrides, never a database
NEEDS_DATABASE = sorted(
    c
    for c, cmd in COMMANDS.items()
    if c not in CREATES | READS_NO_DATABASE and any(p.name == "config" for p in cmd.params)
)


@pytest.mark.parametrize("command", NEEDS_DATABASE)
def test_a_command_that_reads_the_database_refuses_a_data_folder_without_one_and_creates_nothing(
    command: str,
    walk_env: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``gateway quarantine list`` after the demo used to make ./data/gateway.sqlite and show an empty
    table; now it says where it looked and how to point at the demo's data."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEWAY_DATA_DIR", raising=False)
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    monkeypatch.setenv("GATEWAY_DESTINATIONS", DESTINATIONS)
    monkeypatch.setenv("GATEWAY_NEW_PASSWORD", "mật khẩu đủ dài 2026")
    args = command_line(command, None, None, walk_env)
    code, err = run(args, monkeypatch, capsys)
    expected = str(tmp_path / "data" / "gateway.sqlite")
    check(code, err, Wrong("", expected), args)
    assert "GATEWAY_DATA_DIR is not set" in err and "export GATEWAY_DATA_DIR=data/demo" in err
    assert not (tmp_path / "data").exists()


def test_the_demo_s_data_is_named_when_it_is_there(
    walk_env: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data" / "demo").mkdir(parents=True)
    (tmp_path / "data" / "demo" / "gateway.sqlite").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GATEWAY_DATA_DIR", raising=False)
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    code, err = run(["quarantine", "list"], monkeypatch, capsys)
    assert code == 2 and "The demo's data is in data/demo: export GATEWAY_DATA_DIR=data/demo" in err, err
    assert not (tmp_path / "data" / "gateway.sqlite").exists()


def test_a_usage_error_is_one_line_with_where_to_find_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Typer's framed error panel (five lines of box drawing) is one line, as git and pip print it."""
    code, err = run(["deliveries", "list", "--nope"], monkeypatch, capsys)
    assert code == 2 and err.strip().count("\n") == 0, err
    assert "--nope" in err and "gateway deliveries list --help" in err and "╭" not in err
    code, err = run(["nosuchcommand"], monkeypatch, capsys)
    assert code == 2 and "nosuchcommand" in err and err.strip().count("\n") == 0, err


def test_a_group_alone_prints_its_help_once() -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "users"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2 and done.stdout.count("Usage:") == 1, done.stdout
    assert "passwd" in done.stdout and not done.stderr.strip()
