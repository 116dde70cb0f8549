"""The README's "After the demo" block, run as written: the demo, then the commands that look at its
data. Before, `gateway quarantine list` after `make demo` showed an empty table and silently made a
new database in ./data, because the demo's data is in data/demo and the README did not say so."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_block() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### After the demo", 1)[1]
    block = re.search(r"```\n(.*?)```", section, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


@pytest.mark.slow
def test_the_readme_after_the_demo_block_works_as_written(tmp_path: Path) -> None:
    lines = readme_block()
    assert lines[0].endswith("gateway demo") and any(line.startswith("export GATEWAY_DATA_DIR=") for line in lines)
    gateway = str(Path(sys.executable).parent / "gateway")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"COLUMNS": "250", "GATEWAY_LOG__FORMAT": "text"})
    outputs = []
    for line in lines:
        if line.startswith("export "):
            name, value = line.removeprefix("export ").split("=", 1)
            env[name] = value
            continue
        args = shlex.split(line)
        assert args[0] == ".venv/bin/gateway", line
        args[0] = gateway
        if args[1:] == ["demo"]:
            args.extend(["--faults", "none"])  # the same data, quicker
        done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, (line, done.stdout[-2000:], done.stderr[-2000:])
        outputs.append(done.stdout)
    demo, quarantine, deliveries, reconcile = outputs
    assert "export GATEWAY_DATA_DIR=" in demo and str(tmp_path / "data" / "demo") in demo
    # Not a terminal: no progress display (it used to print its "Delivering ━━━━" bar into the pipe)
    assert not re.search(r"^\s*(Delivering|delivering|reading)\b", demo, re.M) and "packets/s" not in demo, demo
    assert "\r" not in demo and "\x1b[" not in demo
    assert "T9901" in quarantine  # the demo's 22 quarantined cells, not an empty table
    assert deliveries.count("acknowledged") >= 2
    assert "2026-THANG-10" in reconcile
    assert not (tmp_path / "data" / "gateway.sqlite").exists()  # nothing made in ./data behind the operator's back


@pytest.mark.slow
def test_keep_serving_makes_the_operator_account_after_clearing_and_the_dashboard_login_works(tmp_path: Path) -> None:
    """An operator added before `gateway demo --keep-serving` was deleted with the demo's folder."""
    import socket
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    password = "mật khẩu của bản demo 2026"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"GATEWAY_DATA_DIR": str(tmp_path / "data"), "GATEWAY_API__PORT": str(port)})
    env["GATEWAY_NEW_PASSWORD"] = password
    gateway = str(Path(sys.executable).parent / "gateway")
    args = [gateway, "demo", "--faults", "none", "--keep-serving", "--operator", "truc-ban"]
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        ready = False
        while time.monotonic() < deadline and proc.poll() is None and not ready:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.5)
        assert ready, "the demo's API did not come up"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
            answer = client.post("/ui/login", data={"username": "truc-ban", "password": password, "next": "/ui/"})
            assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
            assert client.get("/ui/").status_code == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "log in as 'truc-ban'" in out
    assert password not in out  # a password given by the operator is never echoed
