"""Digital signatures: sign what we send, verify what we receive (QCVN 125's signing rules).

- ``keys``: PKCS#12/PEM keys, passphrases from the environment or a secret file, rotation;
- ``trust``: trust anchors and CRLs from a directory, RFC 5280 path validation (pyhanko-certvalidator);
- ``xmldsig`` / ``jcs``: the two packet signature forms (enveloped XML-DSig; ``ChuKySo`` over RFC 8785);
- ``packets``: sign and verify whole packets; ``pdf``: signed PDF attachments (PAdES, pyHanko);
- ``seal``: what every outbox writer calls; ``testpki``: a throw-away PKI for tests and demos.

``Inbound`` is the one way received packet bytes become a packet: verified first when a trust store
is configured, then read with the profile's full validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.errors import SignatureInvalid
from gateway.packets import model as m
from gateway.packets.profile import Profile

if TYPE_CHECKING:  # certificate-path validation (pyhanko-certvalidator) is imported by who verifies;
    # the packet reader (lxml, jsonschema-rs) by who reads: every command bootstraps this module
    from gateway.packets.safe import Limits
    from gateway.signing.packets import PacketVerifier
    from gateway.signing.trust import Signer


@dataclass
class Inbound:
    """Reads received packets; verifies their signature first when ``verifier`` is set."""

    profile: Profile
    verifier: PacketVerifier | None = None

    def read(
        self, data: bytes, *, source: str, limits: Limits | None = None, parsed: Any = None
    ) -> tuple[m.Envelope, Signer | None]:
        """The packet and who signed it. ``parsed``: the document ``packets.safe`` already made of
        exactly ``data`` (a caller that peeked into it), so that it is parsed once in all."""
        from gateway.packets.safe import DEFAULT_LIMITS
        from gateway.packets.validate import gc_paused, read_packet

        limits = limits or DEFAULT_LIMITS
        if self.verifier is None:
            return read_packet(data, source=source, profile=self.profile, limits=limits, parsed=parsed), None
        with gc_paused():  # the verifier's parse and the reader's model: no collector passes between them
            verified = self.verifier.verify(data, source, limits=limits, parsed=parsed)
            # Read from what the verifier proved signed, from its parse of it: one parse per packet.
            packet = read_packet(
                verified.data, source=source, profile=self.profile, limits=limits, parsed=verified.document
            )
        # The sending unit as read from exactly the signed bytes must be the certificate's unit; a
        # certificate without a unit code cannot vouch for any sender.
        if verified.signer.unit_code != packet.sender.code:
            raise SignatureInvalid(
                "signer_mismatch",
                f"the certificate belongs to unit {verified.signer.unit_code or '(none)'}, "
                f"the packet says it comes from {packet.sender.code}",
                location=source,
            )
        return packet, verified.signer

    def packet(self, data: bytes, source: str) -> m.Envelope:
        return self.read(data, source=source)[0]
