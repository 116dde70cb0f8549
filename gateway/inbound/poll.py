"""The poll connector: for receivers that only publish, read their feed of packets sent to us.

Each destination with a ``poll_url`` is read every ``poll_interval`` seconds by the worker (and by
``poll_destination`` directly): the packets after the persisted cursor (``poll_cursors``) go one by
one through ``InboundService.receive`` as if the destination's receiver had posted them (its unit is
the client unit they must bind to), and the cursor moves on only after all of them were taken in or
refused, in the same order. A feed that cannot be read leaves the cursor where it was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gateway.bootstrap import Gateway
from gateway.db.models import PollCursor
from gateway.errors import ConfigurationError, GatewayError
from gateway.inbound import InboundService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Polled:
    destination: str
    received: int
    refused: int
    cursor: str | None


def poll_destination(gw: Gateway, destination: str) -> Polled:
    settings = gw.settings.destinations.get(destination)
    if settings is None or not settings.poll_url:
        raise ConfigurationError(f"destination {destination!r} has no poll_url")
    connector = gw.connectors.get(destination)
    fetch = getattr(connector, "fetch_feed", None)
    if fetch is None:
        raise ConfigurationError(f"the connector of {destination!r} cannot read a feed")
    with gw.sessions() as session:
        row = session.get(PollCursor, destination)
        cursor = row.cursor if row else None
    packets, following = fetch(cursor)
    service = InboundService(gw)
    refused = 0
    for data in packets:
        try:
            answer = service.receive(
                data, channel=f"poll:{destination}", client=f"poll:{destination}", client_unit=settings.receiver.code
            )
            refused += answer.status.value == "TU_CHOI"
        except GatewayError as exc:  # unanswerable (no MaGoiTin) or a conflicting twin: logged, not retried
            refused += 1
            log.warning("packet from the feed of %s not taken in: %s", destination, exc)
    with gw.sessions.begin() as session:
        row = session.get(PollCursor, destination)
        if row is None:
            row = PollCursor(destination=destination, received=0, polled_at=gw.clock.now())
            session.add(row)
        row.cursor, row.polled_at, row.received = following, gw.clock.now(), row.received + len(packets)
    return Polled(destination, len(packets), refused, following)
