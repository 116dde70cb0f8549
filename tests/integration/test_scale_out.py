"""Scale-out: the API, three workers and two schedulers as separate processes against PostgreSQL and
RabbitMQ (quorum queue) deliver 5,000 packets: none lost, none counted twice after deduplication."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.sim.faults import FaultPlan
from tests.conftest import SimFactory, fresh_pg_database
from tests.support.scaleout import run_scale_out

PACKETS = 5000


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.rabbitmq
def test_api_three_workers_two_schedulers_deliver_5000(
    tmp_path: Path,
    sim_factory: SimFactory,
    pg_server_url: str,
    amqp_server_url: str,
) -> None:
    sim = sim_factory(FaultPlan(p_503=0.02, seed=11))
    result = run_scale_out(
        tmp_path, fresh_pg_database(pg_server_url), amqp_server_url, sim.receive_url, f"{sim.url}/sim/stats", PACKETS
    )
    log = (tmp_path / "processes.log").read_text(errors="replace")[-3000:]
    assert result.acknowledged == PACKETS, log
    assert result.unique_received == PACKETS  # every packet, counted once after deduplication
    assert result.ready_during_run
    assert result.scheduled_runs > 0 and result.duplicate_runs == 0  # two schedulers, each run once
    print(
        f"scale-out: {PACKETS} packets in {result.seconds:.1f} s = {result.per_second:.0f} packets/s; "
        f"{result.received_total - result.unique_received} duplicate receipts absorbed by the receiver"
    )
