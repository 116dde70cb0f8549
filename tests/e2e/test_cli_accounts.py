"""Accounts and the audit chain from the command line, as an administrator would use them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from gateway.api.app import create_app
from gateway.bootstrap import bootstrap
from gateway.settings import Settings
from gateway.sim.server import BackgroundServer


def gateway(data: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "GATEWAY_DATA_DIR": str(data), "GATEWAY_LOG__FORMAT": "text", "COLUMNS": "200", **env}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, timeout=120, env=environment
    )


def test_clients_and_users_lifecycle_and_a_tampered_audit_row(tmp_path: Path) -> None:
    data = tmp_path / "data"
    added = gateway(
        data, "clients", "add", "Bộ Tài chính", "--role", "ministry", "--regime", "KTXH-THANG", "--indicator", "*"
    )
    assert added.returncode == 0, added.stderr
    fields = dict(line.split(": ", 1) for line in added.stdout.splitlines() if ": " in line)
    client_id, secret = fields["client_id"], fields["client_secret"]
    assert "cannot be shown again" in added.stderr
    no_grant = gateway(data, "clients", "add", "Bộ Y tế", "--role", "ministry")
    assert no_grant.returncode == 2 and "needs at least one grant" in no_grant.stderr

    user = gateway(data, "users", "add", "trucban", "--role", "operator", GATEWAY_NEW_PASSWORD="mật khẩu đủ dài 2026")
    assert user.returncode == 0, user.stderr
    short = gateway(data, "users", "add", "yeu", GATEWAY_NEW_PASSWORD="short")
    assert short.returncode == 2 and "at least 12 characters" in short.stderr

    listed = gateway(data, "clients", "list")
    assert client_id in listed.stdout and "ministry" in listed.stdout and secret not in listed.stdout

    gw = bootstrap(Settings(data_dir=data))
    try:
        with BackgroundServer(create_app(gw)) as api:
            ok = httpx.post(f"{api.url}/v1/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
            assert ok.status_code == 200
            login = httpx.post(
                f"{api.url}/v1/token",
                data={"grant_type": "password", "username": "trucban", "password": "mật khẩu đủ dài 2026"},
            )
            assert login.status_code == 200
            assert gateway(data, "clients", "revoke", client_id).returncode == 0
            assert gateway(data, "users", "disable", "trucban").returncode == 0
            refused = httpx.post(
                f"{api.url}/v1/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
            )
            assert refused.status_code == 401
    finally:
        gw.close()

    intact = gateway(data, "audit", "verify")
    assert intact.returncode == 0 and "intact" in intact.stdout
    with sqlite3.connect(data / "gateway.sqlite") as db:
        row = db.execute("SELECT id FROM audit_events WHERE action = 'user.added'").fetchone()[0]
        db.execute('UPDATE audit_events SET detail = \'{"role": "admin"}\' WHERE id = ?', (row,))
    tampered = gateway(data, "audit", "verify")
    assert tampered.returncode == 1
    assert f"audit event {row}" in tampered.stdout and "altered" in tampered.stdout
    assert "Traceback" not in tampered.stdout + tampered.stderr
