"""Run every benchmark on the embedded default, one after another, and print their figures.

    make bench            # or: .venv/bin/python bench/run_all.py [--quick]

Benchmarks that need PostgreSQL and RabbitMQ (``scale_out_bench.py``, ``delivery_bench.py`` with
``--database-url``/``--broker-url``) are run by hand against the servers of ``ops/ci/test.sh``; see
docs/performance.md.
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
    ["signing_bench.py"],
]
QUICK = [
    ["packets_bench.py", "--values", "20000", "--repeat", "1"],
    ["delivery_bench.py", "--packets", "300"],
    ["ingest_bench.py", "--csv-values", "100000", "--xlsx-values", "20000"],
    ["signing_bench.py", "--seconds", "0.5"],
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    failed = 0
    for command in QUICK if args.quick else FULL:
        print(f"\n=== {' '.join(command)}", flush=True)
        started = time.monotonic()
        result = subprocess.run([sys.executable, str(HERE / command[0]), *command[1:]], check=False)
        print(f"=== {command[0]}: exit {result.returncode} in {time.monotonic() - started:.0f} s", flush=True)
        failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
