"""Every command, given a wrong input, exits 2 (3 for a server it cannot reach) with one clear line on
stderr and no traceback, and changes nothing. Before, several exited 0: ``ingest`` of a missing file,
``destinations resume nosuch``, ``export-bundle`` to an unknown destination (an empty zip), a
month-13 period, ``--state deadd``; a newer database was an "unexpected error" (exit 70), a refused
PostgreSQL connection asked "Is the schema migrated?", and ``backup restore`` replaced the database
without asking.

The commands run in-process through ``gateway.cli.main`` (what the console script calls), so the
walk stays fast; tests/e2e/test_cli_accounts.py runs the real executable.
"""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from gateway import resources
from tests.support.cli import run_cli

MAPPING = str(resources.bundled("indicators") / "lao-cai-ktxh.yaml")
PACKET = str(resources.bundled("packet-examples") / "valid" / "SO_LIEU_BAO_CAO.json")

# (command line, what the one line must say, exit code)
CASES: list[tuple[list[str], str, int]] = [
    (["ingest", "nope.xlsx", "--adapter", "xlsx", "--mapping", MAPPING], "source file nope.xlsx does not exist", 2),
    (["ingest", "n.csv", "--adapter", "xlxs", "--mapping", MAPPING], "unknown adapter 'xlxs'; did you mean 'xlsx'?", 2),
    (["ingest", PACKET, "--adapter", "csv", "--mapping", "nope.yaml"], "mapping file nope.yaml does not exist", 2),
    (["quarantine", "replay", "--mapping", "nope.yaml"], "mapping file nope.yaml does not exist", 2),
    (["destinations", "resume", "nosuch"], "unknown destination 'nosuch'", 2),
    (["export-bundle", "--period", "2026-THANG-10", "--destination", "nosuch"], "unknown destination 'nosuch'", 2),
    (["export-bundle", "--period", "2026-THANG-13"], "THANG numbers run from 1 to 12", 2),
    (["export-bundle", "--period", "October"], "'October' is not a period key such as 2026-THANG-10", 2),
    (["reports", "list", "--period", "2026-THANG-13"], "THANG numbers run from 1 to 12", 2),
    (["reports", "correct", "--regime", "NOPE", "--form", "F", "--period", "2026-THANG-1", "--reason", "x"],
     "unknown regime 'NOPE'", 2),
    (["reconcile", "--period", "2026-QUY-5"], "QUY numbers run from 1 to 4", 2),
    (["reconcile", "--regime", "KTXH-THANGG"], "unknown regime 'KTXH-THANGG'; did you mean 'KTXH-THANG'?", 2),
    (["deliveries", "list", "--state", "deadd"], "unknown delivery state 'deadd'; did you mean 'dead'?", 2),
    (["deliveries", "list", "--destination", "nosuch"], "unknown destination 'nosuch'", 2),
    (["replay", "--all-dead", "--destination", "nosuch"], "unknown destination 'nosuch'", 2),
    (["deliveries", "list", "--format", "xml"], "unknown --format 'xml'; one of table, json, csv", 2),
    (["replay"], "name the deliveries to replay (IDs) or give --all-dead", 2),
    (["calendar", "--year", "2027", "--regime", "NOPE"], "unknown regime 'NOPE'", 2),
    (["validate", "nope.json", "--format", "json"], "", 2),
    (["convert", "nope.json", "--to", "xml"], "nope.json", 2),
    (["sign", "nope.json", "--key", "nope.p12"], "nope", 2),
    (["verify", "nope.json", "--trust", "nope"], "nope", 2),
    (["unicode", "nope.txt"], "nope.txt", 2),
    (["mapping", "check", "nope.yaml"], "nope.yaml", 2),
    (["template", "check", "nope.yaml", "nope.xlsx"], "nope", 2),
    (["template", "infer", "nope.xlsx"], "nope.xlsx", 2),
    (["backup", "restore", "nope"], "backup folder nope does not exist", 2),
    (["backup", "create", MAPPING], "exists and is not empty: name a new folder", 2),
    (["db", "copy", "postgresql+psycopg://x@127.0.0.1:1/none"], "cannot reach", 3),
    (["db", "copy", "sqlite:///nope/gateway.sqlite"], "source database nope/gateway.sqlite does not exist", 2),
    (["db", "copy", "not a url"], "is not a database URL", 2),
]


def run(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code and what the command said on stderr."""
    code, _, err = run_cli(args, monkeypatch, capsys)
    return code, err


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated database: the commands that read one refuse a data folder without it."""
    data = tmp_path_factory.mktemp("migrated")
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "db", "upgrade"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "GATEWAY_DATA_DIR": str(data)},
    )
    assert done.returncode == 0, done.stderr
    return data / "gateway.sqlite"


@pytest.mark.parametrize(("args", "message", "code"), CASES, ids=[" ".join(c[0][:3]) for c in CASES])
def test_a_wrong_input_is_one_clear_line_and_exit_2(
    args: list[str],
    message: str,
    code: int,
    migrated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import shutil

    (tmp_path / "data").mkdir()
    shutil.copy(migrated, tmp_path / "data" / "gateway.sqlite")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    got, err = run(args, monkeypatch, capsys)
    assert got == code, err
    assert message in err  # on stderr (validate reports each file on stdout and also exits 2)
    assert "Traceback" not in err and "unexpected error" not in err
    assert len([line for line in err.splitlines() if line.strip()]) <= 2, err
    assert not list(tmp_path.glob("*.zip")) and not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_backup_restore_asks_and_needs_yes_without_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    assert run(["db", "upgrade"], monkeypatch, capsys)[0] == 0  # creates the database
    assert run(["backup", "create", str(tmp_path / "b1")], monkeypatch, capsys)[0] == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # no terminal, as under cron or CI
    code, err = run(["backup", "restore", str(tmp_path / "b1")], monkeypatch, capsys)
    assert code == 2 and "Refusing without --yes" in err

    def restore(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # in its own process
            [sys.executable, "-m", "gateway.cli", "backup", "restore", str(tmp_path / "b1"), "--yes", *extra],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "GATEWAY_DATA_DIR": str(tmp_path / "data")},
            stdin=subprocess.DEVNULL,
        )

    with closing(sqlite3.connect(tmp_path / "data" / "gateway.sqlite")) as held:  # as a running worker would
        held.execute("SELECT 1").fetchall()
        refused = restore()
        assert refused.returncode == 2 and f"process {os.getpid()}:" in refused.stderr, refused.stderr
        # --force restores under it (this process's own engines may hold the file too: the commands above
        # ran in it; a restore with nothing holding the database is tests/e2e/test_cli_backup_audit.py's)
        restored = restore("--force")
    assert restored.returncode == 0, restored.stderr
    assert "row counts match the manifest" in restored.stdout


def test_a_database_from_a_newer_gateway_says_which_revision_and_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    assert run(["db", "upgrade"], monkeypatch, capsys)[0] == 0
    with sqlite3.connect(tmp_path / "gateway.sqlite") as db:
        db.execute("UPDATE alembic_version SET version_num = '0099'")
    code, err = run(["deliveries", "list"], monkeypatch, capsys)
    assert code == 2, err
    assert "schema revision 0099, newer than this gateway" in err
    assert "run the gateway version that wrote it" in err


@pytest.mark.postgres
def test_a_newer_postgresql_schema_is_refused_before_an_ordinary_command_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], pg_server_url: str
) -> None:
    """A server database is migrated as a deployment step, not on start; an ordinary command used to
    run against a newer schema and fail on whatever SQL the difference broke."""
    from sqlalchemy import create_engine, text

    from tests.conftest import fresh_pg_database

    url = fresh_pg_database(pg_server_url)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GATEWAY_DATABASE__URL", url)
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    assert run(["db", "upgrade"], monkeypatch, capsys)[0] == 0
    at_head = subprocess.run(  # its own process: an ordinary command leaves its pool open until exit
        [sys.executable, "-m", "gateway.cli", "deliveries", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "GATEWAY_DATA_DIR": str(tmp_path / "data"), "GATEWAY_DATABASE__URL": url},
        stdin=subprocess.DEVNULL,
    )
    assert at_head.returncode == 0, at_head.stderr
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    engine.dispose()
    code, err = run(["deliveries", "list"], monkeypatch, capsys)
    assert code == 2, err
    assert "schema revision 0099_future, newer than this gateway" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_a_refused_database_server_is_named_by_host_and_port_not_a_migration_question(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused PostgreSQL connection used to be answered "Is the schema migrated?"."""
    import socket

    with socket.socket() as sock:  # a port nobody listens on: bound, then closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GATEWAY_DATABASE__URL", f"postgresql+psycopg://gateway:secret@127.0.0.1:{port}/gateway")
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    code, err = run(["deliveries", "list"], monkeypatch, capsys)
    assert code == 3, err
    assert f"cannot reach the database at 127.0.0.1:{port}" in err
    assert "migrated" not in err and "secret" not in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
