"""The connector port: a sender of packets. One method, typed errors, no retries inside.

Retries, backoff and circuit breaking belong to the delivery layer, which sees every attempt; a
connector makes exactly one attempt and classifies its outcome with the error tree in
``gateway.errors`` (transient, credentials, rejected).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.errors import SignatureInvalid
from gateway.packets import model as m


@dataclass(frozen=True)
class OutgoingPacket:
    packet_id: str
    idempotency_key: str
    payload: bytes
    content_type: str


@dataclass(frozen=True)
class Receipt:
    """What the receiver answered. ``status`` is its synchronous status packet, when it sent one."""

    http_status: int
    status: m.Envelope | None = None
    note: str | None = None
    signature_error: SignatureInvalid | None = None  # the answer's signature did not verify: audited


class Connector(Protocol):
    name: str

    def send(self, packet: OutgoingPacket) -> Receipt:
        """Make one delivery attempt. Raises ``DeliveryError`` subclasses on failure."""
        ...

    def poll_status(self, packet_id: str) -> m.Envelope | None:
        """The receiver's latest status packet for ``packet_id``, or None (not yet, or not pollable)."""
        ...

    def close(self) -> None: ...
