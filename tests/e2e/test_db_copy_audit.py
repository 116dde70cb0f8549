"""``gateway db copy`` carries the source's audit key and checkpoints: the copied events were sealed
with that key, and without it ``audit verify`` called every one of them forged, for good, once the
new processes made a key of their own (found by an outside operator moving the demo to PostgreSQL).
The PostgreSQL target is covered by the backup tests' ``copy_database``; the state files are the
same whatever the target database is, so this runs SQLite to SQLite, through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def gateway(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATEWAY_DATA_DIR": str(data), "GATEWAY_NEW_PASSWORD": "a long enough passphrase"}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_db_copy_brings_the_audit_key_and_refuses_a_different_one(tmp_path: Path) -> None:
    source = tmp_path / "source"
    assert gateway(source, "users", "add", "alice", "--role", "operator").returncode == 0  # audited
    assert gateway(source, "audit", "checkpoint").returncode == 0
    url = f"sqlite:///{source / 'gateway.sqlite'}"

    moved = tmp_path / "moved"
    copied = gateway(moved, "db", "copy", url)
    assert copied.returncode == 0, copied.stderr
    assert (moved / "secrets" / "audit.key").read_bytes() == (source / "secrets" / "audit.key").read_bytes()
    assert (moved / "secrets" / "audit.key").stat().st_mode & 0o777 == 0o600
    assert (moved / "audit" / "checkpoints.jsonl").is_file()
    verified = gateway(moved, "audit", "verify")
    assert verified.returncode == 0 and "intact" in verified.stdout, verified.stdout + verified.stderr

    # a data folder with an audit key of its own: refused before a row is copied, in one line
    other = tmp_path / "other"
    (other / "secrets").mkdir(parents=True)
    (other / "secrets" / "audit.key").write_bytes(os.urandom(32))
    refused = gateway(other, "db", "copy", url)
    assert refused.returncode == 2 and "differs" in refused.stderr and "Traceback" not in refused.stderr
    assert not (other / "gateway.sqlite").exists() or gateway(other, "users", "list").stdout.count("alice") == 0

    # a source folder without its key, named explicitly: refused, naming where it looked
    lost = tmp_path / "lost"
    refused = gateway(tmp_path / "fresh", "db", "copy", url, "--from-data-dir", str(lost))
    assert refused.returncode == 2 and str(lost / "secrets" / "audit.key") in refused.stderr
