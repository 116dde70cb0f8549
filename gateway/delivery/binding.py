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
    with no unit), ``not_the_receiver`` (DonViGui did not receive that packet), ``wrong_report`` (its
    MaCheDo, KyBaoCao, DonViBaoCao or LanGui contradict the packet it answers)."""


@dataclass(frozen=True)
class Answered:
    """What a packet we sent says of its report, for a status answering it to agree with; a None field
    is one the packet does not carry (a catalogue has no period), so nothing is compared there."""

    regime_code: str | None
    period_key: str | None
    reporting_unit: str | None
    revision: int | None


def answered(
    packet_type: str, regime_code: str | None, period_key: str | None, unit: str | None, revision: int | None
) -> Answered:
    """``Answered`` from a stored packet's columns, keeping only what its body says on the wire: a KPI
    data packet's row names its regime and revision, but its body does not, so a receiver cannot echo
    them and they are not compared."""
    try:
        fields = m.BODY_TYPES[m.PacketType(packet_type)].model_fields
    except (KeyError, ValueError):
        return Answered(None, None, None, None)
    # KPI data carries its period in each value (one period per packet, ``build_kpi_data``): compared too.
    periodic = "period" in fields or packet_type == m.PacketType.DU_LIEU_CHI_SO.value
    return Answered(
        regime_code if "regime_code" in fields else None,
        period_key if periodic else None,
        unit if "reporting_unit" in fields else None,
        revision if "revision" in fields else None,
    )


def check_answers(status: m.Envelope, packet: Answered, source: str = "") -> None:
    """Raise ``StatusUnbound`` (``wrong_report``) when the status names another report than the packet
    it answers: a ``DA_DUYET`` of revision 1 must not approve revision 2 because it quotes revision 2's
    ``MaGoiTin``, nor a status of another period or unit change this one (found from outside: such a
    status was applied). Every contradiction is named, by the field's name in the packet's profile."""
    body = status.body
    assert isinstance(body, m.StatusReport)
    said = {
        "regime_code": (body.regime_code, packet.regime_code),
        "period": (body.period.key, packet.period_key),
        "reporting_unit": (body.reporting_unit.code, packet.reporting_unit),
        "revision": (body.revision, packet.revision),
    }
    wrong = [
        f"{_wire(status, name)} is {got}, the packet's is {want}"
        for name, (got, want) in said.items()
        if want is not None and got != want
    ]
    if wrong:
        raise StatusUnbound(
            "wrong_report",
            f"the status answers packet {body.original_packet_id} but names another report: " + "; ".join(wrong),
            location=source,
        )


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


def _wire(status: m.Envelope, name: str) -> str:
    """The field's name in the status packet's own profile (the canonical name if it has none)."""
    from gateway.errors import GatewayError
    from gateway.packets.profile import load_profile

    try:
        return load_profile(status.profile).wire(m.StatusReport, name)
    except (GatewayError, OSError):
        return name


def destinations_of(unit: str, receivers: Mapping[str, str]) -> frozenset[str]:
    """The destinations whose receiver is ``unit`` (``receivers`` maps destination name -> receiver code)."""
    return frozenset(name for name, code in receivers.items() if code == unit)
