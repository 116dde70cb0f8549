"""The benchmarks stay runnable: a tiny run of every script in bench/ must finish and print its figures.

The goals themselves are measured by the scripts in bench/ (docs/performance.md), never asserted
here: a timing on a shared machine is not a test. What is asserted is that each script runs to its
end and prints the readings it exists for (issue 19: two of them had crashed unnoticed).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import fresh_pg_database

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


def run_bench(script: str, *args: str, timeout: float = 300) -> str:
    """Run ``bench/<script>`` as ``make bench`` does (its own process, from the checkout) and return stdout."""
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def test_every_bench_script_is_run_by_make_bench_and_tested_here() -> None:
    """A new bench that ``run_all.py`` or this file forgets would be the next one to break silently."""
    scripts = {p.name for p in BENCH.glob("*_bench.py")}
    run_all = (BENCH / "run_all.py").read_text(encoding="utf-8")
    this = Path(__file__).read_text(encoding="utf-8")
    assert scripts, "no bench scripts found"
    assert {s for s in scripts if f'"{s}"' not in run_all} == set()
    assert {s for s in scripts if f'"{s}"' not in this} == set()


def test_the_packets_benchmark_runs_and_prints_every_reading() -> None:
    out = run_bench("packets_bench.py", "--values", "300", "--repeat", "2")
    for kind in ("JSON", "XML"):
        line = next(line for line in out.splitlines() if line.startswith(f"{kind}: build + serialise"))
        assert "x the floor" in line and "with the canonical model build" in line and "round trip" in line
    assert "300 values per packet; 2 interleaved rounds" in out


def test_the_signing_benchmark_runs_for_both_keys_and_formats() -> None:
    out = run_bench("signing_bench.py", "--values", "20", "--seconds", "0.05", "--rounds", "1", "--clock", "cpu")
    assert "0.05 s (cpu) per figure" in out
    lines = [line.split() for line in out.splitlines() if line.startswith(("RSA-2048", "ECDSA"))]
    rows = [r for r in lines if len(r) == 13]  # sign and verify
    received = [r for r in lines if len(r) == 9]  # verification given the reader's parse, a plain parse
    every = [("ECDSA", "json"), ("ECDSA", "xml"), ("RSA-2048", "json"), ("RSA-2048", "xml")]
    assert sorted((r[0], r[1]) for r in rows) == every
    assert sorted((r[0], r[1]) for r in received) == every
    for row in rows:
        assert float(row[3]) > 0 and float(row[8]) > 0 and float(row[11]) > 0  # sign/s, sig/s and full/s
    for row in received:
        assert float(row[2]) > 0 and float(row[7]) > 0 and float(row[8]) > 0  # given/s, read/s, unverified/s
        assert float(row[5]) > 0 and float(row[6].rstrip("x")) > 0  # parse/s, full against parse + floor
    assert re.search(r"^batch of 20 .* sign_many \d+ packets/s", out, re.M), out
    split = run_bench("signing_bench.py", "--values", "20", "--seconds", "0.02", "--rounds", "1", "--split")
    assert re.search(r"^  floor: RSA verify of the canonical bytes +\d+\.\d+ +1\.0$", split, re.M), split
    assert len(re.findall(r"^  full verify \(PacketVerifier\.verify\) +\d+\.\d+ +\d+\.\d$", split, re.M)) == 2, split
    assert re.search(r"worst sign/sig \d+\.\dx; full verify with its parse \d+\.\dx; .* \d+\.\dx$", out, re.M), out


def test_the_api_benchmark_serves_the_floor_and_the_gateway() -> None:
    out = run_bench("api_bench.py", "--requests", "60", "--concurrency", "2", "--values", "10", "--seconds", "1")
    assert re.search(r"^floor: bare FastAPI.* \d+ ", out, re.M), out
    assert re.search(r"^gateway: token, grant, SQL, ETag.* \d+ ", out, re.M), out
    assert re.search(r"gateway / floor throughput: \d+\.\d\d", out), out


def test_the_delivery_benchmark_delivers_every_packet() -> None:
    out = run_bench("delivery_bench.py", "--packets", "20", "--batch", "4")
    assert "simulator saw 20 unique" in out, out
    assert "ratio outbox -> acknowledged" in out


def test_the_ingest_benchmark_ingests_both_files() -> None:
    out = run_bench("ingest_bench.py", "--csv-values", "300", "--xlsx-values", "400")
    csv_line = next(line for line in out.splitlines() if line.startswith("csv "))
    xlsx_line = next(line for line in out.splitlines() if line.startswith("xlsx "))
    assert "300 values read" in csv_line and "mapped 300," in csv_line, out
    assert "values read" in xlsx_line and "quarantined 0" in xlsx_line, out
    ratio = next(line for line in out.splitlines() if line.startswith("csv ingest "))
    assert re.search(r"floor \(csv \+ Decimal, best of 3\) [\d,]+ values/s: [\d.]+% of it", ratio), out  # same run
    assert re.search(r"store alone .* [\d,]+ values/s = [\d.]+% of the floor", ratio), out


def test_the_templates_benchmark_reads_and_ingests_every_corpus_shape() -> None:
    out = run_bench("templates_bench.py")
    shapes = {p.stem for p in (BENCH.parent / "examples" / "templates").glob("*.yaml")}
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip()}
    assert shapes and shapes <= set(rows), f"shapes without a line: {shapes - set(rows)}"
    for shape in shapes:
        assert int(rows[shape][1].replace(",", "")) > 0  # values read from the workbook
    assert any(line.startswith("lao-cai sample") for line in out.splitlines())


def test_the_dashboard_benchmark_serves_every_page() -> None:
    out = run_bench("dashboard_bench.py", "--deliveries", "600")
    assert "filled 600 deliveries" in out
    assert re.search(r"^slowest page: \d+ ms$", out, re.M), out
    # The latest period: 500 packets of 5 values (issue 20 measures it at 2,000: --units 2000).
    assert re.search(r"^reconciliation of 500 packets \(2,500 lines\): cold \d+ ms \(cpu \d+\)", out, re.M), out
    assert re.search(r"^reconciliation_cold_ms=\d+ reconciliation_warm_ms=\d+$", out, re.M), out


def test_the_startup_benchmark_times_help_and_a_one_row_ingest() -> None:
    out = run_bench("startup_bench.py", "--rounds", "1")
    assert re.search(r"^gateway --help +best wall \d+\.\d\d s, best CPU \d+\.\d\d s", out, re.M), out
    assert re.search(r"^one-row ingest +best wall \d+\.\d\d s, best CPU \d+\.\d\d s", out, re.M), out
    assert re.search(r"^one-row ingest loaded \d+ modules$", out, re.M), out
    floor = re.search(r"^libraries alone best wall (\d+\.\d\d) s \(.*\): the one-row ingest is (\d+\.\d)x", out, re.M)
    assert floor and float(floor[1]) > 0 and float(floor[2]) > 0, out


def test_the_idle_worker_benchmark_reads_the_workers_cpu() -> None:
    out = run_bench("idle_worker_bench.py", "--seconds", "2", "--settle", "3", "--rounds", "1")
    share = re.search(r"^idle worker .+: median (\d+\.\d)% of a core \(each: [\d.]+\)$", out, re.M)
    # A worker that runs takes some CPU (it sweeps and polls); a figure of 0 would mean it had exited.
    assert share and 0 < float(share[1]) < 200, out


def test_the_nation_benchmark_runs_the_whole_path_and_ends_with_its_totals() -> None:
    # Four provinces x two forms: 8 reports, so the scheduler's build runs its worker processes
    # (``reports.build_workers`` = 0) and the simulator verifies packets signed in them.
    out = run_bench(
        "nation_bench.py", "--provinces", "4", "--indicators", "3", "--communes", "4", "--repeat", "2", timeout=400
    )
    # Best of N (issue 19's "best of 3"): every run's total printed, the table and totals line the fastest's.
    totals = re.search(r"2 runs, totals ([\d.]+), ([\d.]+) s: the table shows the fastest", out)
    assert totals, out
    last = out.strip().splitlines()[-1]
    match = re.fullmatch(r"total_seconds=(\d+\.\d+) values=(\d+) peak_rss_mb=(\d+)", last)
    assert match, out
    assert int(match.group(2)) == 4 * 3 * 4  # provinces x indicators x communes (two CSV, two XLSX)
    assert float(match.group(1)) == min(float(totals.group(1)), float(totals.group(2)))
    for stage in ("ingest", "build", "deliver", "total"):
        assert re.search(rf"^{stage}\b", out, re.M), out
    assert "acknowledged=" in out and "lost=0" in out, out
    # Each ratio against its floor, measured in the same run (issue 19).
    # The ingest stage is one ``gateway ingest --manifest`` process and its workers, not one per file.
    assert re.search(r"ingest: [\d,]+ values/s wall, all 48 values, one process and [12] workers", out), out
    # A tiny file's run is printed as 0.0 s: rated per worker when it took longer, said so when not.
    assert re.search(
        r"(csv files [\d,]+ values/s per worker .*floor csv \+ Decimal [\d,]+ values/s: [\d.]+% wall, "
        r"[\d.]+% per worker|csv files under 0.05 s each .*floor csv \+ Decimal [\d,]+ values/s: [\d.]+% wall)",
        out,
    ), out
    assert re.search(r"report building in-process \(8 packets, 48 values.*x the floor", out), out
    assert re.search(r"linking observations to packets [\d.]+ s and the commit [\d.]+ s, the rest", out), out


@pytest.mark.postgres
@pytest.mark.rabbitmq
def test_the_scale_out_benchmark_acknowledges_every_packet(pg_server_url: str, amqp_server_url: str) -> None:
    out = run_bench(
        "scale_out_bench.py",
        "--packets",
        "30",
        "--workers",
        "1",
        "--schedulers",
        "1",
        "--database-url",
        fresh_pg_database(pg_server_url),
        "--broker-url",
        amqp_server_url,
    )
    assert "30/30 acknowledged" in out, out
    assert "duplicated 0" in out


def test_the_validate_benchmark_lists_errors_capped_for_both_formats() -> None:
    out = run_bench("validate_bench.py", "--values", "1500", "--rounds", "1")
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("valid.", "invalid."))}
    assert set(rows) == {"valid.xml", "valid.json", "invalid.xml", "invalid.json"}, out
    assert rows["valid.xml"].endswith("errors listed 0") and rows["valid.json"].endswith("errors listed 0")
    assert rows["invalid.xml"].endswith("errors listed 1,001")  # 1,000 located, then how many more
    assert rows["invalid.json"].endswith("errors listed 1,001")
