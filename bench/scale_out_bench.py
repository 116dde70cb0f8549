"""Benchmark: scale-out throughput. The API, N workers and M schedulers run as separate processes
against PostgreSQL and RabbitMQ (started on loopback if no URLs are given) and deliver packets to a
simulator running as its own process.

    .venv/bin/python bench/scale_out_bench.py [--packets 5000] [--workers 3] [--schedulers 2]
        [--database-url ...] [--broker-url ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.delivery_bench import start_sim
from gateway.sim.national import RECEIVE_PATH
from tests.conftest import fresh_pg_database
from tests.support import services
from tests.support.scaleout import run_scale_out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packets", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--schedulers", type=int, default=2)
    parser.add_argument("--database-url")
    parser.add_argument("--broker-url")
    args = parser.parse_args()
    started: dict[str, str] = {}
    if not (args.database_url and args.broker_url):
        started = services.start_all()
    try:
        database_url = args.database_url or fresh_pg_database(started["GATEWAY_TEST_PG_URL"])
        broker_url = args.broker_url or started["GATEWAY_TEST_AMQP_URL"]
        sim, url = start_sim()
        try:
            result = run_scale_out(
                Path(tempfile.mkdtemp(prefix="gw-scale-")),
                database_url,
                broker_url,
                f"{url}{RECEIVE_PATH}",
                f"{url}/sim/stats",
                args.packets,
                args.workers,
                args.schedulers,
            )
        finally:
            sim.terminate()
            sim.wait()
    finally:
        if started:
            services.stop_all(started)
    print(f"{args.workers} workers + {args.schedulers} schedulers + API, PostgreSQL + RabbitMQ (quorum queue)")
    print(
        f"{result.acknowledged}/{result.packets} acknowledged in {result.seconds:.1f} s = "
        f"{result.per_second:.0f} packets/s; simulator: {result.unique_received} unique of "
        f"{result.received_total} received; scheduled runs {result.scheduled_runs}, duplicated {result.duplicate_runs}"
    )


if __name__ == "__main__":
    main()
