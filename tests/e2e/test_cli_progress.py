"""Long commands show count, rate and time left on a terminal, and nothing of the sort elsewhere.

Before, ``gateway ingest`` drew a bare bar (91 s for 115 k rows with no count, rate or ETA), and the
demo printed its "Delivering ━━━━" bar into logs and pipes. The terminal here is a real
pseudo-terminal (``pty``), so Rich decides as it would for an operator's shell.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

from gateway import resources

CSV = resources.bundled("examples") / "lao-cai-ktxh-2026.csv"  # long format: one record per line
MAPPING = resources.bundled("indicators") / "lao-cai-ktxh.yaml"
RECORDS = len(CSV.read_text(encoding="utf-8").splitlines()) - 1  # counted here, independently of the CLI


def environment(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"GATEWAY_DATA_DIR": str(data), "GATEWAY_LOG__FORMAT": "text", "COLUMNS": "160"})
    env.update({"TERM": "xterm-256color", "GATEWAY_NEW_PASSWORD": "mật khẩu đủ dài 2026"})
    env.pop("NO_COLOR", None)
    return env


def on_a_terminal(args: list[str], data: Path) -> tuple[int, str]:
    """Run ``gateway ARGS`` with stdin, stdout and stderr on a pseudo-terminal; everything it drew."""
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", *args], stdin=child, stdout=child, stderr=child, env=environment(data)
    )
    os.close(child)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    drawn = b"".join(chunks).decode("utf-8", "replace")
    return proc.wait(timeout=60), re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)  # the text, without colours


def piped(args: list[str], data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment(data),
        stdin=subprocess.DEVNULL,
    )


def test_ingest_on_a_terminal_shows_the_count_the_rate_and_the_time_left(tmp_path: Path) -> None:
    code, drawn = on_a_terminal(["ingest", str(CSV), "--adapter", "csv", "--mapping", str(MAPPING)], tmp_path)
    assert code == 0, drawn
    assert re.search(rf"\b[\d,]+/{RECORDS:,} records\b", drawn), drawn  # count of a known total
    assert re.search(r"\b[\d,]+ records/s\b", drawn), drawn  # rate
    assert "ETA" in drawn and re.search(r"\d+:\d\d:\d\d", drawn), drawn  # time left, elapsed
    assert f"read {RECORDS}" in drawn


def test_backup_on_a_terminal_shows_its_progress(tmp_path: Path) -> None:
    assert piped(["db", "upgrade"], tmp_path / "data").returncode == 0
    code, drawn = on_a_terminal(["backup", "create", str(tmp_path / "b")], tmp_path / "data")
    assert code == 0, drawn
    assert re.search(r"\b[\d,]+(/[\d,]+)? pages\b", drawn) and "pages/s" in drawn, drawn


def test_nothing_of_a_progress_display_reaches_a_pipe(tmp_path: Path) -> None:
    done = piped(["ingest", str(CSV), "--adapter", "csv", "--mapping", str(MAPPING)], tmp_path / "data")
    assert done.returncode == 0, done.stderr
    assert f"read {RECORDS}" in done.stdout
    backed = piped(["backup", "create", str(tmp_path / "b")], tmp_path / "data")
    assert backed.returncode == 0, backed.stderr
    for output in (done.stdout, done.stderr, backed.stdout, backed.stderr):
        assert "\r" not in output and "\x1b[" not in output, output  # no redrawn lines, no cursor moves
        assert "records/s" not in output and "pages/s" not in output and "ETA" not in output, output


def test_validate_of_many_files_on_a_terminal_counts_them(tmp_path: Path) -> None:
    packets = sorted((resources.bundled("packet-examples") / "valid").glob("*.json"))
    assert len(packets) > 3
    code, drawn = on_a_terminal(["validate", *map(str, packets)], tmp_path)
    assert code == 0, drawn
    assert re.search(rf"\b[\d,]+/{len(packets)} files\b", drawn) and "files/s" in drawn, drawn
    piped_run = piped(["validate", *map(str, packets)], tmp_path)
    assert piped_run.returncode == 0 and "files/s" not in piped_run.stdout + piped_run.stderr


def test_a_manifest_ingest_on_a_terminal_shows_files_values_rate_and_time_left(tmp_path: Path) -> None:
    """Several files read by workers: files done of the total, the values every worker has read,
    their rate and the time left; nothing of it in a pipe."""
    sources = []
    for month in (9, 10, 11):
        source = tmp_path / f"month-{month}.csv"
        source.write_text(CSV.read_text(encoding="utf-8").replace("2025-THANG-11", f"2026-THANG-{month}"), "utf-8")
        sources.append(source)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "source,adapter,mapping\n" + "".join(f"{s.name},csv,{MAPPING}\n" for s in sources), encoding="utf-8"
    )
    code, drawn = on_a_terminal(["ingest", "--manifest", str(manifest), "--workers", "2"], tmp_path / "data")
    assert code == 0, drawn
    assert re.search(r"\b[0-3]/3 files\b", drawn), drawn
    assert re.search(r"\b[\d,]+ values (-|[\d,]+) values/s\b", drawn), drawn
    assert "ETA" in drawn and re.search(r"\d+:\d\d:\d\d", drawn), drawn
    assert "3 files: 3 ingested, 0 failed" in drawn
    done = piped(["ingest", "--manifest", str(manifest)], tmp_path / "data2")
    assert done.returncode == 0, done.stderr
    assert "3 files: 3 ingested" in done.stdout
    assert "values/s" not in done.stderr and "ETA" not in done.stdout + done.stderr and "\r" not in done.stderr
