"""Binding a status packet to the delivery it may change (issue 18, items 1 and 2).

A ``TRANG_THAI_BAO_CAO`` names the packet it answers; that alone proves nothing about who may answer.
A status changes a delivery only when one unit stands behind it all the way:

    signer's unit (certificate UID) == DonViGui == the delivery's destination receiver == the posting client's unit

and it is addressed to us (``DonViNhan`` == our ``sender.code``). Each check has its own ``code`` so a
refusal says which link broke. The checks that need the signer or the client are skipped only when
there is none to compare: an unsigned intake allowed by ``trust.require_signed_intake = false``, an
answer on our own outbound connection (the connection proves the destination), or an administrator
relaying a packet received out of band (the signature still has to bind).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.errors import SignatureInvalid
from gateway.packets import model as m


class StatusUnbound(SignatureInvalid):
    """A status packet that does not prove it comes from the receiver of the delivery it would change.

    Codes: ``misaddressed`` (not for us), ``signer_mismatch`` (certificate unit != DonViGui),
    ``client_mismatch`` (posting client speaks for another unit), ``client_unbound`` (a receiver client
    with no unit), ``not_the_receiver`` (DonViGui did not receive that packet)."""


@dataclass(frozen=True)
class StatusOrigin:
    """What the transport proved about a status packet's origin."""

    signed: bool
    """A signature was verified (``signer_unit`` is then the certificate's unit, or None if it has none)."""
    signer_unit: str | None = None
    client_unit: str | None = None
    """The posting client's unit; None on our own connection or for an administrator's relay."""
    client: str = ""


def check_origin(status: m.Envelope, origin: StatusOrigin | None, own_unit: str, source: str = "") -> None:
    """Raise ``StatusUnbound`` unless the packet is addressed to us and its signer and poster are its sender."""
    sender = status.sender.code
    if status.receiver.code != own_unit:
        raise StatusUnbound(
            "misaddressed",
            f"the status packet is addressed to {status.receiver.code}, not to us ({own_unit})",
            location=source,
        )
    if origin is None:
        return
    if origin.signed and origin.signer_unit != sender:
        raise StatusUnbound(
            "signer_mismatch",
            f"signed by unit {origin.signer_unit or '(none in the certificate)'}, but DonViGui is {sender}",
            location=source,
        )
    if origin.client_unit is not None and origin.client_unit != sender:
        raise StatusUnbound(
            "client_mismatch",
            f"{origin.client} speaks for unit {origin.client_unit}, but DonViGui is {sender}",
            location=source,
        )


def destinations_of(unit: str, receivers: Mapping[str, str]) -> frozenset[str]:
    """The destinations whose receiver is ``unit`` (``receivers`` maps destination name -> receiver code)."""
    return frozenset(name for name, code in receivers.items() if code == unit)
