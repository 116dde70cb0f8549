"""Report building streams by report key and links observations to their packet in a few statements
(issue 19): the bundled workbook's reports are built one report at a time, every observation ends up
in exactly one packet that carries its value, and no UPDATE of ``observations`` is an executemany of
one parameter set per observation (what the ORM flush did)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import event, func, select

from adapters.xlsx_templates import XlsxTemplateReader
from gateway.calendar.regimes import load_regime
from gateway.clock import VN_TZ, FrozenClock
from gateway.db.models import Observation, Packet
from gateway.demo import MAPPING, SAMPLE
from gateway.ingest import ingest
from gateway.reports import build_reports
from mappings.indicators import load_mapping
from tests.conftest import GatewayFactory, national_destination


def test_reports_link_every_observation_with_few_statements(gateway_factory: GatewayFactory, database_url: str) -> None:
    clock = FrozenClock(datetime(2026, 11, 20, 9, tzinfo=VN_TZ))
    gw = gateway_factory(
        database_url=database_url, clock=clock, destinations={"national": national_destination("http://127.0.0.1:9/")}
    )
    report = ingest(gw.sessions, XlsxTemplateReader(SAMPLE), load_mapping(MAPPING), clock, reporting_unit="H15")
    updates: list[tuple[int, bool]] = []

    def seen(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("UPDATE OBSERVATIONS"):
            updates.append((len(params) if executemany else 1, executemany))

    event.listen(gw.engine, "before_cursor_execute", seen)
    try:
        built = build_reports(
            gw.sessions,
            load_regime("KTXH-THANG"),
            sender=gw.settings.sender,
            destinations=gw.settings.destinations,
            sealer=gw.sealer,
            clock=clock,
            period_key="2026-THANG-10",
        )
    finally:
        event.remove(gw.engine, "before_cursor_execute", seen)
    assert built
    assert updates and not any(many for _, many in updates), updates  # one IN-list UPDATE per chunk
    assert len(updates) <= len(built) * 2
    with gw.sessions() as s:
        linked = s.scalar(
            select(func.count()).where(Observation.period_key == "2026-THANG-10", Observation.packet_id.isnot(None))
        )
        unlinked = s.scalar(
            select(func.count()).where(Observation.period_key == "2026-THANG-10", Observation.packet_id.is_(None))
        )
        sent = 0
        for payload, packet_id in s.execute(
            select(Packet.payload, Packet.id).where(Packet.id.in_([b.packet_id for b in built]))
        ):
            figures = json.loads(payload)["NoiDung"]["SoLieu"]
            sent += len(figures)
            mine = s.scalar(select(func.count()).where(Observation.packet_id == packet_id))
            assert mine == len(figures)  # each packet carries exactly the observations linked to it
    assert unlinked == 0 and linked == sent == sum(b.values for b in built)
    assert report.mapped >= linked
