"""A signature block holds base64 of a certificate, a signature value and an RFC 3161 token, which
can carry the time-stamping authority's certificate chain: several kilobytes. The model declared
65,536 characters for them but the limit of its text type (4,000) was the one applied, by pydantic and
in the generated schemas, so a packet stamped by a TSA that includes its chain (or signed with a long
certificate) was refused by our own validator (found by review after the TSA work).

The packet is the hand-written example of ``contracts/qcvn125/examples`` with a ``ChuKySo`` added by
hand: the validator is exercised on its schema and model only (a signature check is another layer).
"""

from __future__ import annotations

import base64
import json
import os

import pytest

from gateway import resources
from gateway.errors import PacketInvalid
from gateway.packets.validate import read_packet


def _blob(length: int) -> str:
    return base64.b64encode(os.urandom(length)).decode()[:length]


def _with_signature(certificate: int, token: int) -> bytes:
    example = json.loads((resources.bundled("packet-examples") / "valid" / "SO_LIEU_BAO_CAO.json").read_bytes())
    example["ChuKySo"] = {
        "ThuatToan": "RS256",
        "ChungThu": _blob(certificate),
        "GiaTri": _blob(344),
        "DauThoiGian": _blob(token),
    }
    return json.dumps(example, ensure_ascii=False).encode()


def test_a_long_certificate_and_a_token_with_its_chain_are_valid() -> None:
    envelope = read_packet(_with_signature(certificate=6_000, token=9_000), source="hand-made")
    assert envelope.signature is not None
    assert len(envelope.signature.certificate) == 6_000 and len(envelope.signature.timestamp_token or "") == 9_000


def test_a_signature_block_past_the_limit_is_refused_naming_the_field() -> None:
    with pytest.raises(PacketInvalid, match="DauThoiGian") as refused:
        read_packet(_with_signature(certificate=2_000, token=70_000), source="hand-made")
    assert "70,000 characters, longer than 65,536" in str(refused.value) and len(str(refused.value)) < 500
