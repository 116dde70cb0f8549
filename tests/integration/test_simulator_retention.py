"""The simulator keeps a bounded number of packet bodies and counts every packet, so a soak test
measures the gateway, not the receiver's memory."""

from __future__ import annotations

import httpx
import pytest

from gateway.packets.validate import write_packet
from gateway.sim.national import DATA_PATH, Recent
from tests.conftest import SimFactory
from tests.support.packets import report_packet


def test_a_simulator_keeps_the_last_bodies_and_counts_them_all(sim_factory: SimFactory) -> None:
    sim = sim_factory(retain=3)
    packets = [report_packet(form=f"RET-{i}", values=2) for i in range(5)]
    with httpx.Client(timeout=10, trust_env=False) as client:
        for packet in packets:
            answer = client.post(
                sim.receive_url, content=write_packet(packet, "json"), headers={"content-type": "application/json"}
            )
            assert answer.status_code == 200
        stats = client.get(f"{sim.url}/sim/stats").json()
        assert stats["unique_packets"] == 5 and stats["duplicates"] == 0  # counting is not bounded
        assert stats["bodies"] == {"retain": 3, "kept": 3, "evicted": 2}
        first, last = (str(p.packet_id) for p in (packets[0], packets[-1]))
        assert client.get(sim.url + DATA_PATH.format(packet_id=first)).status_code == 404
        assert client.get(sim.url + DATA_PATH.format(packet_id=last)).status_code == 200
    assert list(sim.app.state.stats.arrivals) == [str(p.packet_id) for p in packets[2:]]
    assert list(sim.app.state.last_packets) == [str(p.packet_id) for p in packets[2:]]


def test_a_body_received_again_becomes_the_newest() -> None:
    recent = Recent(2)
    recent["a"], recent["b"] = b"1", b"2"
    recent["a"] = b"1 again"
    recent["c"] = b"3"
    assert dict(recent) == {"a": b"1 again", "c": b"3"} and recent.evicted == 1
    with pytest.raises(ValueError, match="at least one"):
        Recent(0)
