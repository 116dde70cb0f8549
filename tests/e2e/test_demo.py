"""The demo slice end to end: workbook -> observations -> packets -> kombu -> worker -> simulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from gateway.demo import run_demo
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_demo_delivers_every_packet_through_faults(tmp_path: Path, fmt: str) -> None:
    with open(os.devnull, "w") as sink:
        result = run_demo(Settings(data_dir=tmp_path), fmt=fmt, console=Console(file=sink))
    s = result.summary
    assert result.ok
    # 10 months x 2 forms: November and December 2025 precede KTXH-THANG's start, stored and never sent
    assert s.lost == 0 and s.packets == 20 and s.acknowledged == s.deliveries == 20 and s.never_sent == 1332
    assert s.read == s.blank + s.mapped + s.quarantined and s.quarantined == 22
    assert s.retried >= 3  # the mild plan's 503, 429 and timeout each cost one retry
    faults = result.sim_stats["faults"]
    assert isinstance(faults, dict) and faults["503"] >= 1 and faults["429"] == 1 and faults["timeout"] == 1
    assert result.sim_stats["unique_packets"] == 20


@pytest.mark.slow
def test_demo_command_honours_the_data_dir_and_prints_lost_zero(tmp_path: Path) -> None:
    # A narrow terminal: the summary line stays one line (ops/ci/wheel.sh reads it with grep '^read=').
    env = {**os.environ, "GATEWAY_DATA_DIR": str(tmp_path / "one"), "COLUMNS": "60"}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "gateway"), "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (summary,) = [line for line in proc.stdout.splitlines() if line.startswith("read=")]
    assert "never_sent=1332 packets=20 acknowledged=20 " in summary and " lost=0 " in summary, summary
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "one" / "demo" / "gateway.sqlite").is_file()
    assert not (tmp_path / "data").exists()


@pytest.mark.slow
def test_heavy_faults_and_two_thousand_packets_end_with_nothing_lost(tmp_path: Path) -> None:
    with open(os.devnull, "w") as sink:
        result = run_demo(Settings(data_dir=tmp_path), fault_profile="heavy", packets=2000, console=Console(file=sink))
    s = result.summary
    assert result.ok
    assert (s.packets, s.acknowledged, s.lost) == (2000, 2000, 0)
    assert result.sim_stats["unique_packets"] == 2000
    faults = result.sim_stats["faults"]
    assert isinstance(faults, dict) and sum(v for k, v in faults.items() if k != "ok") > 300


@pytest.mark.slow
def test_run_and_sim_ministry_commands_start_and_answer(tmp_path: Path) -> None:
    import socket
    import time

    import httpx

    def free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    api_port, sim_port = free_port(), free_port()
    env = {**os.environ, "GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_API__PORT": str(api_port)}
    gateway = str(Path(sys.executable).parent / "gateway")
    logs = [tmp_path / "run.log", tmp_path / "sim.log"]
    commands = [[gateway, "run"], [gateway, "sim", "ministry", "--port", str(sim_port)]]
    procs = []
    for command, log in zip(commands, logs, strict=True):
        with log.open("wb") as out:  # the child keeps its own copy of the descriptor
            procs.append(subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT))
    try:
        # Until both answer, and /readyz says ready (a 503 while the run starts is polled again); the
        # deadline allows for a machine busy with the rest of the suite (30 s was sometimes too short).
        deadline = time.monotonic() + 90
        ready = stats = None
        while time.monotonic() < deadline and (ready is None or ready.status_code != 200 or stats is None):
            if any(proc.poll() is not None for proc in procs):
                break
            try:
                ready = httpx.get(f"http://127.0.0.1:{api_port}/readyz", timeout=5)
                stats = stats or httpx.get(f"http://127.0.0.1:{sim_port}/sim/stats", timeout=5)
            except httpx.HTTPError:
                pass
            if ready is None or ready.status_code != 200 or stats is None:
                time.sleep(0.3)
        said = "\n".join(f"{log.name}: {log.read_text(errors='replace')[-1500:]}" for log in logs)
        assert ready is not None and ready.status_code == 200, (ready and ready.text, said)
        assert stats is not None and stats.json()["requests"] == 0, said
    finally:
        for proc in procs:
            proc.terminate()
        codes = [proc.wait(timeout=20) for proc in procs]
    # Both stop on SIGTERM: `gateway run` exits 0; uvicorn re-raises the signal after a graceful shutdown.
    assert codes[0] == 0 and codes[1] in (0, -15), codes
