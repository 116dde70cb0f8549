"""The national simulator reads a received packet once and checks its signature on that same parse,
under one collector pause (issue 19: the simulator is the far end of every delivery benchmark).

The parser and the verifier are the real ones; the tests only count calls and look at the
collector's state while the verifier runs."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any, Literal

import pytest

from gateway.packets import safe
from gateway.packets.validate import write_packet
from gateway.signing.packets import PacketVerifier
from gateway.sim import national
from tests.support.packets import report_packet
from tests.support.signing import signer, verifier


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_signed_packet_is_parsed_once_and_verified_with_the_collector_paused(
    test_pki: Path, monkeypatch: pytest.MonkeyPatch, fmt: Literal["json", "xml"]
) -> None:
    signed = signer(test_pki).sign(write_packet(report_packet(values=40), fmt, canonical=True))
    calls = {"parse": 0}
    real = safe.parse_json if fmt == "json" else safe.parse_xml

    def parse(*args: Any, **kwargs: Any) -> Any:
        calls["parse"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(safe, "parse_json" if fmt == "json" else "parse_xml", parse)
    collector_on: list[bool] = []
    real_verify = PacketVerifier.verify

    def verify(self: PacketVerifier, *args: Any, **kwargs: Any) -> Any:
        collector_on.append(gc.isenabled())
        return real_verify(self, *args, **kwargs)

    monkeypatch.setattr(PacketVerifier, "verify", verify)
    assert gc.isenabled()
    packet, refusal = national._read_checked(signed, verifier(test_pki))
    assert refusal is None and packet.sender.code == "H15"
    assert calls["parse"] == 1
    assert collector_on == [False]  # verified inside the reader's pause, not after it
    assert gc.isenabled()  # and the pause is over


def test_a_packet_signed_and_then_altered_is_refused_with_a_reason(test_pki: Path) -> None:
    signed = signer(test_pki).sign(write_packet(report_packet(values=3), "json", canonical=True))
    doc = json.loads(signed)
    doc["NoiDung"]["SoLieu"][0]["GiaTri"] = "999"
    packet, refusal = national._read_checked(json.dumps(doc, ensure_ascii=False).encode(), verifier(test_pki))
    assert str(packet.packet_id) == doc["MaGoiTin"]
    assert refusal is not None and refusal.startswith("chữ ký số không hợp lệ")


def test_without_a_verifier_nothing_is_checked(test_pki: Path) -> None:
    unsigned = write_packet(report_packet(values=3), "json")
    packet, refusal = national._read_checked(unsigned, None)
    assert refusal is None and packet.sender.code == "H15"
