"""KPI data (``DU_LIEU_CHI_SO``): the values of the indicators a mapping declares as KPIs (``kpis:`` in
``mappings/indicators/*.yaml``), per regime and period, from the stored observations.

One packet per regime × period × reporting unit. The first one sent for a period carries
``TrangThaiSoLieu = SO_BO`` (preliminary); every later one is a revision and carries ``CHINH_THUC``
(official): the province sends preliminary KPI values at the deadline and the official ones when
they are final (``gateway reports send-kpis --regime R --period P``, or the scheduler at each run).
The body has no revision field, so revisions are counted on the stored packets (``form_code`` KPI).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.bootstrap import Gateway
from gateway.calendar.regimes import RegimeDef, load_regime, run_for
from gateway.clock import VN_TZ, Clock, as_utc
from gateway.db.models import Observation, Packet
from gateway.errors import NotFound
from gateway.packets import model as m
from gateway.reports.queue import due_at, queue
from gateway.settings import DestinationSettings, UnitSettings
from gateway.signing.seal import Sealer
from mappings.indicators import INDICATOR_MAPPINGS_DIR, load_mapping

KPI_FORM = "KPI"
"""``form_code`` of stored KPI packets: revisions of one regime × period × unit are counted on it."""


@dataclass(frozen=True)
class BuiltKpis:
    packet_id: str
    delivery_ids: list[int]
    values: int
    figure_status: m.FigureStatus


def declared_kpis(regime_code: str, directory: Path = INDICATOR_MAPPINGS_DIR) -> set[str]:
    """National codes the mappings of ``regime_code`` declare as KPIs."""
    codes: set[str] = set()
    for path in sorted(directory.glob("*.yaml")):
        spec = load_mapping(path).spec
        if spec.regime == regime_code:
            codes.update(spec.kpis)
    return codes


def build_kpi_data(
    session: Session,
    regime: RegimeDef,
    period_key: str,
    *,
    sender: UnitSettings,
    destinations: dict[str, DestinationSettings],
    sealer: Sealer,
    clock: Clock,
    actor: str,
    kpis: set[str] | None = None,
    units: set[str] | None = None,
) -> list[BuiltKpis]:
    """One ``DU_LIEU_CHI_SO`` per reporting unit with KPI observations in the period; none without.
    ``units``: only these reporting units (the scheduler's sweep of units whose data came late)."""
    codes = declared_kpis(regime.code) if kpis is None else kpis
    if not codes:
        return []
    rows = session.scalars(
        select(Observation)
        .where(
            Observation.regime_code == regime.code,
            Observation.period_key == period_key,
            Observation.indicator_code.in_(sorted(codes)),
        )
        .order_by(Observation.id)
    ).all()
    latest: dict[tuple[str, str, str], Observation] = {}
    for obs in rows:  # the latest reading of each value wins
        latest[(obs.reporting_unit, obs.indicator_code, repr(obs.disaggregation))] = obs
    by_unit: dict[str, list[Observation]] = {}
    for (unit_code, _, _), obs in sorted(latest.items()):
        by_unit.setdefault(unit_code, []).append(obs)
    run = run_for(regime, period_key)
    out = []
    for unit_code, observations in by_unit.items():
        if units is not None and unit_code not in units:
            continue
        revision = 1 + int(
            session.scalar(
                select(func.max(Packet.revision)).where(
                    Packet.packet_type == m.PacketType.DU_LIEU_CHI_SO.value,
                    Packet.regime_code == regime.code,
                    Packet.form_code == KPI_FORM,
                    Packet.period_key == period_key,
                    Packet.reporting_unit == unit_code,
                )
            )
            or 0
        )
        status = m.FigureStatus.SO_BO if revision == 1 else m.FigureStatus.CHINH_THUC
        now = clock.now()
        local_now = now.astimezone(VN_TZ)
        unit = m.Unit(code=unit_code, name=sender.name if unit_code == sender.code else unit_code)
        envelope = m.Envelope(
            packet_id=uuid.uuid4(),
            packet_type=m.PacketType.DU_LIEU_CHI_SO,
            profile=sealer.profile.id,
            created_at=local_now,
            sender=m.Unit(code=sender.code, name=sender.name),
            receiver=unit,  # addressed per destination by queue
            body=m.KpiData(
                reporting_unit=unit,
                kpi_values=[
                    m.KpiValue(
                        kpi_code=o.indicator_code,
                        period=run.period,
                        disaggregation=[m.Disaggregation(dimension=d, value_code=v) for d, v in o.disaggregation],
                        value=o.value,
                        figure_status=status,
                        updated_at=as_utc(o.created_at).astimezone(VN_TZ),
                    )
                    for o in observations
                ],
            ),
        )
        packet, deliveries = queue(
            session,
            envelope,
            regime.destinations,
            destinations,
            sealer,
            now=now,
            value_count=len(observations),
            mapping_version=observations[0].mapping_version,
            deadline=due_at(run),
            actor=actor,
            report_key=(regime.code, KPI_FORM, period_key, revision),
            event="report.kpi_data",
            subject=f"report:{regime.code}:{KPI_FORM}:{period_key}:{unit_code}",
            detail={"revision": revision, "status": status.value, "values": len(observations)},
        )
        out.append(BuiltKpis(packet.id, [d.id for d in deliveries], len(observations), status))
    return out


def send_kpis(gw: Gateway, regime_code: str, period_key: str, *, actor: str) -> list[BuiltKpis]:
    """``gateway reports send-kpis``: the next revision of a period's KPI data (CHINH_THUC after the
    first), in one transaction with its audit event; published after commit."""
    regime = load_regime(regime_code)
    if not declared_kpis(regime.code):
        raise NotFound(f"no mapping of regime {regime.code} declares KPIs (kpis: in mappings/indicators/*.yaml)")
    run_for(regime, period_key).check_closed(gw.clock.now().astimezone(VN_TZ).date())
    with gw.sessions.begin() as session:
        built = build_kpi_data(
            session,
            regime,
            period_key,
            sender=gw.settings.sender,
            destinations=gw.settings.destinations,
            sealer=gw.sealer,
            clock=gw.clock,
            actor=actor,
        )
    if not built:
        raise NotFound(f"no observations of the KPIs of {regime.code} for {period_key}")
    gw.publish([d for b in built for d in b.delivery_ids])
    return built
