"""Converting a packet between JSON and XML, saying what becomes of its signature.

A signature is over one serialisation (RFC 8785 JSON, or the XML document with XML-DSig), so it
cannot travel to the other format. Converting a signed packet therefore either drops the signature
and says so (``X-Signature: not-carried`` over HTTP, a note on stderr from ``gateway convert``), or
signs the new bytes with a key the caller gives (``--key``). Converting to the same format returns
the bytes unchanged, signature included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.packets import safe
from gateway.packets.profile import Profile, load_profile
from gateway.packets.validate import read_packet, write_packet
from gateway.signing.packets import PacketSigner

SignatureFate = Literal["unsigned", "carried", "not-carried", "re-signed"]

DSIG = "http://www.w3.org/2000/09/xmldsig#"


@dataclass(frozen=True)
class Converted:
    payload: bytes
    fmt: safe.Format
    signature: SignatureFate


def is_signed(data: bytes, profile: Profile, source: str = "packet") -> bool:
    """Whether the packet carries a signature: ``ChuKySo`` in JSON, an enveloped XML-DSig in XML."""
    if safe.sniff(data) == "json":
        doc = safe.parse_json(data, source)
        return isinstance(doc, dict) and profile.names.get("signature", "ChuKySo") in doc
    root = safe.parse_xml(data, source)
    return root.find(f"{{{DSIG}}}{profile.signature_element}") is not None


def convert(
    data: bytes,
    to: safe.Format,
    *,
    source: str,
    profile: Profile | None = None,
    signer: PacketSigner | None = None,
) -> Converted:
    """Read (validated), and write in ``to`` (validated); the signature's fate is in the answer."""
    profile = profile or load_profile()
    signed = is_signed(data, profile, source)
    if safe.sniff(data) == to and signer is None:
        read_packet(data, source=source, profile=profile)  # still validated
        return Converted(data, to, "carried" if signed else "unsigned")
    envelope = read_packet(data, source=source, profile=profile)
    payload = write_packet(envelope.model_copy(update={"signature": None}), to, profile=profile)
    if signer is not None:
        return Converted(signer.sign(payload), to, "re-signed")
    return Converted(payload, to, "not-carried" if signed else "unsigned")
