"""The figures of a report packet as reconciliation reads them, stored beside the packet.

Reconciliation compares, per value, the source, what was sent and what the receiver holds. "What was
sent" used to be read by parsing every stored packet of the period (``read_packet``: the hostile-input
parse and the model validation, 0.3-0.4 ms per small packet, seconds for a period of large ones), on
every cold start. Now the outbox writes each report packet's figures once, when it stores the packet
(``outbox.store`` / ``store_many``), as one row of ``packet_figures``: a compact JSON array of
``[value_of, disaggregation key, value, unit]`` in the packet's order. Reconciliation reads those rows
and never the packet bytes. A packet stored before that table existed (migration 0012) has no row; the
first reconciliation of its period parses it once and writes the row (``backfill``).

The figures are taken from the envelope the outbox is given, which is the packet whose bytes are
stored (the sealer writes the bytes from it); ``tests/integration/test_reconciliation_figures.py``
compares both readings on packets built by the product's own report path, JSON and XML.

This module is light on purpose: the outbox imports it on every store.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from gateway.packets import model as m

REPORT_TYPES = (m.PacketType.SO_LIEU_BAO_CAO.value,)
"""The packet types that carry figures reconciliation compares."""

Figures = dict[tuple[str, str], list[tuple[str, str | None]]]
"""(value_of, disaggregation key) -> every (value, unit) a packet holds for it, in packet order."""


def dis_key(pairs: Iterable[Any]) -> str:
    """A disaggregation as sorted ``DIM:VALUE`` items joined by ``;`` (empty for none)."""
    items = []
    for pair in pairs:
        if isinstance(pair, m.Disaggregation):
            items.append(f"{pair.dimension}:{pair.value_code}")
        else:
            items.append(f"{pair[0]}:{pair[1]}")
    return ";".join(sorted(items))


def value_of(indicator: str, column: object) -> str:
    """What a value is of, as lines name it: the indicator, and its form column when it has one
    (``0201/LK``: the cumulative figure of 0201, a different value from its month ``0201/TH``)."""
    return f"{indicator}/{column}" if column else indicator


def encode(envelope: m.Envelope) -> str | None:
    """The ``packet_figures.figures`` text of a packet: None when it is not a report packet."""
    body = envelope.body
    if envelope.packet_type.value not in REPORT_TYPES or not isinstance(body, m.ReportFigures):
        return None
    return json.dumps(
        [
            [
                f"{f.indicator_code}/{f.column_code}" if f.column_code else f.indicator_code,
                dis_key(f.disaggregation) if f.disaggregation else "",
                f.value,
                f.unit,
            ]
            for f in body.figures
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode(text: str) -> Figures:
    """``encode``'s text back as the mapping reconciliation looks values up in."""
    found: Figures = {}
    for indicator, cuts, value, unit in json.loads(text):
        key = (indicator, cuts)
        held = found.get(key)
        if held is None:
            found[key] = [(value, unit)]
        else:
            held.append((value, unit))
    return found
