"""`gateway deliveries list` shows why a receiver returned or rejected a packet.

Found from outside (README walk, 2026-12-02): a returned or rejected delivery showed an empty
``last_error`` in the list (the receiver's reason is its status packet, not an error of ours), so an
operator saw the reason only by opening each delivery with ``deliveries show``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import update

from gateway.clock import FrozenClock
from gateway.db.models import Delivery
from gateway.sim.faults import FaultPlan
from tests.conftest import GatewayFactory, SimFactory, national_destination
from tests.integration.test_reconciliation import ON_TIME, VALUES, observe, send


def test_the_list_carries_the_receivers_reason_for_a_returned_delivery(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str
) -> None:
    plan = FaultPlan(script=("return",))
    sim = sim_factory(plan)
    destination = national_destination(sim.receive_url, max_attempts=5)
    gw = gateway_factory(database_url=database_url, destinations={"national": destination}, clock=FrozenClock(ON_TIME))
    observe(gw, VALUES, ON_TIME)
    ids = send(gw)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({"GATEWAY_DATA_DIR": str(gw.settings.data_dir), "GATEWAY_DATABASE__URL": database_url})
    env["COLUMNS"] = "250"

    def gateway(*args: str) -> subprocess.CompletedProcess[str]:
        command = [str(Path(sys.executable).parent / "gateway"), *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)

    listed = gateway("deliveries", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert rows[ids[0]]["state"] == "returned"
    assert rows[ids[0]]["receiver_reason"] == plan.return_reason  # the reason the receiver gave, in the list

    # Replayed, the delivery's retry budget starts again: the history numbers its attempts 1 and 2 in
    # "#", each a first try of its budget in "try" (both read "1" before, as if one attempt was shown twice).
    assert gateway("replay", str(ids[0])).returncode == 0
    with gw.sessions.begin() as s:  # the CLI's clock is today's, the test gateway's is frozen before it
        s.execute(update(Delivery).where(Delivery.id == ids[0]).values(next_attempt_at=gw.clock.now()))
    assert gw.delivery_service("t").attempt(ids[0]).outcome == "acknowledged"
    shown = gateway("deliveries", "show", str(ids[0]))
    assert shown.returncode == 0, shown.stderr
    rows = [line.split("│")[1:3] for line in shown.stdout.splitlines() if line.startswith("│")]
    assert [(place.strip(), budget.strip()) for place, budget in rows] == [("1", "1"), ("2", "1")], shown.stdout
