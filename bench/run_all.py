"""Run every benchmark in bench/, one after another, to the end, and print their figures.

    make bench            # or: .venv/bin/python bench/run_all.py [--quick]

Every script runs on the embedded default except ``scale_out_bench.py``, which starts its own
PostgreSQL and RabbitMQ on loopback (Debian's ``postgresql`` and ``rabbitmq-server``). A failing script
does not stop the others; the exit status says whether any failed, and which ones are listed at the
end. ``tests/unit/test_benchmarks.py`` checks that every ``*_bench.py`` is listed here.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

FULL = [
    ["packets_bench.py"],
    ["delivery_bench.py"],
    ["ingest_bench.py"],
    ["templates_bench.py"],
    ["signing_bench.py"],
    ["api_bench.py"],
    ["dashboard_bench.py"],
    ["scale_out_bench.py"],
    ["startup_bench.py"],
    ["idle_worker_bench.py"],
    ["validate_bench.py"],
    # The national load at a tenth of its size (a few minutes); the whole load: bench/nation_bench.py
    ["nation_bench.py", "--scale", "100k"],
]
QUICK = [
    ["packets_bench.py", "--values", "20000", "--repeat", "1"],
    ["delivery_bench.py", "--packets", "300"],
    ["ingest_bench.py", "--csv-values", "100000", "--xlsx-values", "20000"],
    ["templates_bench.py"],
    ["signing_bench.py", "--seconds", "0.5"],
    ["api_bench.py", "--seconds", "3", "--rounds", "1", "--requests", "500"],
    ["dashboard_bench.py", "--deliveries", "10000"],
    ["scale_out_bench.py", "--packets", "500"],
    ["startup_bench.py", "--rounds", "1"],
    ["idle_worker_bench.py", "--seconds", "5", "--rounds", "1"],
    ["validate_bench.py", "--values", "20000", "--rounds", "1"],
    ["nation_bench.py", "--scale", "10k"],
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    failed: list[str] = []
    for command in QUICK if args.quick else FULL:
        print(f"\n=== {' '.join(command)}", flush=True)
        started = time.monotonic()
        result = subprocess.run([sys.executable, str(HERE / command[0]), *command[1:]], check=False)
        print(f"=== {command[0]}: exit {result.returncode} in {time.monotonic() - started:.0f} s", flush=True)
        if result.returncode != 0:
            failed.append(command[0])
    print(f"\n{'failed: ' + ', '.join(failed) if failed else 'every benchmark ran to the end'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
