"""A received signed packet is parsed once (issue 19): the verifier's hardened parse is the one the
packet is read from, and the hostile-input defences still hold on that single parse.

``Inbound.read`` verified the signature (one parse) and then read the packet from the same bytes
(a second parse, with the duplicate-key hook and, in the verifier, a depth walk). The parser is not
replaced here: the tests count real calls of it, and feed real hostile documents through the path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import InputError, SignatureInvalid, UnsafeInputError
from gateway.packets import safe
from gateway.packets.validate import read_packet, write_packet
from gateway.signing import Inbound
from tests.support.packets import report_packet
from tests.support.signing import PROFILE, signer, verifier


def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count calls of the real parsers (each call still parses)."""
    calls = {"json": 0, "xml": 0}
    real_json, real_xml = safe.parse_json, safe.parse_xml

    def parse_json(*args: Any, **kwargs: Any) -> Any:
        calls["json"] += 1
        return real_json(*args, **kwargs)

    def parse_xml(*args: Any, **kwargs: Any) -> Any:
        calls["xml"] += 1
        return real_xml(*args, **kwargs)

    monkeypatch.setattr(safe, "parse_json", parse_json)
    monkeypatch.setattr(safe, "parse_xml", parse_xml)
    return calls


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("who", ["signer", "signer-ec"])
def test_a_signed_packet_is_parsed_once_and_read_as_sent(
    test_pki: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, who: str
) -> None:
    envelope = report_packet(values=25)
    unsigned = write_packet(envelope, fmt)  # type: ignore[arg-type]
    signed = signer(test_pki, who).sign(write_packet(envelope, fmt, canonical=True))  # type: ignore[arg-type]
    calls = counted(monkeypatch)
    packet, who_signed = Inbound(PROFILE, verifier(test_pki)).read(signed, source="test")
    assert calls[fmt] == 1, calls  # was 2: the verifier's parse, then read_packet's
    assert who_signed is not None and who_signed.unit_code == "H15"
    # (a JSON packet carries its ChuKySo in the model; the XML signature is not part of the packet)
    assert packet.model_copy(update={"signature": None}) == read_packet(unsigned, profile=PROFILE)
    assert (packet.signature is not None) == (fmt == "json")


def _with_member(signed: bytes, member: str) -> bytes:
    """``signed`` with ``member`` inserted as the envelope's first member (outside what was signed)."""
    assert signed.startswith(b"{")
    return b"{" + member.encode() + b"," + signed[1:]


def test_duplicate_keys_in_a_signed_packet_are_refused_on_the_one_parse(test_pki: Path) -> None:
    signed = signer(test_pki).sign(write_packet(report_packet(), "json", canonical=True))
    sender = json.loads(signed)["DonViGui"]
    forged = _with_member(signed, '"DonViGui":' + json.dumps({**sender, "MaDinhDanh": "B05"}))
    with pytest.raises(InputError) as caught:
        Inbound(PROFILE, verifier(test_pki)).read(forged, source="probe")
    assert "duplicate key 'DonViGui'" in str(caught.value)


def test_deep_nesting_in_a_signed_packet_is_refused_as_such_not_a_traceback(test_pki: Path) -> None:
    """The verifier parses without the depth walk; the RFC 8785 fallback (the bytes less the
    signature member no longer match) bounds the depth before it descends."""
    signed = signer(test_pki).sign(write_packet(report_packet(), "json", canonical=True))
    deep = _with_member(signed, '"X":' + "[" * 200 + "]" * 200)
    with pytest.raises(UnsafeInputError) as caught:
        verifier(test_pki).verify(deep, "probe")
    assert "nested deeper than 64 levels" in str(caught.value)
    with pytest.raises(UnsafeInputError):
        Inbound(PROFILE, verifier(test_pki)).read(deep, source="probe")
    # Far deeper than the parser's own recursion: refused by the parse, named as nesting.
    deeper = _with_member(signed, '"X":' + "[" * 100_000 + "]" * 100_000)
    with pytest.raises(UnsafeInputError):
        verifier(test_pki).verify(deeper, "probe")


def test_a_member_added_after_signing_is_tampering(test_pki: Path) -> None:
    signed = signer(test_pki).sign(write_packet(report_packet(), "json", canonical=True))
    with pytest.raises(SignatureInvalid) as caught:
        verifier(test_pki).verify(_with_member(signed, '"GhiChu":"x"'), "probe")
    assert caught.value.code == "tampered"
