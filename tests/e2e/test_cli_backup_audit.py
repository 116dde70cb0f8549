"""A backup restored on another machine passes `gateway audit verify`, through the real commands.

Found from outside (README walk, 2026-12-02): the backup held the database only, so a restore into a
new data folder (whose first command had made its own audit key) failed `audit verify` on every
event, and `audit verify` itself made a new key in a folder that had none. The backup now carries
the audit key and the checkpoints; restore puts them back and keeps the key it replaces."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway import backup, resources
from gateway.db.engine import make_engine
from tests.conftest import fresh_pg_database

GATEWAY = str(Path(sys.executable).parent / "gateway")
WORKBOOK = resources.bundled("examples") / "lao-cai-ktxh-2026.xlsx"
MAPPING = resources.bundled("indicators") / "lao-cai-ktxh.yaml"


def gateway(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"GATEWAY_DATA_DIR": str(data), "COLUMNS": "200"})
    return subprocess.run([GATEWAY, *args], capture_output=True, text=True, timeout=180, env=env, check=False)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    return done.stdout


def test_a_backup_restored_into_a_new_data_folder_verifies_and_keeps_the_key_it_replaced(tmp_path: Path) -> None:
    first, second, folder = tmp_path / "first", tmp_path / "second", tmp_path / "backup"
    ok(gateway(first, "ingest", str(WORKBOOK), "--adapter", "xlsx", "--mapping", str(MAPPING)))
    ok(gateway(first, "audit", "checkpoint"))
    ok(gateway(first, "backup", "create", str(folder)))
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(manifest["files"]) == ["audit-checkpoints.jsonl", "audit.key"]
    assert (folder / "audit.key").read_bytes() == (first / "secrets" / "audit.key").read_bytes()
    assert oct((folder / "audit.key").stat().st_mode & 0o777) == "0o600"

    ok(gateway(second, "db", "upgrade"))
    ok(gateway(second, "audit", "checkpoint"))  # the new machine's first gateway made its own key and chain
    own_key = (second / "secrets" / "audit.key").read_bytes()
    assert own_key != (first / "secrets" / "audit.key").read_bytes()
    out = ok(gateway(second, "backup", "restore", str(folder), "--yes"))
    assert f"restored audit.key to {second / 'secrets' / 'audit.key'}" in out
    kept = list((second / "secrets").glob("audit.key.replaced-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == own_key  # replaced, never lost
    assert (second / "audit" / "checkpoints.jsonl").read_bytes() == (first / "audit" / "checkpoints.jsonl").read_bytes()
    assert len(list((second / "audit").glob("checkpoints.jsonl.replaced-*"))) == 1
    assert "audit chain intact" in ok(gateway(second, "audit", "verify"))


def test_a_restore_without_the_key_fails_verify_and_verify_never_makes_a_key(tmp_path: Path) -> None:
    """The check above could fail: the same restore with the key left out of the backup (a backup made
    before backups carried it) is named event by event, with a warning at restore time."""
    first, second, folder = tmp_path / "first", tmp_path / "second", tmp_path / "backup"
    ok(gateway(first, "ingest", str(WORKBOOK), "--adapter", "xlsx", "--mapping", str(MAPPING)))
    ok(gateway(first, "backup", "create", str(folder)))
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    del manifest["files"]  # the shape of a backup made before this change
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    ok(gateway(second, "db", "upgrade"))
    ok(gateway(second, "audit", "checkpoint"))
    restored = gateway(second, "backup", "restore", str(folder), "--yes")
    assert restored.returncode == 0 and "holds no audit key" in restored.stderr
    broken = gateway(second, "audit", "verify")
    assert broken.returncode == 1 and "seal does not match" in broken.stdout
    assert "do not anchor this chain" in broken.stderr and "run `gateway audit checkpoint`" not in broken.stderr

    (second / "secrets" / "audit.key").unlink()
    missing = gateway(second, "audit", "verify")
    assert missing.returncode == 2 and "no audit key at" in missing.stderr and "Traceback" not in missing.stderr
    assert not (second / "secrets" / "audit.key").exists()  # a check never makes the key it checks with


def test_a_restore_is_refused_while_a_worker_holds_the_database(tmp_path: Path) -> None:
    """Found from outside: `backup restore` ran without a word while `serve` and `worker` were up, so
    they went on writing into the database being replaced."""
    first, second, folder = tmp_path / "first", tmp_path / "second", tmp_path / "backup"
    ok(gateway(first, "db", "upgrade"))
    ok(gateway(first, "backup", "create", str(folder)))
    ok(gateway(second, "db", "upgrade"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"GATEWAY_DATA_DIR": str(second), "GATEWAY_METRICS__WORKER_PORT": "0"})
    worker = subprocess.Popen([GATEWAY, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        database = make_engine(f"sqlite:///{second / 'gateway.sqlite'}")
        deadline = time.monotonic() + 60
        while not backup.other_users(database) and time.monotonic() < deadline:
            time.sleep(0.2)
        refused = gateway(second, "backup", "restore", str(folder), "--yes")
        assert refused.returncode == 2, (refused.stdout, refused.stderr)
        assert "the database is in use" in refused.stderr and f"process {worker.pid}:" in refused.stderr
        assert "Traceback" not in refused.stderr
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert "restored gateway.sqlite" in ok(gateway(second, "backup", "restore", str(folder), "--yes"))


@pytest.mark.postgres
def test_other_sessions_on_postgresql_are_named(pg_server_url: str) -> None:
    url = fresh_pg_database(pg_server_url)
    holder = make_engine(url)
    with holder.connect() as held:
        pid = held.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        users = backup.other_users(make_engine(url))
        assert any(line.startswith(f"session {pid} ") for line in users), users
    holder.dispose()
    assert backup.other_users(make_engine(url)) == []
