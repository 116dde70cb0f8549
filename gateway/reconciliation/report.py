"""Reconciliation: for a regime and period, each value as the source says it, as it was sent, and as
the receiver holds it, classified so an official sees at once where the numbers disagree.

One line per value (regime, period, reporting unit, indicator, disaggregation) and destination:

- **source**: the latest observation read for that value;
- **sent**: the value in the latest revision of the report packet that carried it (read from the
  stored packet bytes: what really left, not what we meant to send);
- **receiver**: the delivery's state and status, and, where the receiver exposes its copy
  (``destinations.<name>.data_url``), the value it holds.

The class is the *value verdict*, first match wins: ``unsent`` (no packet carried it, or its delivery
died), ``rejected``, ``returned``, ``pending`` (not yet acknowledged), ``missing_at_receiver``
(acknowledged, but the receiver has no copy), ``unit_mismatch`` and ``value_mismatch`` (source, sent
and received disagree), ``duplicate`` (the receiver holds the value more than once), ``match``.
Lateness is a separate fact (``late``: it reached the receiver after the deadline): a value that
arrived late but exactly as the source says is a ``match`` that was late, so "did they get the right
value?" and "did it arrive in time?" each keep their answer. (Two packets of one revision cannot
exist: the database refuses them.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, TypeGuard, runtime_checkable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.clock import as_utc
from gateway.db.models import Delivery, DeliveryAttempt, DeliveryState, Observation, Packet
from gateway.errors import DeliveryError, InputError
from gateway.ingest_runs import visible_observation
from gateway.packets import codec, safe
from gateway.packets import model as m
from gateway.packets.profile import Profile
from gateway.packets.validate import read_packet

CLASSES = (
    "match",
    "unsent",
    "pending",
    "missing_at_receiver",
    "value_mismatch",
    "unit_mismatch",
    "returned",
    "rejected",
    "duplicate",
)
REPORT_TYPES = (m.PacketType.SO_LIEU_BAO_CAO.value,)
S = DeliveryState
Key = tuple[str, str, str, str, str]  # regime, period, unit, indicator, disaggregation


@runtime_checkable
class ReceiverCopies(Protocol):
    """A destination that exposes its copy of a packet (``HttpConnector`` with ``data_url``)."""

    def fetch_copy(self, packet_id: str) -> bytes | None: ...


@dataclass
class Line:
    regime: str
    period: str
    reporting_unit: str
    indicator: str
    disaggregation: str
    destination: str
    source_value: str | None
    source_unit: str | None
    sent_value: str | None
    sent_unit: str | None
    packet_id: str | None
    revision: int | None
    delivery_id: int | None
    delivery_state: str | None
    ack_status: str | None
    receiver_value: str | None
    receiver_unit: str | None
    classification: str
    note: str = ""
    observation_id: int | None = None
    late: bool = False
    late_note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Reconciliation:
    regime: str | None
    period: str | None
    lines: list[Line] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, int]:
        """Lines per value verdict (every line counted once)."""
        counts = Counter(line.classification for line in self.lines)
        return {name: counts.get(name, 0) for name in CLASSES}

    @property
    def late(self) -> int:
        """Lines that reached the receiver after the deadline, whatever their verdict."""
        return sum(1 for line in self.lines if line.late)

    def as_json(self) -> dict[str, Any]:
        return {
            "regime": self.regime,
            "period": self.period,
            "summary": self.summary,
            "late": self.late,
            "lines": [line.as_dict() for line in self.lines],
        }


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


def _same(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a == b
    try:
        return Decimal(a) == Decimal(b)
    except InvalidOperation:
        return a == b


def latest_period(session: Session, regime: str | None = None) -> str | None:
    query = (
        select(Observation.period_key, func.max(Observation.id))
        .where(visible_observation())
        .group_by(Observation.period_key)
    )
    if regime:
        query = query.where(Observation.regime_code == regime)
    keys = [k for k, _ in session.execute(query)]
    return max(keys, key=period_order) if keys else None


def period_order(key: str) -> tuple[int, str, int]:
    year, _, rest = key.partition("-")
    kind, _, number = rest.rpartition("-")
    try:
        return int(year), kind, int(number)
    except ValueError:
        return 0, key, 0


Figures = dict[tuple[str, str], list[tuple[str, str | None]]]


def _figures(payload: bytes, profile: Profile, source: str) -> Figures:
    """(indicator, disaggregation) -> every (value, unit) a report packet holds for it."""
    packet = read_packet(payload, source=source, profile=profile)
    body = packet.body
    found: Figures = {}
    if isinstance(body, m.ReportFigures):
        for f in body.figures:
            key = (value_of(f.indicator_code, f.column_code), dis_key(f.disaggregation))
            found.setdefault(key, []).append((f.value, f.unit))
    return found


def _held(data: bytes, profile: Profile, source: str) -> Figures:
    """What a receiver's copy holds, read leniently: its copy need not pass our rules (a receiver that
    recorded a line twice is exactly what reconciliation must show, not refuse to read)."""
    if safe.sniff(data) == "json":
        wire = safe.parse_json(data, source)
    else:
        wire, _ = codec.xml_to_wire(safe.parse_xml(data, source), profile)
    canonical, _ = codec.from_wire(wire if isinstance(wire, dict) else {}, profile)
    body = canonical.get("body", {})
    figures = body.get("figures", []) if isinstance(body, dict) else None
    if not _list_of_objects(figures):
        raise InputError("the receiver's copy is not a report packet (no list of figures)", location=source)
    found: Figures = {}
    for figure in figures:
        cuts = figure.get("disaggregation", [])
        if not _list_of_objects(cuts):
            raise InputError("the receiver's copy has a figure whose disaggregation is not a list", location=source)
        pairs = [(d.get("dimension"), d.get("value_code")) for d in cuts]
        key = (value_of(str(figure.get("indicator_code")), figure.get("column_code")), dis_key(pairs))
        found.setdefault(key, []).append((str(figure.get("value")), figure.get("unit")))
    return found


def _list_of_objects(value: object) -> TypeGuard[list[dict[str, Any]]]:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def reconcile(
    session: Session,
    *,
    profile: Profile,
    period: str | None = None,
    regime: str | None = None,
    copies: Mapping[str, ReceiverCopies] | None = None,
) -> Reconciliation:
    """Build the reconciliation of ``regime`` (all when None) for ``period`` (latest with data when None)."""
    period = period or latest_period(session, regime)
    result = Reconciliation(regime, period)
    if period is None:
        return result
    obs_query = select(Observation).where(Observation.period_key == period, visible_observation())
    if regime:
        obs_query = obs_query.where(Observation.regime_code == regime)
    source: dict[Key, Observation] = {}
    for row in session.scalars(obs_query.order_by(Observation.id)):
        indicator = value_of(row.indicator_code, row.column_code)
        source[(row.regime_code, period, row.reporting_unit, indicator, dis_key(row.disaggregation))] = row

    pkt_query = select(Packet).where(Packet.period_key == period, Packet.packet_type.in_(REPORT_TYPES))
    if regime:
        pkt_query = pkt_query.where(Packet.regime_code == regime)
    packets = list(session.scalars(pkt_query.order_by(Packet.revision, Packet.created_at)))
    deliveries: dict[str, list[Delivery]] = {}
    if packets:
        for d in session.scalars(select(Delivery).where(Delivery.packet_id.in_([p.id for p in packets]))):
            deliveries.setdefault(d.packet_id, []).append(d)

    # The latest revision that carried each value.
    sent: dict[Key, tuple[Packet, str, str | None]] = {}
    for packet in packets:
        for (indicator, dis), held in _figures(packet.payload, profile, f"packet {packet.id}").items():
            key = (packet.regime_code or "", period, packet.reporting_unit or "", indicator, dis)
            if key not in sent or packet.revision >= sent[key][0].revision:
                sent[key] = (packet, held[0][0], held[0][1])

    delivered_at = _acknowledged_at(session, [d.id for ds in deliveries.values() for d in ds])
    receiver_cache: dict[tuple[str, str], Figures | str | None] = {}
    for key in sorted(set(source) | set(sent), key=lambda k: (k[0], k[2], k[3], k[4])):
        obs = source.get(key)
        packet_value = sent.get(key)
        base: dict[str, Any] = {
            "regime": key[0],
            "period": key[1],
            "reporting_unit": key[2],
            "indicator": key[3],
            "disaggregation": key[4],
            "source_value": obs.value if obs else None,
            "source_unit": obs.unit if obs else None,
            "observation_id": obs.id if obs else None,
        }
        if packet_value is None:
            result.lines.append(
                Line(
                    **base,
                    destination="",
                    sent_value=None,
                    sent_unit=None,
                    packet_id=None,
                    revision=None,
                    delivery_id=None,
                    delivery_state=None,
                    ack_status=None,
                    receiver_value=None,
                    receiver_unit=None,
                    classification="unsent",
                    note="no report packet carried this value",
                )
            )
            continue
        packet, value, unit = packet_value
        for delivery in sorted(deliveries.get(packet.id, []), key=lambda d: d.destination):
            received = _receiver_value(receiver_cache, copies, delivery, packet, profile, key)
            line = Line(
                **base,
                destination=delivery.destination,
                sent_value=value,
                sent_unit=unit,
                packet_id=packet.id,
                revision=packet.revision,
                delivery_id=delivery.id,
                delivery_state=delivery.state,
                ack_status=delivery.ack_status,
                receiver_value=received[0][0] if isinstance(received, list) else None,
                receiver_unit=received[0][1] if isinstance(received, list) else None,
                classification="",
            )
            line.classification, line.note = _classify(line, obs, received)
            line.late, line.late_note = _lateness(packet.deadline, delivered_at.get(delivery.id))
            result.lines.append(line)
    return result


def _acknowledged_at(session: Session, delivery_ids: list[int]) -> dict[int, datetime]:
    """When each delivery first reached the receiver: its first successful attempt."""
    if not delivery_ids:
        return {}
    rows = session.execute(
        select(DeliveryAttempt.delivery_id, func.min(DeliveryAttempt.started_at))
        .where(DeliveryAttempt.delivery_id.in_(delivery_ids), DeliveryAttempt.outcome == "ok")
        .group_by(DeliveryAttempt.delivery_id)
    )
    return {delivery_id: at for delivery_id, at in rows}


def _receiver_value(
    cache: dict[tuple[str, str], Figures | str | None],
    copies: Mapping[str, ReceiverCopies] | None,
    delivery: Delivery,
    packet: Packet,
    profile: Profile,
    key: Key,
) -> list[tuple[str, str | None]] | str | None:
    """Every (value, unit) the receiver holds for the value; None when it holds no copy or not this
    value; "unknown" when it cannot be asked."""
    connector = (copies or {}).get(delivery.destination)
    if connector is None or S(delivery.state) not in (S.DELIVERED, S.ACKNOWLEDGED):
        return "unknown"
    slot = (delivery.destination, packet.id)
    if slot not in cache:
        try:
            data = connector.fetch_copy(packet.id)
            where = f"{delivery.destination} copy of {packet.id}"
            cache[slot] = None if data is None else _held(data, profile, where)
        except (DeliveryError, InputError):
            cache[slot] = "unknown"
    copy = cache[slot]
    if copy is None or isinstance(copy, str):
        return copy
    found = copy.get((key[3], key[4]))
    return found if found is not None else None


def _lateness(deadline: datetime | None, delivered_at: datetime | None) -> tuple[bool, str]:
    """Whether the value reached the receiver after the deadline: a fact beside the verdict."""
    if deadline is not None and delivered_at is not None and as_utc(delivered_at) > as_utc(deadline):
        return True, f"reached the receiver {as_utc(delivered_at):%Y-%m-%d %H:%M} UTC, after the deadline"
    return False, ""


def _classify(
    line: Line,
    obs: Observation | None,
    received: list[tuple[str, str | None]] | str | None,
) -> tuple[str, str]:
    state = S(line.delivery_state) if line.delivery_state else None
    if state in (S.DEAD, S.CANCELLED):
        return "unsent", f"delivery {state.value}: the receiver never got it"
    if state is S.REJECTED:
        return "rejected", "the receiver refused the packet"
    if state is S.RETURNED:
        return "returned", "the receiver returned the report for correction"
    if state is not S.ACKNOWLEDGED:
        return "pending", f"delivery {state.value if state else 'not created'}"
    if received is None:
        return "missing_at_receiver", "acknowledged, but the receiver holds no copy"
    if obs is not None and obs.unit != line.sent_unit and line.sent_unit is not None:
        return "unit_mismatch", f"source in {obs.unit}, sent in {line.sent_unit}"
    if isinstance(received, list) and received[0][1] != line.sent_unit:
        return "unit_mismatch", f"sent in {line.sent_unit}, receiver holds {received[0][1]}"
    if obs is not None and not _same(obs.value, line.sent_value):
        return "value_mismatch", "the source changed after sending: a correction (revision) is due"
    if isinstance(received, list) and not _same(received[0][0], line.sent_value):
        return "value_mismatch", f"sent {line.sent_value}, receiver holds {received[0][0]}"
    if isinstance(received, list) and len(received) > 1:
        return "duplicate", f"the receiver holds this value {len(received)} times"
    return "match", "the receiver's copy could not be read" if received == "unknown" else ""
