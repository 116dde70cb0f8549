"""The poll connector: a receiver that only publishes (the simulator's feed) is read from the persisted
cursor; each packet goes through the same intake (verified, bound to that destination's receiver,
stored, proposed); reading again takes nothing twice; a feed that cannot be read keeps the cursor."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from gateway.clock import VN_TZ, FrozenClock
from gateway.db.models import InboundPacket, PollCursor, RegimeProposal
from gateway.errors import TransientDeliveryError
from gateway.inbound.poll import poll_destination
from gateway.packets.profile import load_profile
from gateway.settings import KeySettings, SigningSettings, TrustSettings
from gateway.signing.testpki import party
from gateway.sim.faults import FaultPlan
from gateway.sim.issuer import FEED_PATH
from tests.conftest import GatewayFactory, SimFactory, national_destination

US = {"code": "H15", "name": "Ủy ban nhân dân tỉnh Lào Cai"}


def test_the_feed_is_read_from_the_cursor_once(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, database_url: str, test_pki: Path
) -> None:
    signer, verifier = party(test_pki, "national", load_profile())
    sim = sim_factory(FaultPlan(), signer=signer, verifier=verifier)
    gw = gateway_factory(
        database_url=database_url,
        clock=FrozenClock(datetime.now(VN_TZ)),
        destinations={
            "national": national_destination(sim.receive_url).model_copy(update={"poll_url": f"{sim.url}{FEED_PATH}"})
        },
        signing=SigningSettings(
            keys=[KeySettings(path=test_pki / "signer.p12", passphrase_file=test_pki / "passphrase.txt")]
        ),
        trust=TrustSettings(dir=test_pki / "trust"),
    )
    for kind, fmt in (("CHE_DO_BAO_CAO", "xml"), ("BIEU_MAU_DE_CUONG", "json")):
        httpx.post(
            f"{sim.url}/sim/publish", json={"type": kind, "to": US, "format": fmt}, timeout=20
        ).raise_for_status()
    first = poll_destination(gw, "national")
    assert (first.received, first.refused, first.cursor) == (2, 0, "2")
    again = poll_destination(gw, "national")
    assert (again.received, again.cursor) == (0, "2")
    httpx.post(f"{sim.url}/sim/publish", json={"type": "BIEU_MAU_BAO_CAO", "to": US}, timeout=20).raise_for_status()
    third = poll_destination(gw, "national")
    assert (third.received, third.cursor) == (1, "3")
    with gw.sessions() as s:
        stored = sorted((r.packet_type, r.state, r.channel) for r in s.scalars(select(InboundPacket)))
        proposals = sorted(p.kind for p in s.scalars(select(RegimeProposal)))
        cursor = s.get(PollCursor, "national")
    assert stored == [
        ("BIEU_MAU_BAO_CAO", "accepted", "poll:national"),
        ("BIEU_MAU_DE_CUONG", "accepted", "poll:national"),
        ("CHE_DO_BAO_CAO", "accepted", "poll:national"),
    ]
    assert proposals == ["form", "outline", "regime"]
    assert cursor is not None and cursor.cursor == "3" and cursor.received == 3

    sim.stop()  # the feed is down: an error, and the cursor stays
    with pytest.raises(TransientDeliveryError):
        poll_destination(gw, "national")
    with gw.sessions() as s:
        kept = s.get(PollCursor, "national")
        assert kept is not None and kept.cursor == "3"


def test_the_feed_is_read_within_the_destination_rate_limit(
    gateway_factory: GatewayFactory, sim_factory: SimFactory, test_pki: Path
) -> None:
    """``rate_limit`` is the receiver's budget for every request we make to it, feed reads included:
    five reads at 2 per second take two seconds (the old connector read the feed as fast as asked)."""
    sim = sim_factory(FaultPlan())
    destination = national_destination(sim.receive_url, timeout=5.0).model_copy(
        update={"poll_url": f"{sim.url}{FEED_PATH}", "rate_limit": 2.0}
    )
    gw = gateway_factory(clock=FrozenClock(datetime.now(VN_TZ)), destinations={"national": destination})
    started = time.monotonic()
    for _ in range(5):
        assert poll_destination(gw, "national").received == 0
    elapsed = time.monotonic() - started
    assert 1.8 <= elapsed < 5.0, elapsed
    slow = destination.model_copy(update={"rate_limit": 0.2, "timeout": 0.5})  # 1 per 5 s, waiting at most 0.5 s
    gw2 = gateway_factory(clock=FrozenClock(datetime.now(VN_TZ)), destinations={"national": slow})
    poll_destination(gw2, "national")
    with pytest.raises(TransientDeliveryError, match="rate limit"):  # the next read waits past its timeout
        poll_destination(gw2, "national")
