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

import json
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple, Protocol, TypeGuard, runtime_checkable

from sqlalchemy import ColumnElement, Text, func, select, type_coerce
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
# States as stored text, compared once per line (an enum's .value costs more than the comparison).
NEVER_GOT = (S.DEAD.value, S.CANCELLED.value)
REJECTED, RETURNED, ACKNOWLEDGED = S.REJECTED.value, S.RETURNED.value, S.ACKNOWLEDGED.value
HELD_STATES = (S.DELIVERED.value, S.ACKNOWLEDGED.value)
Key = tuple[str, str, str, str, str]  # regime, period, unit, indicator, disaggregation


@runtime_checkable
class ReceiverCopies(Protocol):
    """A destination that exposes its copy of a packet (``HttpConnector`` with ``data_url``)."""

    def fetch_copy(self, packet_id: str) -> bytes | None: ...


@dataclass(slots=True)
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


def _cuts(stored: str | bytes | Iterable[Any] | None) -> str:
    """``dis_key`` of a disaggregation column read as stored: JSON text (SQLite; most values have
    none, ``[]``, and skip the JSON parser) or the list a driver already decoded (psycopg)."""
    if stored is None or stored == "[]":
        return ""
    return dis_key(json.loads(stored) if isinstance(stored, str | bytes) else stored)


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


class SourceRow(NamedTuple):
    """The columns of an observation reconciliation reads (rows, not ORM objects: 10,000 of them)."""

    id: int
    value: str
    unit: str


class PacketRow(NamedTuple):
    id: str
    regime_code: str | None
    reporting_unit: str | None
    revision: int
    deadline: datetime | None
    payload_hash: str


class DeliveryRow(NamedTuple):
    id: int
    packet_id: str
    destination: str
    state: str
    ack_status: str | None


# Parsed figures of stored packets, by (id, payload hash): a packet's bytes never change, so a page
# that reconciles the same period again (paging, filtering, a refresh) reads no packet twice.
_FIGURES: OrderedDict[tuple[str, str], Figures] = OrderedDict()
FIGURES_CACHED = 50_000
_FIGURES_LOCK = threading.Lock()


def forget_figures() -> None:
    """Empty the parsed-figures cache (benchmarks measure a cold start with it)."""
    with _FIGURES_LOCK:
        _FIGURES.clear()


def _cached_figures(session: Session, packets: list[PacketRow], profile: Profile) -> dict[str, Figures]:
    found: dict[str, Figures] = {}
    missing: dict[str, str] = {}
    with _FIGURES_LOCK:
        for packet in packets:
            hit = _FIGURES.get((packet.id, packet.payload_hash))
            if hit is None:
                missing[packet.id] = packet.payload_hash
            else:
                _FIGURES.move_to_end((packet.id, packet.payload_hash))
                found[packet.id] = hit
    ids = list(missing)
    for start in range(0, len(ids), 500):  # only the bytes not read before, in bounded chunks
        chunk = ids[start : start + 500]
        for packet_id, payload in session.execute(select(Packet.id, Packet.payload).where(Packet.id.in_(chunk))):
            figures = _figures(payload, profile, f"packet {packet_id}")
            found[packet_id] = figures
            with _FIGURES_LOCK:
                _FIGURES[(packet_id, missing[packet_id])] = figures
                while len(_FIGURES) > FIGURES_CACHED:
                    _FIGURES.popitem(last=False)
    return found


def reconcile(
    session: Session,
    *,
    profile: Profile,
    period: str | None = None,
    regime: str | None = None,
    copies: Mapping[str, ReceiverCopies] | None = None,
) -> Reconciliation:
    """Build the reconciliation of ``regime`` (all when None) for ``period`` (latest with data when None).

    Reads plain rows of the columns it needs (not ORM objects), joins deliveries and attempts to the
    period's packets in SQL, and parses each stored packet once per process (``_cached_figures``):
    a period of 2,000 packets reconciles well under half a second (bench/dashboard_bench.py)."""
    period = period or latest_period(session, regime)
    result = Reconciliation(regime, period)
    if period is None:
        return result
    obs_query = select(
        Observation.id,
        Observation.regime_code,
        Observation.reporting_unit,
        Observation.indicator_code,
        Observation.column_code,
        type_coerce(Observation.disaggregation, Text).label("cuts"),
        Observation.value,
        Observation.unit,
    ).where(Observation.period_key == period, visible_observation())
    if regime:
        obs_query = obs_query.where(Observation.regime_code == regime)
    source: dict[Key, SourceRow] = {}
    for read in session.execute(obs_query.order_by(Observation.id)):
        indicator = value_of(read.indicator_code, read.column_code)
        key = (read.regime_code, period, read.reporting_unit, indicator, _cuts(read.cuts))
        source[key] = SourceRow(read.id, read.value, read.unit)

    in_period = [Packet.period_key == period, Packet.packet_type.in_(REPORT_TYPES)]
    if regime:
        in_period.append(Packet.regime_code == regime)
    packets = [
        PacketRow(*row)
        for row in session.execute(
            select(
                Packet.id,
                Packet.regime_code,
                Packet.reporting_unit,
                Packet.revision,
                Packet.deadline,
                Packet.payload_hash,
            )
            .where(*in_period)
            .order_by(Packet.revision, Packet.created_at)
        )
    ]
    deliveries: dict[str, list[DeliveryRow]] = {}
    if packets:
        for found in session.execute(
            select(Delivery.id, Delivery.packet_id, Delivery.destination, Delivery.state, Delivery.ack_status)
            .join(Packet, Packet.id == Delivery.packet_id)
            .where(*in_period)
        ):
            delivery = DeliveryRow(found.id, found.packet_id, found.destination, found.state, found.ack_status)
            deliveries.setdefault(delivery.packet_id, []).append(delivery)

    # The latest revision that carried each value.
    figures = _cached_figures(session, packets, profile)
    sent: dict[Key, tuple[PacketRow, str, str | None]] = {}
    for packet in packets:
        for (indicator, dis), held in figures[packet.id].items():
            key = (packet.regime_code or "", period, packet.reporting_unit or "", indicator, dis)
            if key not in sent or packet.revision >= sent[key][0].revision:
                sent[key] = (packet, held[0][0], held[0][1])

    delivered_at = _acknowledged_at(session, in_period) if packets else {}
    receiver_cache: dict[tuple[str, str], Figures | str | None] = {}
    lateness: dict[int, tuple[bool, str]] = {}
    for per_packet in deliveries.values():  # each packet's deliveries by destination, sorted once
        per_packet.sort(key=lambda d: d.destination)
    lines = result.lines
    for key in sorted(set(source) | set(sent)):  # (regime, unit, indicator, cuts): the period is one
        regime_code, _, unit_code, indicator, cuts = key
        obs = source.get(key)
        source_value, source_unit, observation_id = (obs.value, obs.unit, obs.id) if obs else (None, None, None)
        packet_value = sent.get(key)
        if packet_value is None:
            lines.append(
                Line(
                    regime_code, period, unit_code, indicator, cuts, "", source_value, source_unit,
                    None, None, None, None, None, None, None, None, None,
                    "unsent", "no report packet carried this value", observation_id,
                )
            )  # fmt: skip
            continue
        packet, value, unit = packet_value
        for delivery in deliveries.get(packet.id, ()):
            received = _receiver_value(receiver_cache, copies, delivery, packet, profile, key)
            holds: tuple[str | None, str | None] = received[0] if isinstance(received, list) else (None, None)
            verdict, note = _classify(delivery.state, value, unit, obs, received)
            if delivery.id not in lateness:  # one answer per delivery, not per line
                lateness[delivery.id] = _lateness(packet.deadline, delivered_at.get(delivery.id))
            late, late_note = lateness[delivery.id]
            lines.append(
                Line(
                    regime_code, period, unit_code, indicator, cuts, delivery.destination,
                    source_value, source_unit, value, unit, packet.id, packet.revision, delivery.id,
                    delivery.state, delivery.ack_status, holds[0], holds[1], verdict, note, observation_id,
                    late, late_note,
                )
            )  # fmt: skip
    return result


def _acknowledged_at(session: Session, in_period: list[ColumnElement[bool]]) -> dict[int, datetime]:
    """When each delivery of the period's packets first reached the receiver: its first successful
    attempt (grouped in SQL)."""
    rows = session.execute(
        select(DeliveryAttempt.delivery_id, func.min(DeliveryAttempt.started_at))
        .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
        .join(Packet, Packet.id == Delivery.packet_id)
        .where(DeliveryAttempt.outcome == "ok", *in_period)
        .group_by(DeliveryAttempt.delivery_id)
    )
    return {delivery_id: at for delivery_id, at in rows}


def _receiver_value(
    cache: dict[tuple[str, str], Figures | str | None],
    copies: Mapping[str, ReceiverCopies] | None,
    delivery: DeliveryRow,
    packet: PacketRow,
    profile: Profile,
    key: Key,
) -> list[tuple[str, str | None]] | str | None:
    """Every (value, unit) the receiver holds for the value; None when it holds no copy or not this
    value; "unknown" when it cannot be asked."""
    connector = (copies or {}).get(delivery.destination)
    if connector is None or delivery.state not in HELD_STATES:
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
    state: str | None,
    sent_value: str,
    sent_unit: str | None,
    obs: SourceRow | None,
    received: list[tuple[str, str | None]] | str | None,
) -> tuple[str, str]:
    """The value verdict of one line (``state``: the delivery's, as stored text; this runs per line)."""
    if state in NEVER_GOT:
        return "unsent", f"delivery {state}: the receiver never got it"
    if state == REJECTED:
        return "rejected", "the receiver refused the packet"
    if state == RETURNED:
        return "returned", "the receiver returned the report for correction"
    if state != ACKNOWLEDGED:
        return "pending", f"delivery {state or 'not created'}"
    if received is None:
        return "missing_at_receiver", "acknowledged, but the receiver holds no copy"
    if obs is not None and obs.unit != sent_unit and sent_unit is not None:
        return "unit_mismatch", f"source in {obs.unit}, sent in {sent_unit}"
    if isinstance(received, list) and received[0][1] != sent_unit:
        return "unit_mismatch", f"sent in {sent_unit}, receiver holds {received[0][1]}"
    if obs is not None and not _same(obs.value, sent_value):
        return "value_mismatch", "the source changed after sending: a correction (revision) is due"
    if isinstance(received, list) and not _same(received[0][0], sent_value):
        return "value_mismatch", f"sent {sent_value}, receiver holds {received[0][0]}"
    if isinstance(received, list) and len(received) > 1:
        return "duplicate", f"the receiver holds this value {len(received)} times"
    return "match", "the receiver's copy could not be read" if received == "unknown" else ""
