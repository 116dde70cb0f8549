"""A server command whose port is taken says so and does nothing else.

Found from outside (README walk, 2026-12-02): ``gateway demo --keep-serving`` with port 8000 taken
ran the whole demo, made the dashboard account and printed its one-time password, and only then
failed on "address already in use"; ``gateway run`` would have lost its API thread alone and kept
its worker and scheduler running."""

from __future__ import annotations

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
