"""Catalogue packets built from what the gateway declares as data: the regimes (periods and
deadlines), the indicator mappings (indicators, their groups, disaggregation dimensions).

Ministries pull these to know which codes our reports use. They are built on request from the files
in ``mappings/`` and the working calendar, so they can never disagree with what the reports send.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from gateway.bootstrap import Gateway
from gateway.calendar.regimes import all_regimes, runs
from gateway.clock import VN_TZ
from gateway.packets import model as m
from gateway.packets.profile import Profile
from mappings.indicators import INDICATOR_MAPPINGS_DIR, IndicatorRule, MappingFile, load_mapping

CATALOGUE_TYPES = (
    m.PacketType.DANH_MUC_KY_BAO_CAO,
    m.PacketType.DANH_MUC_CHI_TIEU,
    m.PacketType.DANH_MUC_NHOM_CHI_SO,
    m.PacketType.BO_CHI_SO,
    m.PacketType.DANH_MUC_PHAN_TO,
)
DIMENSION_NAMES = {"GIOI_TINH": "Giới tính", "DVHC": "Đơn vị hành chính", "NHOM_TUOI": "Nhóm tuổi"}


def _mappings(directory: Path) -> list[MappingFile]:
    return [load_mapping(path).spec for path in sorted(directory.glob("*.yaml"))]


def build_catalogue(
    kind: m.PacketType,
    *,
    profile: Profile,
    sender: m.Unit,
    receiver: m.Unit,
    now: datetime,
    year: int | None = None,
    directory: Path = INDICATOR_MAPPINGS_DIR,
) -> m.Envelope:
    """One catalogue packet of ``kind``; raises ``KeyError`` for a type that is not a catalogue."""
    if kind not in CATALOGUE_TYPES:
        raise KeyError(kind.value)
    specs = _mappings(directory)
    body: m.Body
    if kind is m.PacketType.DANH_MUC_KY_BAO_CAO:
        chosen = year or now.astimezone(VN_TZ).year
        entries = {run.key: run for regime in all_regimes() for run in runs(regime, chosen)}
        body = m.PeriodCatalogue(
            periods=[
                m.PeriodEntry(period_key=key, period=run.period, due_date=run.deadline)
                for key, run in sorted(entries.items())
            ]
        )
    elif kind is m.PacketType.DANH_MUC_CHI_TIEU:
        body = m.IndicatorCatalogue(
            indicators=[
                m.Indicator(
                    indicator_code=rule.national_code,
                    indicator_name=rule.national_name,
                    unit=rule.national_unit,
                    data_kind=m.DataKind.SO,
                    field=spec.regime,
                    host_agency=sender.name,
                    validity=m.Validity.HIEU_LUC,
                )
                for spec in specs
                for rule in _unique(spec)
            ]
        )
    elif kind is m.PacketType.DANH_MUC_NHOM_CHI_SO:
        body = m.KpiGroupCatalogue(
            groups=[
                m.KpiGroup(group_code=code, group_name=form.name, ordinal=i)
                for i, (code, form) in enumerate(
                    sorted({code: form for spec in specs for code, form in spec.forms.items()}.items()), start=1
                )
            ]
        )
    elif kind is m.PacketType.BO_CHI_SO:
        frequency = {r.code: r.frequency for r in all_regimes()}
        body = m.KpiSet(
            kpis=[
                m.Kpi(
                    kpi_code=rule.national_code,
                    kpi_name=rule.national_name,
                    group_code=rule.form,
                    unit=rule.national_unit,
                    frequency=m.PeriodType(frequency.get(spec.regime, "THANG")),
                    applicable_dimensions=sorted(spec.disaggregations),
                    data_source=spec.description or spec.version,
                    host_agency=sender.name,
                )
                for spec in specs
                for rule in _unique(spec)
                if not spec.kpis or rule.national_code in spec.kpis  # the declared KPIs, when a mapping names them
            ]
        )
    else:
        dims: dict[str, dict[str, str]] = {}
        for spec in specs:
            for dimension, values in spec.disaggregations.items():
                dims.setdefault(dimension, {}).update({code: source for source, code in values.items()})
        body = m.DimensionCatalogue(
            dimensions=[
                m.Dimension(
                    dimension=dimension,
                    dimension_name=DIMENSION_NAMES.get(dimension, dimension),
                    values=[m.DimensionValue(value_code=c, value_name=n) for c, n in sorted(values.items())],
                )
                for dimension, values in sorted(dims.items())
            ]
        )
    return m.Envelope(
        packet_id=uuid.uuid5(uuid.NAMESPACE_URL, f"catalogue:{kind.value}:{year}:{now.date()}"),
        packet_type=kind,
        profile=profile.id,
        created_at=now.astimezone(VN_TZ),
        sender=sender,
        receiver=receiver,
        body=body,
    )


def _unique(spec: MappingFile) -> list[IndicatorRule]:
    """One entry per national code (several provincial codes may feed the same national indicator)."""
    seen: dict[str, IndicatorRule] = {}
    for rule in spec.indicators.values():
        seen.setdefault(rule.national_code, rule)
    return list(seen.values())


def publish(gw: Gateway, kind: m.PacketType, destinations: list[str], *, actor: str, year: int | None = None) -> str:
    """Send a catalogue to receivers that want it pushed (a ministry system), through the outbox:
    built from the same data as the pull API, sealed and addressed per destination; audited."""
    from gateway.reports.queue import queue
    from gateway.reports.routing import check_routes

    check_routes([("catalogue", destinations, Path("--destination"))], gw.settings.destinations)
    now = gw.clock.now()
    envelope = build_catalogue(
        kind,
        profile=gw.profile,
        sender=m.Unit(code=gw.settings.sender.code, name=gw.settings.sender.name),
        receiver=m.Unit(code=gw.settings.sender.code, name=gw.settings.sender.name),  # addressed by queue
        now=now,
        year=year,
    )
    envelope = envelope.model_copy(update={"packet_id": uuid.uuid4()})  # pushed copies are new packets
    with gw.sessions.begin() as session:
        _, deliveries = queue(
            session,
            envelope,
            destinations,
            gw.settings.destinations,
            gw.sealer,
            now=now,
            actor=actor,
            event="catalogue.pushed",
            subject=f"catalogue:{kind.value}",
            detail={"destinations": list(destinations)},
        )
        ids = [d.id for d in deliveries]
    gw.publish(ids)
    return str(envelope.packet_id)
