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
    assert s.lost == 0 and s.packets == 20 and s.acknowledged == s.deliveries == 20
    assert s.read == s.blank + s.mapped + s.quarantined and s.quarantined == 22
    assert s.retried >= 3  # the mild plan's 503, 429 and timeout each cost one retry
    faults = result.sim_stats["faults"]
    assert isinstance(faults, dict) and faults["503"] >= 1 and faults["429"] == 1 and faults["timeout"] == 1
    assert result.sim_stats["unique_packets"] == 20


@pytest.mark.slow
def test_demo_command_honours_the_data_dir_and_prints_lost_zero(tmp_path: Path) -> None:
    env = {**os.environ, "GATEWAY_DATA_DIR": str(tmp_path / "one"), "COLUMNS": "120"}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "gateway"), "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "lost=0" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "one" / "demo" / "gateway.sqlite").is_file()
    assert not (tmp_path / "data").exists()
