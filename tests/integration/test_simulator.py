"""The simulator as a soak or load test needs it: it keeps a bounded number of packet bodies and
counts every packet, and it validates packets off its event loop, so what is measured is the
gateway, not the receiver's memory or a stalled peer."""

from __future__ import annotations

import threading
import time

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


def test_a_simulator_keeps_answering_while_it_validates_a_large_packet(sim_factory: SimFactory) -> None:
    """A 50,000-value packet takes the simulator a good fraction of a second to validate; that work
    runs off its event loop, so a stats request sent meanwhile is answered first."""
    sim = sim_factory()
    big = write_packet(report_packet(form="BIG", values=50_000), "json")
    done: dict[str, float] = {}

    def post() -> None:
        with httpx.Client(timeout=60, trust_env=False) as client:
            answer = client.post(sim.receive_url, content=big, headers={"content-type": "application/json"})
            assert answer.status_code == 200
        done["post"] = time.monotonic()

    sender = threading.Thread(target=post)
    sender.start()
    deadline = time.monotonic() + 30
    while sim.app.state.stats.requests == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.1)  # the body is on its way (12 MB over loopback takes milliseconds)
    with httpx.Client(timeout=60, trust_env=False) as client:
        assert client.get(f"{sim.url}/sim/stats").status_code == 200
    done["stats"] = time.monotonic()
    sender.join(timeout=60)
    assert "post" in done, "the large packet was not accepted"
    assert done["stats"] < done["post"]
