"""A server command whose port is taken says so and does nothing else; a line a command prints stays
one line in a pipe.

Found from outside (README walk, 2026-12-02): ``gateway demo --keep-serving`` with port 8000 taken
ran the whole demo, made the dashboard account and printed its one-time password, and only then
failed on "address already in use"; ``gateway run`` would have lost its API thread alone and kept
its worker and scheduler running."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

GATEWAY = str(Path(sys.executable).parent / "gateway")


@pytest.mark.parametrize(
    "command",
    [["demo", "--keep-serving", "--faults", "none"], ["serve"], ["run"]],
    ids=["demo-keep-serving", "serve", "run"],
)
def test_a_taken_api_port_is_refused_before_anything_runs(command: list[str], tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update({"GATEWAY_DATA_DIR": str(tmp_path / "data"), "GATEWAY_API__PORT": str(port), "COLUMNS": "200"})
        done = subprocess.run(
            [GATEWAY, *command],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "GATEWAY_API__PORT" in done.stderr
    assert "Traceback" not in done.stderr and "password" not in done.stdout + done.stderr
    assert not (tmp_path / "data").exists()  # nothing was made: no database, no demo, no account



def test_a_line_is_one_line_in_a_pipe_at_any_width(tmp_path: Path) -> None:
    """What a command prints is read by scripts from pipes and logs: a long line is never cut at the
    console's width (the demo's summary line once lost its tail to a grep that way)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"GATEWAY_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "40"})

    def gateway(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([GATEWAY, *args], capture_output=True, text=True, env=env, timeout=120, check=False)

    assert gateway("db", "upgrade").returncode == 0
    folder = tmp_path / "sao-lưu-hằng-giờ-của-cổng-kết-nối"
    done = gateway("backup", "create", str(folder))
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("backup of sqlite")]
    assert str(folder) in line and line.rstrip().endswith(json.loads((folder / "manifest.json").read_text())["sha256"])
