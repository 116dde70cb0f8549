"""Run a benchmark against a throw-away PostgreSQL and RabbitMQ on loopback (the test suite's own
servers, ``tests/support/services.py``: Debian packages, temporary folders, free ports), then stop them.

    .venv/bin/python bench/with_servers.py nation_bench.py --scale 100k,1M --no-floors

runs ``taskset -c 0,1 <python> bench/nation_bench.py --database-url postgresql+psycopg://... --broker-url
amqp://... --scale 100k,1M --no-floors``. The PostgreSQL runs with ``fsync=off`` (the test suite's
setting), so its figures are an upper bound for a server that flushes to disk."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str]) -> int:
    if not argv or not argv[0].endswith(".py"):
        print("usage: bench/with_servers.py SCRIPT.py [its options]", file=sys.stderr)
        return 2
    from tests.support import services

    pg = services.start_postgres()
    try:
        rmq = services.start_rabbitmq()
        try:
            pin = ["taskset", "-c", "0,1"] if shutil.which("taskset") else []
            command = [
                *pin,
                sys.executable,
                str(ROOT / "bench" / argv[0]),
                "--database-url",
                pg["GATEWAY_TEST_PG_URL"],
                "--broker-url",
                rmq["GATEWAY_TEST_AMQP_URL"],
                *argv[1:],
            ]
            print(" ".join(command), flush=True)
            return subprocess.run(command, check=False).returncode
        finally:
            services.stop_rabbitmq(
                rmq["GATEWAY_TEST_RMQ_PID"], rmq["GATEWAY_TEST_RMQ_DIR"], rmq.get("GATEWAY_TEST_EPMD_PORT")
            )
    finally:
        services.stop_postgres(pg["GATEWAY_TEST_PG_DIR"])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
