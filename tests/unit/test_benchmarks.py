"""The benchmarks stay runnable: a tiny run of each fast one must finish and print its figures.

The goals themselves are measured by the scripts in bench/ (docs/performance.md), never asserted
here: a timing on a shared machine is not a test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_the_packets_benchmark_runs_and_prints_every_reading() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "packets_bench.py"), "--values", "300", "--repeat", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for kind in ("JSON", "XML"):
        line = next(line for line in done.stdout.splitlines() if line.startswith(f"{kind}: build + serialise"))
        assert "x the floor" in line and "with the canonical model build" in line and "round trip" in line
    assert "300 values per packet; 2 interleaved rounds" in done.stdout
